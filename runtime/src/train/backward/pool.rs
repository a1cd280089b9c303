//! Max and average pooling over `kh × kw` windows with stride and padding,
//! and global average pooling (`docs/language.md` §3.2): the gradient of an
//! output goes back to the inputs its window reads; positions in the padding
//! receive none.

use super::{tap, window};
use crate::ir::op::Padding2d;

/// The geometry of a pooling: one sample's input `[channels, height, width]`
/// and the op's attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pool2d {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// `[[top, bottom], [left, right]]`.
    pub padding: Padding2d,
}

impl Pool2d {
    /// `[h', w']`, `h' = ⌊(h + top + bottom − kernel) / stride⌋ + 1`.
    pub fn out_hw(&self) -> [usize; 2] {
        [
            window(self.height, self.kernel[0], self.stride[0], self.padding[0]),
            window(self.width, self.kernel[1], self.stride[1], self.padding[1]),
        ]
    }

    /// The flat input indices output `(i, j)` of `plane` (`b·channels + c`)
    /// reads, in window order (`u`, then `v`, ascending), padding left out.
    fn taps(&self, plane: usize, i: usize, j: usize) -> impl Iterator<Item = usize> + '_ {
        let (h, w) = (self.height, self.width);
        let rows = (0..self.kernel[0]).filter_map(move |u| tap(i, u, self.stride[0], self.padding[0][0], h));
        rows.flat_map(move |r| {
            let cols = (0..self.kernel[1]).filter_map(move |v| tap(j, v, self.stride[1], self.padding[1][0], w));
            cols.map(move |s| (plane * h + r) * w + s)
        })
    }
}

/// Max pooling: each output's gradient goes to the input that won its window,
/// `dx[argmax] += dy`. The winner is the **first maximum in window order**
/// (rows, then columns, ascending) among the positions inside the input: the
/// padding (−∞) never wins, and of tied values the earliest does, as PyTorch
/// picks it. `x` is the forward's input `[batch][c, h, w]`, `dy`
/// `[batch][c, h', w']`.
pub fn maxpool2d(pool: &Pool2d, batch: usize, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let [oh, ow] = pool.out_hw();
    let mut dx = vec![0.0; x.len()];
    for plane in 0..batch * pool.channels {
        for i in 0..oh {
            for j in 0..ow {
                let mut best: Option<usize> = None;
                for t in pool.taps(plane, i, j) {
                    if best.is_none_or(|b| x[t] > x[b]) {
                        best = Some(t);
                    }
                }
                if let Some(b) = best {
                    dx[b] += dy[(plane * oh + i) * ow + j];
                }
            }
        }
    }
    dx
}

/// Average pooling: each output's gradient, divided by `kh·kw` (the zero
/// padding counts in the average, `count_include_pad = True`), goes to every
/// input its window reads: `dx[t] += dy / (kh·kw)`. Needs only the shapes;
/// `dy` is `[batch][c, h', w']`.
pub fn avgpool2d(pool: &Pool2d, batch: usize, dy: &[f32]) -> Vec<f32> {
    let [oh, ow] = pool.out_hw();
    let mut dx = vec![0.0; batch * pool.channels * pool.height * pool.width];
    let area = (pool.kernel[0] * pool.kernel[1]) as f32;
    for plane in 0..batch * pool.channels {
        for i in 0..oh {
            for j in 0..ow {
                let share = dy[(plane * oh + i) * ow + j] / area;
                for t in pool.taps(plane, i, j) {
                    dx[t] += share;
                }
            }
        }
    }
    dx
}

/// Global average pooling, `y[b, c] = Σ_e x[b, c, e] / n` over the `n`
/// values of a channel (`[c, l]` or `[c, h, w]`): every input of the channel
/// gets `dx = dy[b, c] / n`. Needs only the shapes; `dy` is `[batch][channels]`.
pub fn globalavgpool(n: usize, dy: &[f32]) -> Vec<f32> {
    let size = n as f32;
    dy.iter().flat_map(|d| std::iter::repeat_n(d / size, n)).collect()
}
