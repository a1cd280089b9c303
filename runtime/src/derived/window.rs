//! Sliding windows (pooling, convolutions) and the per-element constants of
//! the plain ops (`docs/language.md` §3.2). Layouts are row-major `[c, h, w]`.

use crate::ir::op::Padding2d;
use crate::ir::Op;

/// Output size of a sliding window along one axis with `[before, after]` padding.
///
/// # Panics
/// If `stride` is 0 or `kernel` exceeds the padded size (`interp::check`
/// rejects both).
pub fn window(size: usize, kernel: usize, stride: usize, padding: [usize; 2]) -> usize {
    (size + padding[0] + padding[1] - kernel) / stride + 1
}

/// A 2-D sliding window: per axis (rows, columns), its size, step and the
/// zeros (or pad values) before and after the input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: Padding2d,
}

impl Window {
    /// The window of a convolution or pooling op; a 1-D op's is one row
    /// over the [`plane`] of its input.
    pub fn of(op: &Op) -> Option<Window> {
        let row =
            |kernel, stride, padding| Window { kernel: [1, kernel], stride: [1, stride], padding: [[0, 0], padding] };
        match *op {
            Op::Conv1d { kernel, stride, padding, .. }
            | Op::MaxPool1d { kernel, stride, padding }
            | Op::AvgPool1d { kernel, stride, padding } => Some(row(kernel, stride, padding)),
            Op::Conv2d { kernel, stride, padding, .. }
            | Op::MaxPool2d { kernel, stride, padding }
            | Op::AvgPool2d { kernel, stride, padding } => Some(Window { kernel, stride, padding }),
            _ => None,
        }
    }

    /// Output rows and columns over an `h × w` plane.
    pub fn out(&self, h: usize, w: usize) -> [usize; 2] {
        [
            window(h, self.kernel[0], self.stride[0], self.padding[0]),
            window(w, self.kernel[1], self.stride[1], self.padding[1]),
        ]
    }

    /// The padded plane's size along `axis`.
    pub fn padded(&self, axis: usize, size: usize) -> usize {
        size + self.padding[axis][0] + self.padding[axis][1]
    }

    /// Whether any side is padded.
    pub fn is_padded(&self) -> bool {
        self.padding != [[0, 0]; 2]
    }

    /// Inputs under one window.
    pub fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// The input index along `axis` of tap `u` of output `i`:
    /// `i·stride + u − padding before` (outside the input when negative or past its end).
    pub fn tap(&self, axis: usize, i: usize, u: usize) -> isize {
        (i * self.stride[axis] + u) as isize - self.padding[axis][0] as isize
    }

    /// What padding reads as in a pooling window: `−∞` for a max (it never
    /// wins), 0 for an average (it counts as zero).
    pub fn pool_pad(max: bool) -> f32 {
        if max {
            f32::NEG_INFINITY
        } else {
            0.0
        }
    }

    /// An average pool's divisor: every tap, padding included.
    pub fn pool_divisor(&self) -> f32 {
        self.taps() as f32
    }
}

/// A windowed op's input as `[c, h, w]`: `[c, l]` (a 1-D op's) is one row, `[c, 1, l]`.
pub fn plane(shape: &[usize]) -> Vec<usize> {
    match *shape {
        [c, l] => vec![c, 1, l],
        _ => shape.to_vec(),
    }
}

/// The padding that keeps a stride-1 convolution's output the input's size
/// (odd `kernel`), as denoise blocks use.
pub fn same_padding(kernel: usize) -> usize {
    (kernel - 1) / 2
}

/// A conv2d's reduction length: `c / groups` channels under the window.
pub fn conv_k(channels: usize, groups: usize, window: &Window) -> usize {
    channels / groups * window.taps()
}

/// `(mean, std)` of element `i` (of `len`) at a normalization step, when
/// the value's first axis has `rows` entries and the input's `channels`:
/// one pair for all, or the pair of the element's channel.
pub fn normalization(mean: &[f64], std: &[f64], i: usize, len: usize, rows: usize, channels: usize) -> (f32, f32) {
    let per = len / rows.max(1);
    let c = if mean.len() == 1 && std.len() == 1 { 0 } else { (i / per).min(channels - 1) };
    (mean[c.min(mean.len() - 1)] as f32, std[c.min(std.len() - 1)] as f32)
}

/// `hard_swish`'s slope and offset: `x · hard_sigmoid(x, 1/6, 1/2)`, as
/// PyTorch's `Hardswish` and ONNX's `HardSwish`.
pub const HARD_SWISH: (f32, f32) = (1.0 / 6.0, 0.5);

/// A batch norm's divisor `√(var + eps)`.
pub fn batchnorm_std(var: f32, eps: f64) -> f32 {
    (var + eps as f32).sqrt()
}
