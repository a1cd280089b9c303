//! Shape inference as diagnostics. The rules are the IR's own
//! ([`Op::output_shape`]); here a failure is shown at both ends: where the
//! tensor is used and where it got its shape.

use super::ops::Op;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;
use analog_runtime::ir::dims;
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
            let Op::Conv2d { out, groups, .. } = op else { unreachable!("only conv2d has groups") };
            Diagnostic::error(
                Code::GroupsMismatch,
                format!("groups = {groups} must divide both the {c} input channels and the {out} output channels"),
            )
            .primary(arg("groups").unwrap_or(call), format!("groups = {groups}"))
            .secondary(x.defined, format!("`{}` has {c} channels", x.name))
        }
        ShapeError::PoolPadding { axis } => {
            let (kernel, padding) = window_of(op);
            Diagnostic::error(
                Code::BadGeometry,
                format!("padding {} is more than half the kernel {}", padding[axis], kernel[axis]),
            )
            .primary(call, "pooling window would see only padding")
        }
        ShapeError::KernelTooLarge { axis } => {
            let (kernel, padding) = window_of(op);
            let axis_name = ["height", "width"][axis];
            Diagnostic::error(
                Code::BadGeometry,
                format!(
                    "kernel {} is larger than the padded {axis_name} {} of `{}`",
                    kernel[axis],
                    x.shape[axis + 1] + 2 * padding[axis],
                    x.name
                ),
            )
            .primary(arg("kernel").unwrap_or(call), format!("kernel {}×{}", kernel[0], kernel[1]))
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
    };
    Box::new(d)
}

/// A sliding-window op's kernel and padding.
fn window_of(op: &Op) -> ([usize; 2], [usize; 2]) {
    match op {
        Op::Conv2d { kernel, padding, .. }
        | Op::MaxPool2d { kernel, padding, .. }
        | Op::AvgPool2d { kernel, padding, .. } => (*kernel, *padding),
        _ => unreachable!("only sliding-window ops have windows"),
    }
}
