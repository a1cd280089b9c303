//! The denoise block, `y = x + up(relu(down(x)))` (`docs/language.md` §3.2):
//! an ordinary trainable residual, whose rule chains those of its parts.

use super::elementwise::relu;
use super::mac::{self, Conv2d, MacGrads};

/// A denoise block: one sample's shape (`[n]`: dense `n → hidden → n`;
/// `[c, h, w]`: `kernel × kernel` convolutions `c → hidden → c`, stride 1,
/// padding `(kernel − 1)/2`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Denoise<'a> {
    pub shape: &'a [usize],
    pub hidden: usize,
    pub kernel: usize,
}

/// The gradients of a denoise block, named by its tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct DenoiseGrads {
    /// `[batch][sample]`
    pub dx: Vec<f32>,
    pub down_weight: Vec<f32>,
    pub down_bias: Vec<f32>,
    pub up_weight: Vec<f32>,
    pub up_bias: Vec<f32>,
}

impl Denoise<'_> {
    /// The rule of `down` (`up` when `to_hidden` is false) on a batch.
    fn part(&self, to_hidden: bool, batch: usize, x: &[f32], w: &[f32], dy: &[f32]) -> MacGrads {
        let &[c, h, w_] = self.shape else { return mac::dense(batch, x, w, dy) };
        let (channels, out) = if to_hidden { (c, self.hidden) } else { (self.hidden, c) };
        let pad = (self.kernel - 1) / 2;
        let conv = Conv2d {
            channels,
            height: h,
            width: w_,
            out,
            kernel: [self.kernel; 2],
            stride: [1; 2],
            padding: [[pad; 2]; 2],
            groups: 1,
        };
        mac::conv2d(&conv, batch, x, w, dy)
    }
}

/// With `a = relu(down(x))` the block's hidden activation (saved by the
/// forward, `[batch][hidden]` or `[batch][hidden, h, w]`):
///
/// ```text
/// (da, d up.weight, d up.bias)  = up's rule on (a, dy)
/// dh                            = da where a > 0, else 0
/// (dx', d down.weight, d down.bias) = down's rule on (x, dh)
/// dx                            = dy + dx'
/// ```
pub fn denoise(block: &Denoise, x: &[f32], a: &[f32], down_w: &[f32], up_w: &[f32], dy: &[f32]) -> DenoiseGrads {
    let batch = x.len() / block.shape.iter().product::<usize>();
    let up = block.part(false, batch, a, up_w, dy);
    let dh = relu(a, &up.dx);
    let down = block.part(true, batch, x, down_w, &dh);
    DenoiseGrads {
        dx: dy.iter().zip(&down.dx).map(|(d, e)| d + e).collect(),
        down_weight: down.dw,
        down_bias: down.db,
        up_weight: up.dw,
        up_bias: up.db,
    }
}
