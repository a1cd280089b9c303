//! What an op needs and gives: its output shape for given input shapes, and
//! the weight tensors it reads. The compiler's checks report these rules'
//! failures with source positions; the IR verifier holds every node to them.

use super::op::{Op, Padding2d};

/// Why an op cannot take its inputs' shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The first input has the wrong rank; `wanted` says what the op takes
    /// ("a vector", "[channels, height, width]"…).
    Rank { wanted: &'static str },
    /// `groups` does not divide both the input and the output channels.
    Groups { channels: usize },
    /// A pooling window's padding on a side is more than half its kernel
    /// along `axis` (0 height, 1 width or length): a window could see only padding.
    PoolPadding { axis: usize },
    /// The kernel is larger than the padded input along `axis`.
    KernelTooLarge { axis: usize },
    /// A denoise block on `[C, H, W]` has an even kernel (same padding needs an odd one).
    EvenKernel,
    /// `add`'s operands differ in shape.
    Unequal,
    /// `concat`'s operand `operand` (from 0) differs from the first in rank
    /// or past the first axis.
    ConcatMismatch { operand: usize },
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let axis = |a: usize| ["height", "width"][a];
        match self {
            ShapeError::Rank { wanted } => write!(f, "it takes {wanted}"),
            ShapeError::Groups { channels } => {
                write!(f, "its groups must divide both its {channels} input channels and its outputs")
            }
            ShapeError::PoolPadding { axis: a } => write!(f, "its {} padding is more than half its kernel", axis(*a)),
            ShapeError::KernelTooLarge { axis: a } => write!(f, "its kernel is larger than the padded {}", axis(*a)),
            ShapeError::EvenKernel => f.write_str("its kernel is even"),
            ShapeError::Unequal => f.write_str("its operands differ"),
            ShapeError::ConcatMismatch { operand } => {
                write!(f, "its operand {operand} differs from the first past the first axis")
            }
        }
    }
}

/// A weight tensor an op reads, for an input of a given shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamShape {
    /// `weight`, `bias`, `running_mean`, `down.weight`…
    pub role: &'static str,
    pub shape: Vec<usize>,
    /// A layer may go without it (a dense or convolution layer's bias).
    pub optional: bool,
}

/// Output size of a sliding window along one axis with `[before, after]`
/// padding, or `None` if it does not fit.
fn window(size: usize, kernel: usize, stride: usize, padding: [usize; 2]) -> Option<usize> {
    let padded = size + padding[0] + padding[1];
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

const CHW: &str = "[channels, height, width]";
const CL: &str = "[channels, length]";
const VECTOR_OR_CHW: &str = "a vector or [channels, height, width]";

impl Op {
    /// How many tensors the op reads: `add` two, `concat` two or more, every
    /// other op one.
    pub fn arity(&self) -> std::ops::RangeInclusive<usize> {
        match self {
            Op::Add => 2..=2,
            Op::Concat => 2..=usize::MAX,
            _ => 1..=1,
        }
    }

    /// The shape of one sample of the op's output, given its inputs' shapes
    /// (`inputs.len()` is the op's [`arity`](Self::arity)). Conditions are
    /// tested in a fixed order and the first that fails is returned.
    ///
    /// # Panics
    /// If a stride is 0, or `groups` is 0 (the language requires at least 1).
    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let x = inputs[0];
        let rank = x.len();
        match self {
            Op::Dense { out } => {
                if rank != 1 {
                    return Err(ShapeError::Rank { wanted: "a vector" });
                }
                Ok(vec![*out])
            }
            Op::Conv2d { out, kernel, stride, padding, groups } => {
                if rank != 3 {
                    return Err(ShapeError::Rank { wanted: CHW });
                }
                if !x[0].is_multiple_of(*groups) || !out.is_multiple_of(*groups) {
                    return Err(ShapeError::Groups { channels: x[0] });
                }
                let [h, w] = spatial(self, x, *kernel, *stride, *padding)?;
                Ok(vec![*out, h, w])
            }
            Op::Conv1d { out, kernel, stride, padding, groups } => {
                if rank != 2 {
                    return Err(ShapeError::Rank { wanted: CL });
                }
                if !x[0].is_multiple_of(*groups) || !out.is_multiple_of(*groups) {
                    return Err(ShapeError::Groups { channels: x[0] });
                }
                let l = window(x[1], *kernel, *stride, *padding).ok_or(ShapeError::KernelTooLarge { axis: 1 })?;
                Ok(vec![*out, l])
            }
            Op::MaxPool2d { kernel, stride, padding } | Op::AvgPool2d { kernel, stride, padding } => {
                if rank != 3 {
                    return Err(ShapeError::Rank { wanted: CHW });
                }
                let [h, w] = spatial(self, x, *kernel, *stride, *padding)?;
                Ok(vec![x[0], h, w])
            }
            Op::MaxPool1d { kernel, stride, padding } | Op::AvgPool1d { kernel, stride, padding } => {
                if rank != 2 {
                    return Err(ShapeError::Rank { wanted: CL });
                }
                if padding.iter().any(|p| p * 2 > *kernel) {
                    return Err(ShapeError::PoolPadding { axis: 1 });
                }
                let l = window(x[1], *kernel, *stride, *padding).ok_or(ShapeError::KernelTooLarge { axis: 1 })?;
                Ok(vec![x[0], l])
            }
            Op::Flatten => Ok(vec![x.iter().product()]),
            Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Clip { .. }
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Sigmoid
            | Op::Tanh
            | Op::Softmax => Ok(x.to_vec()),
            Op::GlobalAvgPool => {
                if rank != 2 && rank != 3 {
                    return Err(ShapeError::Rank { wanted: "[channels, length] or [channels, height, width]" });
                }
                Ok(vec![x[0]])
            }
            Op::Concat => {
                let mut out = x.to_vec();
                for (operand, y) in inputs.iter().enumerate().skip(1) {
                    if y.len() != rank || y[1..] != x[1..] {
                        return Err(ShapeError::ConcatMismatch { operand });
                    }
                    out[0] += y[0];
                }
                Ok(out)
            }
            Op::BatchNorm { .. } => {
                if !(1..=3).contains(&rank) {
                    return Err(ShapeError::Rank {
                        wanted: "a vector, [channels, length] or [channels, height, width]",
                    });
                }
                Ok(x.to_vec())
            }
            Op::Denoise { kernel, .. } => {
                if rank != 1 && rank != 3 {
                    return Err(ShapeError::Rank { wanted: VECTOR_OR_CHW });
                }
                if rank == 3 && kernel % 2 == 0 {
                    return Err(ShapeError::EvenKernel);
                }
                Ok(x.to_vec())
            }
            Op::Add => {
                if inputs[0] != inputs[1] {
                    return Err(ShapeError::Unequal);
                }
                Ok(x.to_vec())
            }
        }
    }

    /// The weight tensors the op reads, in the order a node lists them, for an
    /// input of shape `input` that the op accepts.
    pub fn param_shapes(&self, input: &[usize]) -> Vec<ParamShape> {
        let needed = |role, shape| ParamShape { role, shape, optional: false };
        let bias = |out| ParamShape { role: "bias", shape: vec![out], optional: true };
        match self {
            Op::Dense { out } => vec![needed("weight", vec![*out, input[0]]), bias(*out)],
            Op::Conv2d { out, kernel, groups, .. } => {
                vec![needed("weight", vec![*out, input[0] / groups, kernel[0], kernel[1]]), bias(*out)]
            }
            Op::Conv1d { out, kernel, groups, .. } => {
                vec![needed("weight", vec![*out, input[0] / groups, *kernel]), bias(*out)]
            }
            Op::BatchNorm { .. } => ["weight", "bias", "running_mean", "running_var"]
                .into_iter()
                .map(|role| needed(role, vec![input[0]]))
                .collect(),
            Op::Denoise { hidden, kernel } => {
                let (h, c, k) = (*hidden, input[0], *kernel);
                let (down, up) =
                    if input.len() == 1 { (vec![h, c], vec![c, h]) } else { (vec![h, c, k, k], vec![c, h, k, k]) };
                vec![
                    needed("down.weight", down),
                    needed("down.bias", vec![h]),
                    needed("up.weight", up),
                    needed("up.bias", vec![c]),
                ]
            }
            _ => vec![],
        }
    }
}

/// The output height and width of a sliding-window op on `[C, H, W]`.
fn spatial(
    op: &Op,
    x: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding2d,
) -> Result<[usize; 2], ShapeError> {
    let pooling = op.is_pool();
    let mut out = [0; 2];
    for axis in 0..2 {
        if pooling && padding[axis].iter().any(|p| p * 2 > kernel[axis]) {
            return Err(ShapeError::PoolPadding { axis });
        }
        out[axis] = window(x[axis + 1], kernel[axis], stride[axis], padding[axis])
            .ok_or(ShapeError::KernelTooLarge { axis })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_output_follows_stride_padding_and_groups() {
        let conv = Op::Conv2d { out: 4, kernel: [3, 3], stride: [2, 1], padding: [[1, 1], [0, 0]], groups: 2 };
        assert_eq!(conv.output_shape(&[&[2, 7, 5]]), Ok(vec![4, 4, 3]));
        assert_eq!(conv.output_shape(&[&[3, 7, 5]]), Err(ShapeError::Groups { channels: 3 }));
        assert_eq!(conv.output_shape(&[&[2, 7, 2]]), Err(ShapeError::KernelTooLarge { axis: 1 }));
        assert_eq!(conv.param_shapes(&[2, 7, 5])[0].shape, vec![4, 1, 3, 3]);
    }

    #[test]
    fn conv1d_slides_along_the_length() {
        let conv = Op::Conv1d { out: 6, kernel: 3, stride: 2, padding: [1, 1], groups: 3 };
        assert_eq!(conv.output_shape(&[&[3, 9]]), Ok(vec![6, 5]));
        assert_eq!(conv.output_shape(&[&[4, 9]]), Err(ShapeError::Groups { channels: 4 }));
        assert_eq!(conv.output_shape(&[&[3, 0]]), Err(ShapeError::KernelTooLarge { axis: 1 }));
        assert!(matches!(conv.output_shape(&[&[3, 9, 9]]), Err(ShapeError::Rank { .. })));
        assert_eq!(conv.param_shapes(&[3, 9])[0].shape, vec![6, 1, 3]);
    }

    #[test]
    fn pooling_padding_is_at_most_half_the_kernel() {
        let pool = Op::MaxPool2d { kernel: [2, 3], stride: [2, 2], padding: [[1, 1], [2, 2]] };
        assert_eq!(pool.output_shape(&[&[1, 4, 4]]), Err(ShapeError::PoolPadding { axis: 1 }));
        let pool = Op::AvgPool2d { kernel: [2, 3], stride: [2, 2], padding: [[1, 1], [1, 1]] };
        assert_eq!(pool.output_shape(&[&[5, 4, 4]]), Ok(vec![5, 3, 2]));
        let pool = Op::MaxPool2d { kernel: [2, 3], stride: [2, 2], padding: [[0, 1], [0, 2]] };
        assert_eq!(pool.output_shape(&[&[1, 4, 4]]), Err(ShapeError::PoolPadding { axis: 1 }));
    }

    #[test]
    fn asymmetric_padding_adds_both_sides() {
        // (7 + 0 + 1 − 2)/1 + 1 = 7 rows, (5 + 2 + 1 − 3)/2 + 1 = 3 columns.
        let conv = Op::Conv2d { out: 2, kernel: [2, 3], stride: [1, 2], padding: [[0, 1], [2, 1]], groups: 1 };
        assert_eq!(conv.output_shape(&[&[1, 7, 5]]), Ok(vec![2, 7, 3]));
        let conv = Op::Conv1d { out: 2, kernel: 4, stride: 1, padding: [1, 2], groups: 1 };
        assert_eq!(conv.output_shape(&[&[1, 6]]), Ok(vec![2, 6]));
        let conv = Op::Conv1d { out: 2, kernel: 4, stride: 1, padding: [0, 1], groups: 1 };
        assert_eq!(conv.output_shape(&[&[1, 2]]), Err(ShapeError::KernelTooLarge { axis: 1 }));
    }

    #[test]
    fn one_dimensional_pooling_slides_along_the_length() {
        let pool = Op::MaxPool1d { kernel: 3, stride: 2, padding: [1, 0] };
        assert_eq!(pool.output_shape(&[&[4, 9]]), Ok(vec![4, 4]));
        let pool = Op::AvgPool1d { kernel: 2, stride: 2, padding: [0, 0] };
        assert_eq!(pool.output_shape(&[&[4, 9]]), Ok(vec![4, 4]));
        assert!(matches!(pool.output_shape(&[&[4, 9, 9]]), Err(ShapeError::Rank { .. })));
        let pool = Op::AvgPool1d { kernel: 2, stride: 2, padding: [0, 2] };
        assert_eq!(pool.output_shape(&[&[4, 9]]), Err(ShapeError::PoolPadding { axis: 1 }));
    }

    #[test]
    fn batchnorm_takes_any_rank_with_channels_first() {
        let bn = Op::BatchNorm { eps: 1e-5 };
        for shape in [&[3][..], &[3, 7], &[3, 4, 4]] {
            assert_eq!(bn.output_shape(&[shape]), Ok(shape.to_vec()));
            assert_eq!(bn.param_shapes(shape)[0].shape, vec![3]);
        }
    }

    #[test]
    fn concat_joins_channels_of_equal_planes() {
        assert_eq!(Op::Concat.output_shape(&[&[2, 4, 4], &[3, 4, 4], &[1, 4, 4]]), Ok(vec![6, 4, 4]));
        assert_eq!(Op::Concat.output_shape(&[&[2], &[5]]), Ok(vec![7]));
        let e = Op::Concat.output_shape(&[&[2, 4, 4], &[2, 4, 4], &[2, 4, 3]]);
        assert_eq!(e, Err(ShapeError::ConcatMismatch { operand: 2 }));
        assert_eq!(Op::Concat.output_shape(&[&[2, 4], &[8]]), Err(ShapeError::ConcatMismatch { operand: 1 }));
    }

    #[test]
    fn global_pooling_keeps_the_channels() {
        assert_eq!(Op::GlobalAvgPool.output_shape(&[&[5, 3, 4]]), Ok(vec![5]));
        assert_eq!(Op::GlobalAvgPool.output_shape(&[&[5, 7]]), Ok(vec![5]));
        assert!(matches!(Op::GlobalAvgPool.output_shape(&[&[5]]), Err(ShapeError::Rank { .. })));
    }

    #[test]
    fn denoise_params_follow_the_input_rank() {
        let d = Op::Denoise { hidden: 2, kernel: 3 };
        assert_eq!(d.output_shape(&[&[3, 4, 4]]), Ok(vec![3, 4, 4]));
        assert_eq!(Op::Denoise { hidden: 2, kernel: 4 }.output_shape(&[&[3, 4, 4]]), Err(ShapeError::EvenKernel));
        let shapes: Vec<_> = d.param_shapes(&[3]).into_iter().map(|p| p.shape).collect();
        assert_eq!(shapes, vec![vec![2, 3], vec![2], vec![3, 2], vec![3]]);
    }
}
