//! The ops without hardware effects, one sample at a time, as plainly as
//! possible. Layouts are row-major: `[n]` or `[c, h, w]`. Each function
//! expects values of the shape it is given, and tensors of the sizes the
//! shape implies (as `interp::check` ensures for a graph); it panics
//! otherwise.

use crate::derived::window::{batchnorm_std, conv_k, same_padding, Window, HARD_SWISH};
use crate::ir::op::{symmetric, Padding2d};
use crate::ir::Op;
use crate::kernels::dot::fma_dot;

/// `x[c, i, j]` with zero (or `pad`) outside the input.
fn at(x: &[f32], shape: &[usize], c: usize, i: isize, j: isize, pad: f32) -> f32 {
    let (h, w) = (shape[1] as isize, shape[2] as isize);
    if i < 0 || j < 0 || i >= h || j >= w {
        pad
    } else {
        x[(c * shape[1] + i as usize) * shape[2] + j as usize]
    }
}

/// Max or average pooling of `x` (`[c, h, w]`).
pub fn pool(
    x: &[f32],
    shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding2d,
    max: bool,
) -> Vec<f32> {
    let win = Window { kernel, stride, padding };
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let [oh, ow] = win.out(h, w);
    let pad = Window::pool_pad(max);
    let mut out = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = pad;
                for u in 0..win.kernel[0] {
                    for v in 0..win.kernel[1] {
                        let value = at(x, shape, ch, win.tap(0, i, u), win.tap(1, j, v), pad);
                        acc = if max { pool_max(acc, value) } else { acc + value };
                    }
                }
                out.push(if max { acc } else { acc / win.pool_divisor() });
            }
        }
    }
    out
}

/// The input patches a conv2d reduces over: for group `g` and output position
/// `p`, the `(c, u, v)` values in weight order, zero outside the input.
/// Returns `[groups][positions][k]` flattened, and `(positions, k)`.
pub fn patches(
    x: &[f32],
    shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding2d,
    groups: usize,
) -> (Vec<f32>, usize, usize) {
    let win = Window { kernel, stride, padding };
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let cg = c / groups;
    let [oh, ow] = win.out(h, w);
    let k = conv_k(c, groups, &win);
    let mut out = Vec::with_capacity(groups * oh * ow * k);
    for g in 0..groups {
        for i in 0..oh {
            for j in 0..ow {
                for ch in 0..cg {
                    for u in 0..win.kernel[0] {
                        for v in 0..win.kernel[1] {
                            out.push(at(x, shape, g * cg + ch, win.tap(0, i, u), win.tap(1, j, v), 0.0));
                        }
                    }
                }
            }
        }
    }
    (out, oh * ow, k)
}

/// An element-wise op (flatten included: it moves nothing) over `x`, any
/// number of samples at once; `None` for another op.
pub fn elementwise(op: &Op, x: &[f32]) -> Option<Vec<f32>> {
    let mut y = vec![0.0; x.len()];
    elementwise_into(op, x, &mut y).then_some(y)
}

/// [`elementwise`] into `y` (`x.len()` values); false, with `y` untouched,
/// for an op that is not element-wise.
pub fn elementwise_into(op: &Op, x: &[f32], y: &mut [f32]) -> bool {
    let each = |y: &mut [f32], f: &dyn Fn(f32) -> f32| y.iter_mut().zip(x).for_each(|(y, v)| *y = f(*v));
    match *op {
        Op::Flatten => y.copy_from_slice(x),
        Op::Relu => y.iter_mut().zip(x).for_each(|(y, v)| *y = relu(*v)),
        Op::LeakyRelu { slope } => each(y, &|v| leaky_relu(v, slope as f32)),
        Op::Clip { min, max } => each(y, &|v| clip(v, min as f32, max as f32)),
        Op::HardSigmoid { alpha, beta } => each(y, &|v| hard_sigmoid(v, alpha as f32, beta as f32)),
        Op::HardSwish => each(y, &|v| hard_swish(v)),
        Op::Sigmoid => each(y, &|v| sigmoid(v)),
        Op::Tanh => each(y, &|v| v.tanh()),
        _ => return false,
    }
    true
}

/// Ideal dense: `y = W x + b`, summed in index order with one fused
/// multiply-add per product (`docs/language.md` §6.2), then the bias added.
pub fn dense(x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let n = x.len();
    (0..w.len() / n).map(|o| fma_dot(&w[o * n..(o + 1) * n], x) + b.map_or(0.0, |b| b[o])).collect()
}

/// Ideal conv2d (same padding on both axes), used by denoise blocks.
pub fn conv(x: &[f32], shape: &[usize], w: &[f32], out: usize, kernel: usize, b: &[f32]) -> Vec<f32> {
    let (p, positions, k) = patches(x, shape, [kernel; 2], [1; 2], symmetric([same_padding(kernel); 2]), 1);
    let mut y = vec![0.0; out * positions];
    for o in 0..out {
        for q in 0..positions {
            y[o * positions + q] = fma_dot(&w[o * k..(o + 1) * k], &p[q * k..(q + 1) * k]) + b[o];
        }
    }
    y
}

pub fn batchnorm(
    x: &[f32],
    shape: &[usize],
    eps: f64,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
) -> Vec<f32> {
    let per = x.len() / shape[0];
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i / per;
            (v - mean[c]) / batchnorm_std(var[c], eps) * gamma[c] + beta[c]
        })
        .collect()
}

/// Softmax over the last axis.
pub fn softmax(x: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = *shape.last().expect("rank ≥ 1");
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(n) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b));
        let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
        let s: f32 = e.iter().sum();
        out.extend(e.iter().map(|v| v / s));
    }
    out
}

pub fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// ReLU: `v` where `v > 0`, else `+0` (so −0 and NaN give +0). Written as
/// a comparison, as the JIT computes it: `f32::max(v, 0.0)` leaves which zero
/// it returns for −0 unspecified, and Rust's builds differ.
pub fn relu(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// A max pooling's running maximum: `value` where it is greater than `acc`,
/// else `acc` (of equal values the earlier stays, −0 and +0 being equal; a
/// NaN never enters), as the JIT computes it.
pub fn pool_max(acc: f32, value: f32) -> f32 {
    if value > acc {
        value
    } else {
        acc
    }
}

/// `v` where `v > 0`, else `slope·v` (NaN stays NaN).
pub fn leaky_relu(v: f32, slope: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        slope * v
    }
}

/// `min` below it, `max` above it, else `v` (NaN and the sign of zero pass
/// through), as Rust's `f32::clamp`.
pub fn clip(v: f32, min: f32, max: f32) -> f32 {
    if v < min {
        min
    } else if v > max {
        max
    } else {
        v
    }
}

/// `max(0, min(1, alpha·v + beta))`: the product rounded to f32, then the
/// sum, then [`clip`]ped to `[0, 1]` (NaN stays NaN).
pub fn hard_sigmoid(v: f32, alpha: f32, beta: f32) -> f32 {
    clip(alpha * v + beta, 0.0, 1.0)
}

/// `v · hard_sigmoid(v, 1/6, 1/2)`, the product rounded once more.
pub fn hard_swish(v: f32) -> f32 {
    let (alpha, beta) = HARD_SWISH;
    v * hard_sigmoid(v, alpha, beta)
}

/// The mean of each of `channels` equal planes of `x`: the plane summed in
/// row-major order from 0 in f32, divided by its size.
pub fn global_avg_pool(x: &[f32], channels: usize) -> Vec<f32> {
    let per = x.len() / channels;
    x.chunks(per).map(|plane| plane.iter().fold(0.0f32, |acc, v| acc + v) / per as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        assert_eq!(pool(&x, &[1, 3, 3], [2, 2], [1, 1], [[0, 0]; 2], true), vec![5.0, 6.0, 8.0, 9.0]);
        assert_eq!(pool(&x, &[1, 3, 3], [2, 2], [2, 2], [[0, 0]; 2], false), vec![3.0]);
        // Padding counts as zero in the average and never wins the max.
        assert_eq!(pool(&[-1.0], &[1, 1, 1], [3, 3], [1, 1], [[1, 1]; 2], true), vec![-1.0]);
        assert_eq!(pool(&[9.0], &[1, 1, 1], [3, 3], [1, 1], [[1, 1]; 2], false), vec![1.0]);
    }

    #[test]
    fn asymmetric_padding_pads_each_side_as_given() {
        // 1×3 row, kernel 1×2, no padding on top or left, one row of zeros
        // below and two columns on the right: 2 × 4 windows, the second row all padding.
        let x = [1.0, 2.0, 3.0];
        let (p, positions, k) = patches(&x, &[1, 1, 3], [1, 2], [1, 1], [[0, 1], [0, 2]], 1);
        assert_eq!((positions, k), (8, 2));
        let mut want = vec![1.0, 2.0, 2.0, 3.0, 3.0, 0.0, 0.0, 0.0];
        want.resize(16, 0.0);
        assert_eq!(p, want);
        assert_eq!(pool(&x, &[1, 1, 3], [1, 2], [1, 2], [[0, 0], [1, 0]], false), vec![0.5, 2.5]);
    }

    /// The sign of a zero is defined: ReLU gives +0 for −0, and a max
    /// pooling keeps the first of two equal zeros.
    #[test]
    fn zeros_of_both_signs() {
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&[-0.0, 0.0, f32::NAN, -1.0, 2.0].map(relu)), bits(&[0.0, 0.0, 0.0, 0.0, 2.0]));
        let pooled = pool(&[-0.0, 0.0, 0.0, -0.0], &[1, 1, 4], [1, 2], [1, 2], [[0, 0]; 2], true);
        assert_eq!(bits(&pooled), bits(&[-0.0, 0.0]));
    }

    #[test]
    fn hard_sigmoid_and_hard_swish_by_hand() {
        assert_eq!([-4.0, -3.0, 0.0, 3.0, 4.0].map(|v| hard_sigmoid(v, 1.0 / 6.0, 0.5)), [0.0, 0.0, 0.5, 1.0, 1.0]);
        assert_eq!([1.0, -1.0, 10.0].map(|v| hard_sigmoid(v, 0.25, 0.5)), [0.75, 0.25, 1.0]);
        assert_eq!([-4.0, 0.0, 4.0].map(hard_swish), [-0.0, 0.0, 4.0]);
        assert_eq!(hard_swish(1.5), 1.5 * (1.5 * (1.0f32 / 6.0) + 0.5));
        assert!(hard_swish(f32::NAN).is_nan());
    }

    #[test]
    fn conv_patches_follow_weight_order() {
        // 2 channels of 2×2, kernel 2: one position, k = 8 in (c, u, v) order.
        let x: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let (p, positions, k) = patches(&x, &[2, 2, 2], [2, 2], [1, 1], [[0, 0]; 2], 1);
        assert_eq!((positions, k), (1, 8));
        assert_eq!(p, x);
        // groups = 2: each group sees its own channel.
        let (p, positions, k) = patches(&x, &[2, 2, 2], [2, 2], [1, 1], [[0, 0]; 2], 2);
        assert_eq!((positions, k), (1, 4));
        assert_eq!(p, x);
    }

    #[test]
    fn new_elementwise_ops_by_hand() {
        assert_eq!([2.0, -2.0, 0.0].map(|v| leaky_relu(v, 0.25)), [2.0, -0.5, 0.0]);
        assert_eq!([-1.0, 3.0, 7.0].map(|v| clip(v, 0.0, 6.0)), [0.0, 3.0, 6.0]);
        assert!(clip(f32::NAN, 0.0, 6.0).is_nan());
        assert_eq!(global_avg_pool(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2), vec![2.0, 5.0]);
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let y = softmax(&[1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0], &[2, 3]);
        assert!((y[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((y[3] - 1.0 / 3.0).abs() < 1e-6);
    }
}
