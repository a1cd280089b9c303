//! Shape inference as diagnostics. The rules are the IR's own
//! ([`Op::output_shape`]); here a failure is shown at both ends: where the
//! tensor is used and where it got its shape.

use super::ops::Op;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;
use analog_runtime::derived::window::Window;
use analog_runtime::ir::dims;
use analog_runtime::ir::op::Padding2d;
use analog_runtime::ir::shape::ShapeError;

/// A tensor argument of an op.
pub struct Operand {
    pub name: String,
    pub shape: Vec<usize>,
    /// Where the op names it.
    pub used: Span,
    /// Where it is defined.
    pub defined: Span,
}

type Result<T> = std::result::Result<T, Box<Diagnostic>>;

fn rank_error(op: &Op, x: &Operand, wanted: &str) -> Box<Diagnostic> {
    let mut d = Diagnostic::error(
        Code::RankMismatch,
        format!("`{}` expects {wanted}, but `{}` has shape {}", op.name(), x.name, dims(&x.shape)),
    )
    .primary(x.used, format!("shape {}", dims(&x.shape)))
    .secondary(x.defined, format!("`{}` gets shape {} here", x.name, dims(&x.shape)));
    if matches!(op, Op::Dense { .. }) && x.shape.len() > 1 {
        d = d.help(format!("flatten it first: `{0}_flat = flatten({0})`", x.name));
    }
    if matches!(op, Op::Conv2d { .. } | Op::MaxPool2d { .. } | Op::AvgPool2d { .. }) && x.shape.len() == 1 {
        d = d.help("reshape the input to [channels, height, width] with `reshape([c, h, w])`");
    }
    if matches!(op, Op::Conv1d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. }) && x.shape.len() == 1 {
        d = d.help("reshape the input to [channels, length] with `reshape([c, l])`");
    }
    Box::new(d)
}

/// `call` is the op's whole call; `arg(name)` the span of one of its
/// arguments, when it was written (errors point at the argument at fault).
pub fn infer(op: &Op, operands: &[Operand], call: Span, arg: impl Fn(&str) -> Option<Span>) -> Result<Vec<usize>> {
    let shapes: Vec<&[usize]> = operands.iter().map(|o| &o.shape[..]).collect();
    op.output_shape(&shapes).map_err(|e| shape_error(op, operands, e, call, arg))
}

fn shape_error(
    op: &Op,
    operands: &[Operand],
    e: ShapeError,
    call: Span,
    arg: impl Fn(&str) -> Option<Span>,
) -> Box<Diagnostic> {
    let x = &operands[0];
    let d = match e {
        ShapeError::Rank { wanted } => return rank_error(op, x, wanted),
        ShapeError::Groups { channels: c } => {
            let (Op::Conv1d { out, groups, .. } | Op::Conv2d { out, groups, .. }) = op else {
                unreachable!("only convolutions have groups")
            };
            Diagnostic::error(
                Code::GroupsMismatch,
                format!("groups = {groups} must divide both the {c} input channels and the {out} output channels"),
            )
            .primary(arg("groups").unwrap_or(call), format!("groups = {groups}"))
            .secondary(x.defined, format!("`{}` has {c} channels", x.name))
        }
        ShapeError::PoolPadding { axis } => {
            let (kernel, padding) = window_of(op);
            let widest = padding[axis].into_iter().max().unwrap_or(0);
            Diagnostic::error(
                Code::BadGeometry,
                format!("padding {widest} is more than half the kernel {}", kernel[axis]),
            )
            .primary(call, "pooling window would see only padding")
        }
        ShapeError::KernelTooLarge { axis } => {
            let (kernel, padding) = window_of(op);
            let one_d = matches!(op, Op::Conv1d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. });
            let (axis_name, size) =
                if one_d { ("length", x.shape[1]) } else { (["height", "width"][axis], x.shape[axis + 1]) };
            let label =
                if one_d { format!("kernel {}", kernel[1]) } else { format!("kernel {}×{}", kernel[0], kernel[1]) };
            Diagnostic::error(
                Code::BadGeometry,
                format!(
                    "kernel {} is larger than the padded {axis_name} {} of `{}`",
                    kernel[axis],
                    size + padding[axis][0] + padding[axis][1],
                    x.name
                ),
            )
            .primary(arg("kernel").unwrap_or(call), label)
            .secondary(x.defined, format!("`{}` has shape {}", x.name, dims(&x.shape)))
        }
        ShapeError::EvenKernel => {
            let Op::Denoise { kernel, .. } = op else { unreachable!("only denoise blocks need an odd kernel") };
            Diagnostic::error(Code::BadGeometry, format!("a denoise block's kernel must be odd, found {kernel}"))
                .primary(arg("kernel").unwrap_or(call), "even kernel")
                .note("the block keeps the input's size, which needs (kernel − 1)/2 padding on each side")
        }
        ShapeError::Unequal => {
            let y = &operands[1];
            Diagnostic::error(
                Code::ShapeMismatch,
                format!("`add` needs equal shapes, found {} and {}", dims(&x.shape), dims(&y.shape)),
            )
            .primary(call, "shapes differ")
            .secondary(x.defined, format!("`{}` has shape {}", x.name, dims(&x.shape)))
            .secondary(y.defined, format!("`{}` has shape {}", y.name, dims(&y.shape)))
        }
        ShapeError::ConcatMismatch { operand } => {
            let y = &operands[operand];
            Diagnostic::error(
                Code::ShapeMismatch,
                format!(
                    "`concat` joins along the first axis and needs the others equal, found {} and {}",
                    dims(&x.shape),
                    dims(&y.shape)
                ),
            )
            .primary(y.used, format!("shape {}", dims(&y.shape)))
            .secondary(x.defined, format!("`{}` has shape {}", x.name, dims(&x.shape)))
            .secondary(y.defined, format!("`{}` has shape {}", y.name, dims(&y.shape)))
        }
    };
    Box::new(d)
}

/// A sliding-window op's kernel and padding (a 1-D op's as one row).
fn window_of(op: &Op) -> ([usize; 2], Padding2d) {
    let w = Window::of(op).expect("only sliding-window ops have windows");
    (w.kernel, w.padding)
}

/// Sizes one sample needs: the layer's output, and for a MAC layer its
/// fan-in times its outputs (the multiply-accumulates, allowed ten times the
/// element limit) and for a conv its patches (positions × fan-in values, the
/// im2col rows a backend builds). Checked arithmetic: nothing overflows.
pub fn size(name: &str, op: &Op, x_shape: &[usize], shape: &[usize], call: Span, max: u64) -> Result<()> {
    let count = |s: &[usize]| s.iter().try_fold(1u64, |n, d| n.checked_mul(*d as u64));
    let out = count(shape);
    if out.is_none_or(|n| n > max) {
        return Err(Box::new(too_large(&format!("`{name}`"), shape, out, max, call)));
    }
    let fan_in = match op {
        Op::Dense { .. } => count(x_shape),
        Op::Conv2d { kernel, groups, .. } => {
            x_shape.first().and_then(|c| count(&[c / groups.max(&1), kernel[0], kernel[1]]))
        }
        Op::Conv1d { kernel, groups, .. } => x_shape.first().and_then(|c| count(&[c / groups.max(&1), *kernel])),
        _ => return Ok(()),
    };
    let positions = shape.get(1..).and_then(count).unwrap_or(1);
    let patches = fan_in.and_then(|k| k.checked_mul(positions));
    if matches!(op, Op::Conv1d { .. } | Op::Conv2d { .. }) && patches.is_none_or(|n| n > max) {
        let what = format!(
            "`{name}`'s patches ({} positions × fan-in {})",
            positions,
            fan_in.map_or("overflow".into(), |k| k.to_string())
        );
        return Err(Box::new(too_large(&what, &[], patches, max, call)));
    }
    let macs = fan_in.and_then(|k| k.checked_mul(out.unwrap_or(u64::MAX)));
    if macs.is_none_or(|n| n > max.saturating_mul(10)) {
        return Err(Box::new(
            Diagnostic::error(
                Code::TooLarge,
                format!(
                    "`{name}` takes {} multiply-accumulates per sample, more than the limit of {}",
                    macs.map_or("more than 2^64".into(), |n| n.to_string()),
                    max.saturating_mul(10)
                ),
            )
            .primary(call, "too large to run")
            .help("raise the limit with `--max-elements N` (ten times N multiply-accumulates) on a machine that can hold it"),
        ));
    }
    Ok(())
}

/// `what` (of `shape`, when there is one) holds `count` values, over `max`.
pub fn too_large(what: &str, shape: &[usize], count: Option<u64>, max: u64, at: Span) -> Diagnostic {
    let shape = if shape.is_empty() { String::new() } else { format!(" {}", dims(shape)) };
    Diagnostic::error(
        Code::TooLarge,
        format!(
            "{what}{shape} holds {} values per sample, more than the limit of {max} ({} MiB of f32)",
            count.map_or("more than 2^64".into(), |n| n.to_string()),
            max.saturating_mul(4) >> 20
        ),
    )
    .primary(at, "too large to run")
    .help("raise the limit with `--max-elements N` on a machine that can hold it")
}
