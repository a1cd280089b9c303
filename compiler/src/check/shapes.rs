//! Shape inference, one op at a time. A mismatch is shown at both ends: where
//! the tensor is used and where it got its shape.

use super::ops::Op;
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

/// A tensor argument of an op.
pub struct Operand {
    pub name: String,
    pub shape: Vec<usize>,
    /// Where the op names it.
    pub used: Span,
    /// Where it is defined.
    pub defined: Span,
}

pub fn show(shape: &[usize]) -> String {
    format!("[{}]", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

type Result<T> = std::result::Result<T, Box<Diagnostic>>;

fn rank_error(op: &Op, x: &Operand, wanted: &str) -> Box<Diagnostic> {
    let mut d = Diagnostic::error(
        Code::RankMismatch,
        format!("`{}` expects {wanted}, but `{}` has shape {}", op.name(), x.name, show(&x.shape)),
    )
    .primary(x.used, format!("shape {}", show(&x.shape)))
    .secondary(x.defined, format!("`{}` gets shape {} here", x.name, show(&x.shape)));
    if matches!(op, Op::Dense { .. }) && x.shape.len() > 1 {
        d = d.help(format!("flatten it first: `{0}_flat = flatten({0})`", x.name));
    }
    if matches!(op, Op::Conv2d { .. } | Op::MaxPool2d { .. } | Op::AvgPool2d { .. }) && x.shape.len() == 1 {
        d = d.help("reshape the input to [channels, height, width] with `reshape([c, h, w])`");
    }
    Box::new(d)
}

/// Output size of a sliding window along one axis, or `None` if it does not fit.
fn window(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = size + 2 * padding;
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

fn spatial(
    op: &Op,
    x: &Operand,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    call: Span,
    arg: &impl Fn(&str) -> Option<Span>,
) -> Result<[usize; 2]> {
    let mut out = [0; 2];
    for axis in 0..2 {
        let size = x.shape[axis + 1];
        if matches!(op, Op::MaxPool2d { .. } | Op::AvgPool2d { .. }) && padding[axis] * 2 > kernel[axis] {
            return Err(Box::new(
                Diagnostic::error(
                    Code::BadGeometry,
                    format!("padding {} is more than half the kernel {}", padding[axis], kernel[axis]),
                )
                .primary(call, "pooling window would see only padding"),
            ));
        }
        match window(size, kernel[axis], stride[axis], padding[axis]) {
            Some(n) => out[axis] = n,
            None => {
                let axis_name = ["height", "width"][axis];
                return Err(Box::new(
                    Diagnostic::error(
                        Code::BadGeometry,
                        format!(
                            "kernel {} is larger than the padded {axis_name} {} of `{}`",
                            kernel[axis],
                            size + 2 * padding[axis],
                            x.name
                        ),
                    )
                    .primary(arg("kernel").unwrap_or(call), format!("kernel {}×{}", kernel[0], kernel[1]))
                    .secondary(x.defined, format!("`{}` has shape {}", x.name, show(&x.shape))),
                ));
            }
        }
    }
    Ok(out)
}

/// `call` is the op's whole call; `arg(name)` the span of one of its
/// arguments, when it was written (errors point at the argument at fault).
pub fn infer(op: &Op, operands: &[Operand], call: Span, arg: impl Fn(&str) -> Option<Span>) -> Result<Vec<usize>> {
    let x = &operands[0];
    let rank = x.shape.len();
    match op {
        Op::Dense { out } => {
            if rank != 1 {
                return Err(rank_error(op, x, "a vector"));
            }
            Ok(vec![*out])
        }
        Op::Conv2d { out, kernel, stride, padding, groups } => {
            if rank != 3 {
                return Err(rank_error(op, x, "[channels, height, width]"));
            }
            let c = x.shape[0];
            if !c.is_multiple_of(*groups) || out % groups != 0 {
                return Err(Box::new(
                    Diagnostic::error(
                        Code::GroupsMismatch,
                        format!(
                            "groups = {groups} must divide both the {c} input channels and the {out} output channels"
                        ),
                    )
                    .primary(arg("groups").unwrap_or(call), format!("groups = {groups}"))
                    .secondary(x.defined, format!("`{}` has {c} channels", x.name)),
                ));
            }
            let [h, w] = spatial(op, x, *kernel, *stride, *padding, call, &arg)?;
            Ok(vec![*out, h, w])
        }
        Op::MaxPool2d { kernel, stride, padding } | Op::AvgPool2d { kernel, stride, padding } => {
            if rank != 3 {
                return Err(rank_error(op, x, "[channels, height, width]"));
            }
            let [h, w] = spatial(op, x, *kernel, *stride, *padding, call, &arg)?;
            Ok(vec![x.shape[0], h, w])
        }
        Op::Flatten => Ok(vec![x.shape.iter().product()]),
        Op::Relu | Op::Sigmoid | Op::Tanh | Op::Softmax => Ok(x.shape.clone()),
        Op::BatchNorm { .. } => {
            if rank != 1 && rank != 3 {
                return Err(rank_error(op, x, "a vector or [channels, height, width]"));
            }
            Ok(x.shape.clone())
        }
        Op::Denoise { kernel, .. } => {
            if rank != 1 && rank != 3 {
                return Err(rank_error(op, x, "a vector or [channels, height, width]"));
            }
            if rank == 3 && kernel % 2 == 0 {
                return Err(Box::new(
                    Diagnostic::error(
                        Code::BadGeometry,
                        format!("a denoise block's kernel must be odd, found {kernel}"),
                    )
                    .primary(arg("kernel").unwrap_or(call), "even kernel")
                    .note("the block keeps the input's size, which needs (kernel − 1)/2 padding on each side"),
                ));
            }
            Ok(x.shape.clone())
        }
        Op::Add => {
            let y = &operands[1];
            if x.shape != y.shape {
                return Err(Box::new(
                    Diagnostic::error(
                        Code::ShapeMismatch,
                        format!("`add` needs equal shapes, found {} and {}", show(&x.shape), show(&y.shape)),
                    )
                    .primary(call, "shapes differ")
                    .secondary(x.defined, format!("`{}` has shape {}", x.name, show(&x.shape)))
                    .secondary(y.defined, format!("`{}` has shape {}", y.name, show(&y.shape))),
                ));
            }
            Ok(x.shape.clone())
        }
    }
}
