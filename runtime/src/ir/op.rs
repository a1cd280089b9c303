//! The operations of the graph. `docs/language.md` §3.2 gives their formulas.

/// An operation with its attributes (shapes are on the node).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Dense {
        out: usize,
    },
    Conv2d {
        out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding2d,
        groups: usize,
    },
    /// On `[C, L]`: a conv2d of one row (`docs/language.md` §3.2).
    Conv1d {
        out: usize,
        kernel: usize,
        stride: usize,
        /// `[left, right]`.
        padding: [usize; 2],
        groups: usize,
    },
    MaxPool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding2d,
    },
    AvgPool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding2d,
    },
    /// On `[C, L]`: a maxpool2d of one row.
    MaxPool1d {
        kernel: usize,
        stride: usize,
        /// `[left, right]`.
        padding: [usize; 2],
    },
    /// On `[C, L]`: an avgpool2d of one row.
    AvgPool1d {
        kernel: usize,
        stride: usize,
        /// `[left, right]`.
        padding: [usize; 2],
    },
    Flatten,
    Relu,
    /// `y = x` where `x > 0`, else `slope·x`.
    LeakyRelu {
        slope: f64,
    },
    /// `y = min` where `x < min`, `max` where `x > max`, else `x` (`relu6` is
    /// `min = 0, max = 6`).
    Clip {
        min: f64,
        max: f64,
    },
    /// `y = max(0, min(1, alpha·x + beta))` (ONNX's `HardSigmoid`).
    HardSigmoid {
        alpha: f64,
        beta: f64,
    },
    /// `y = x · hard_sigmoid(x)` with `alpha = 1/6`, `beta = 1/2`.
    HardSwish,
    Sigmoid,
    Tanh,
    /// Over the last axis.
    Softmax,
    BatchNorm {
        eps: f64,
    },
    Add,
    /// The mean of each channel: `[C, L]` or `[C, H, W]` → `[C]`.
    GlobalAvgPool,
    /// Its operands one after another along the first axis (channels).
    Concat,
    /// `y = x + up(relu(down(x)))`, noise-free; dense for vectors, `kernel`×`kernel`
    /// convolutions (same padding) for `[C, H, W]`.
    Denoise {
        hidden: usize,
        kernel: usize,
    },
}

/// The zeros (or pad values) around a 2-D window's input, per axis (rows,
/// then columns), before and after it: `[[top, bottom], [left, right]]`.
pub type Padding2d = [[usize; 2]; 2];

/// The same padding on both sides of each axis: `[h, w]` → `[[h, h], [w, w]]`.
pub fn symmetric(padding: [usize; 2]) -> Padding2d {
    padding.map(|p| [p, p])
}

/// What hardware effects an op can carry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpClass {
    /// dense, conv1d, conv2d: every effect.
    Mac,
    /// Output noise only.
    Plain,
    /// A digital block: no effect at all.
    Digital,
}

impl Op {
    pub fn class(&self) -> OpClass {
        match self {
            Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } => OpClass::Mac,
            Op::Denoise { .. } => OpClass::Digital,
            _ => OpClass::Plain,
        }
    }

    /// Max or average pooling, 1-D or 2-D.
    pub fn is_pool(&self) -> bool {
        matches!(self, Op::MaxPool2d { .. } | Op::AvgPool2d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. })
    }

    /// Max pooling, 1-D or 2-D.
    pub fn is_max_pool(&self) -> bool {
        matches!(self, Op::MaxPool2d { .. } | Op::MaxPool1d { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Dense { .. } => "dense",
            Op::Conv1d { .. } => "conv1d",
            Op::Conv2d { .. } => "conv2d",
            Op::MaxPool2d { .. } => "maxpool2d",
            Op::AvgPool2d { .. } => "avgpool2d",
            Op::MaxPool1d { .. } => "maxpool1d",
            Op::AvgPool1d { .. } => "avgpool1d",
            Op::Flatten => "flatten",
            Op::Relu => "relu",
            Op::LeakyRelu { .. } => "leaky_relu",
            Op::Clip { .. } => "clip",
            Op::HardSigmoid { .. } => "hard_sigmoid",
            Op::HardSwish => "hard_swish",
            Op::Sigmoid => "sigmoid",
            Op::Tanh => "tanh",
            Op::Softmax => "softmax",
            Op::BatchNorm { .. } => "batchnorm",
            Op::Add => "add",
            Op::GlobalAvgPool => "globalavgpool",
            Op::Concat => "concat",
            Op::Denoise { .. } => "denoise",
        }
    }
}
