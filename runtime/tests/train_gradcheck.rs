//! Every backward rule of `train::backward` and the loss against central
//! finite differences of a second, independent forward written here in f64.
//!
//! A rule is checked through the scalar `L = Σ_k r_k·y_k` with a random `r`
//! (so `dy = r`), or through the loss itself. The rule runs in f32 on inputs
//! rounded to f32; the differences `(L(θ + h) − L(θ − h)) / 2h`, `h = 1e−5`,
//! run in f64 on the same values. The bound, for every gradient:
//!
//! ```text
//! max_i |analytic_i − numeric_i| ≤ 1e−5 · max_i |numeric_i|
//! ```
//!
//! (observed: at most 3e−7, the f32 rounding of the rules). Inputs of kinks (ReLU, the
//! max of a pooling window, denoise's hidden ReLU) keep clear of them by far more than
//! `h`; ties in max pooling are checked against the stated rule (the first maximum in
//! window order) instead, since no derivative exists there.

use analog_runtime::interp::ops as forward;
use analog_runtime::ir::op::symmetric;
use analog_runtime::rng;
use analog_runtime::train::backward::batchnorm::{self, Stats};
use analog_runtime::train::backward::denoise::{self, Denoise};
use analog_runtime::train::backward::elementwise;
use analog_runtime::train::backward::mac::{self, Conv2d};
use analog_runtime::train::backward::pool::{self, Pool2d};
use analog_runtime::train::loss::softmax_cross_entropy;

const H: f64 = 1e-5;
const TOL: f64 = 1e-5;

/// `n` values uniform in (−1, 1), rounded to f32, drawn from `case`.
fn values(n: usize, case: u32) -> Vec<f32> {
    (0..n).map(|e| 2.0 * rng::uniform(12, 0, 0, case, e as u32) - 1.0).collect()
}

/// `n` values at least 0.05 apart (a shuffled grid), for max pooling.
fn distinct(n: usize, case: u32) -> Vec<f32> {
    rng::permutation(12, 0, case, n).iter().map(|p| (*p as f32 - n as f32 / 2.0) * 0.05).collect()
}

fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|v| *v as f64).collect()
}

fn dot(r: &[f32], y: &[f64]) -> f64 {
    assert_eq!(r.len(), y.len());
    r.iter().zip(y).map(|(r, y)| *r as f64 * y).sum()
}

/// Checks a rule's gradient `analytic` against central differences of `f` at `at`.
fn check(what: &str, analytic: &[f32], at: &[f64], f: impl Fn(&[f64]) -> f64) {
    assert_eq!(analytic.len(), at.len(), "{what}: length");
    let numeric: Vec<f64> = (0..at.len())
        .map(|i| {
            let mut p = at.to_vec();
            p[i] = at[i] + H;
            let up = f(&p);
            p[i] = at[i] - H;
            (up - f(&p)) / (2.0 * H)
        })
        .collect();
    let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "{what}: the gradient is (almost) zero, the case checks nothing");
    let err = analytic.iter().zip(&numeric).map(|(a, n)| (*a as f64 - n).abs()).fold(0.0, f64::max) / scale;
    assert!(err <= TOL, "{what}: relative error {err:.2e} > {TOL:.0e}\nanalytic {analytic:?}\nnumeric  {numeric:?}");
}

// ---------------------------------------------------------------- f64 forwards

fn dense64(batch: usize, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let n = x.len() / batch;
    let out = b.len();
    let mut y = vec![];
    for s in 0..batch {
        for o in 0..out {
            y.push(b[o] + (0..n).map(|j| w[o * n + j] * x[s * n + j]).sum::<f64>());
        }
    }
    y
}

fn conv64(c: &Conv2d, batch: usize, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let oh = (c.height + c.padding[0][0] + c.padding[0][1] - c.kernel[0]) / c.stride[0] + 1;
    let ow = (c.width + c.padding[1][0] + c.padding[1][1] - c.kernel[1]) / c.stride[1] + 1;
    let cg = c.channels / c.groups;
    let x_at = |s: usize, ch: usize, r: isize, t: isize| {
        if r < 0 || t < 0 || r >= c.height as isize || t >= c.width as isize {
            0.0
        } else {
            x[((s * c.channels + ch) * c.height + r as usize) * c.width + t as usize]
        }
    };
    let mut y = vec![];
    for s in 0..batch {
        for o in 0..c.out {
            let g = o / (c.out / c.groups);
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b[o];
                    for ch in 0..cg {
                        for u in 0..c.kernel[0] {
                            for v in 0..c.kernel[1] {
                                let r = (c.stride[0] * i + u) as isize - c.padding[0][0] as isize;
                                let t = (c.stride[1] * j + v) as isize - c.padding[1][0] as isize;
                                acc +=
                                    w[((o * cg + ch) * c.kernel[0] + u) * c.kernel[1] + v] * x_at(s, g * cg + ch, r, t);
                            }
                        }
                    }
                    y.push(acc);
                }
            }
        }
    }
    y
}

fn pool64(p: &Pool2d, batch: usize, x: &[f64], max: bool) -> Vec<f64> {
    let oh = (p.height + p.padding[0][0] + p.padding[0][1] - p.kernel[0]) / p.stride[0] + 1;
    let ow = (p.width + p.padding[1][0] + p.padding[1][1] - p.kernel[1]) / p.stride[1] + 1;
    let mut y = vec![];
    for plane in 0..batch * p.channels {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
                for u in 0..p.kernel[0] {
                    for v in 0..p.kernel[1] {
                        let r = (p.stride[0] * i + u) as isize - p.padding[0][0] as isize;
                        let t = (p.stride[1] * j + v) as isize - p.padding[1][0] as isize;
                        let inside = r >= 0 && t >= 0 && r < p.height as isize && t < p.width as isize;
                        let value = if inside {
                            x[(plane * p.height + r as usize) * p.width + t as usize]
                        } else if max {
                            f64::NEG_INFINITY
                        } else {
                            0.0
                        };
                        acc = if max { acc.max(value) } else { acc + value };
                    }
                }
                y.push(if max { acc } else { acc / (p.kernel[0] * p.kernel[1]) as f64 });
            }
        }
    }
    y
}

/// Batchnorm with the given per-channel mean and variance (`None`: the batch's, biased).
fn batchnorm64(x: &[f64], shape: &[usize], gamma: &[f64], beta: &[f64], frozen: Option<(&[f64], &[f64])>) -> Vec<f64> {
    let (c, per) = (shape[0], shape[1..].iter().product::<usize>());
    let batch = x.len() / (c * per);
    let channel = |ch: usize| (0..batch).flat_map(move |s| (0..per).map(move |k| (s * c + ch) * per + k));
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        let (mean, var) = match frozen {
            Some((m, v)) => (m[ch], v[ch]),
            None => {
                let m = (batch * per) as f64;
                let mean = channel(ch).map(|i| x[i]).sum::<f64>() / m;
                (mean, channel(ch).map(|i| (x[i] - mean).powi(2)).sum::<f64>() / m)
            }
        };
        for i in channel(ch) {
            y[i] = (x[i] - mean) / (var + 1e-5).sqrt() * gamma[ch] + beta[ch];
        }
    }
    y
}

fn cross_entropy64(z: &[f64], labels: &[u32]) -> f64 {
    let classes = z.len() / labels.len();
    let per_sample = z.chunks(classes).zip(labels).map(|(z, l)| {
        let m = z.iter().fold(f64::NEG_INFINITY, |a, b| a.max(*b));
        z.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - (z[*l as usize] - m)
    });
    per_sample.sum::<f64>() / labels.len() as f64
}

// ---------------------------------------------------------------- MAC layers

#[test]
fn dense_matches_finite_differences() {
    let (batch, n, out) = (3, 5, 4);
    let (x, w, b, r) = (values(batch * n, 1), values(out * n, 2), values(out, 3), values(batch * out, 4));
    let g = mac::dense(batch, &x, &w, &r);
    let (x64, w64, b64) = (wide(&x), wide(&w), wide(&b));
    check("dense dx", &g.dx, &x64, |x| dot(&r, &dense64(batch, x, &w64, &b64)));
    check("dense dW", &g.dw, &w64, |w| dot(&r, &dense64(batch, &x64, w, &b64)));
    check("dense db", &g.db, &b64, |b| dot(&r, &dense64(batch, &x64, &w64, b)));
}

fn check_conv(what: &str, c: Conv2d, case: u32) {
    let batch = 2;
    let [oh, ow] = c.out_hw();
    let x = values(batch * c.channels * c.height * c.width, case);
    let w = values(c.out * c.channels / c.groups * c.kernel[0] * c.kernel[1], case + 1);
    let b = values(c.out, case + 2);
    let r = values(batch * c.out * oh * ow, case + 3);
    let g = mac::conv2d(&c, batch, &x, &w, &r);
    let (x64, w64, b64) = (wide(&x), wide(&w), wide(&b));
    assert_eq!(conv64(&c, batch, &x64, &w64, &b64).len(), r.len(), "{what}: output shape");
    check(&format!("{what} dx"), &g.dx, &x64, |x| dot(&r, &conv64(&c, batch, x, &w64, &b64)));
    check(&format!("{what} dW"), &g.dw, &w64, |w| dot(&r, &conv64(&c, batch, &x64, w, &b64)));
    check(&format!("{what} db"), &g.db, &b64, |b| dot(&r, &conv64(&c, batch, &x64, &w64, b)));
}

#[test]
fn conv2d_matches_finite_differences() {
    let conv = |channels, height, width, out, kernel, stride, padding: [usize; 2], groups| Conv2d {
        channels,
        height,
        width,
        out,
        kernel,
        stride,
        padding: symmetric(padding),
        groups,
    };
    check_conv("plain conv", conv(2, 5, 5, 3, [3, 3], [1, 1], [0, 0], 1), 10);
    check_conv("strided, padded conv", conv(2, 6, 5, 3, [3, 3], [2, 2], [1, 1], 1), 20);
    check_conv("rectangular conv", conv(1, 7, 6, 2, [3, 2], [2, 1], [1, 2], 1), 30);
    check_conv("grouped conv", conv(4, 5, 5, 6, [3, 3], [1, 1], [1, 1], 2), 40);
    check_conv("depthwise conv", conv(3, 5, 4, 3, [3, 3], [2, 1], [1, 1], 3), 50);
    check_conv("depthwise conv ×2", conv(2, 4, 4, 4, [2, 2], [1, 1], [1, 1], 2), 60);
    check_conv("conv1d", Conv2d::one_row(3, 9, 4, 3, 2, [1, 1], 1), 70);
    check_conv("grouped conv1d", Conv2d::one_row(4, 7, 6, 2, 1, [1, 1], 2), 80);
    // Asymmetric padding: "same" with an even kernel (one more zero after), a ZeroPad2d's sides.
    let asymmetric = Conv2d { padding: [[0, 1], [2, 1]], ..conv(2, 5, 6, 3, [2, 3], [1, 2], [0, 0], 1) };
    check_conv("asymmetric conv", asymmetric, 85);
    check_conv("asymmetric conv1d", Conv2d::one_row(2, 8, 3, 4, 1, [1, 2], 1), 90);
}

#[test]
fn conv1d_forward_is_the_one_row_conv2d() {
    // The interpreter's patches of [c, l] as the plane [c, 1, l]: a 1-row window reads along the row.
    let x: Vec<f32> = (1..=6).map(|v| v as f32).collect();
    let (p, positions, k) = forward::patches(&x, &[2, 1, 3], [1, 2], [1, 1], [[0, 0]; 2], 1);
    assert_eq!((positions, k), (2, 4));
    assert_eq!(p, [1.0, 2.0, 4.0, 5.0, 2.0, 3.0, 5.0, 6.0]);
}

// ---------------------------------------------------------------- pooling

#[test]
fn pooling_matches_finite_differences() {
    let batch = 2;
    let cases = [
        ("2×2/2", Pool2d { channels: 2, height: 4, width: 4, kernel: [2, 2], stride: [2, 2], padding: [[0, 0]; 2] }),
        (
            "3×3/2 padded",
            Pool2d { channels: 2, height: 5, width: 6, kernel: [3, 3], stride: [2, 2], padding: [[1, 1]; 2] },
        ),
        (
            "3×2/1 padded",
            Pool2d { channels: 1, height: 4, width: 5, kernel: [3, 2], stride: [1, 1], padding: [[1, 1]; 2] },
        ),
        (
            "3×2/2 asymmetric",
            Pool2d { channels: 2, height: 5, width: 5, kernel: [3, 2], stride: [2, 2], padding: [[0, 1], [1, 0]] },
        ),
        (
            "1×3/2 one row",
            Pool2d { channels: 3, height: 1, width: 8, kernel: [1, 3], stride: [1, 2], padding: [[0, 0], [1, 1]] },
        ),
    ];
    for (i, (what, p)) in cases.into_iter().enumerate() {
        let case = 100 + 10 * i as u32;
        let [oh, ow] = p.out_hw();
        let n = batch * p.channels * p.height * p.width;
        let r = values(batch * p.channels * oh * ow, case);
        let x = distinct(n, case + 1);
        let x64 = wide(&x);
        let max = pool::maxpool2d(&p, batch, &x, &r);
        check(&format!("maxpool {what}"), &max, &x64, |x| dot(&r, &pool64(&p, batch, x, true)));
        let avg = pool::avgpool2d(&p, batch, &r);
        check(&format!("avgpool {what}"), &avg, &x64, |x| dot(&r, &pool64(&p, batch, x, false)));
    }
}

#[test]
fn maxpool_ties_go_to_the_first_maximum_in_window_order_and_padding_never_wins() {
    let one = |height, width, kernel, stride, padding| Pool2d { channels: 1, height, width, kernel, stride, padding };
    // One 2×2 window of equal values: the first (row 0, column 0) takes it.
    let p = one(2, 2, [2, 2], [2, 2], [[0, 0]; 2]);
    assert_eq!(pool::maxpool2d(&p, 1, &[7.0; 4], &[1.5]), [1.5, 0.0, 0.0, 0.0]);
    // A tie between positions 1 and 2 of [1, 3, 3, 2]: position 1 (earlier in row order).
    assert_eq!(pool::maxpool2d(&p, 1, &[1.0, 3.0, 3.0, 2.0], &[1.0]), [0.0, 1.0, 0.0, 0.0]);
    // Overlapping windows (stride 1) that share their maximum add up there.
    let p = one(1, 3, [1, 2], [1, 1], [[0, 0]; 2]);
    assert_eq!(pool::maxpool2d(&p, 1, &[0.0, 5.0, 1.0], &[1.0, 2.0]), [0.0, 3.0, 0.0]);
    // Padding is −∞: with all inputs negative, each padded window still picks an input,
    // the first maximum of the inputs it covers, and it is the value the forward returns.
    let p = one(2, 2, [3, 3], [1, 1], [[1, 1]; 2]);
    let x = [-2.0, -1.0, -1.0, -3.0];
    let dy = [1.0, 10.0, 100.0, 1000.0];
    assert_eq!(pool::maxpool2d(&p, 1, &x, &dy), [0.0, 1111.0, 0.0, 0.0]);
    assert_eq!(forward::pool(&x, &[1, 2, 2], [3, 3], [1, 1], [[1, 1]; 2], true), [-1.0; 4]);
    // Average pooling counts the padding in its divisor and gives it nothing.
    let p = one(1, 1, [3, 3], [1, 1], [[1, 1]; 2]);
    assert_eq!(pool::avgpool2d(&p, 1, &[9.0]), [1.0]);
}

// ---------------------------------------------------------------- element-wise

#[test]
fn activations_and_softmax_match_finite_differences() {
    let n = 12;
    // ReLU's kink at 0 is kept at least 0.05 away.
    let x: Vec<f32> = values(n, 200).iter().map(|v| if v.abs() < 0.05 { v + 0.1 } else { *v }).collect();
    let r = values(n, 201);
    let x64 = wide(&x);
    let r_ = &r;
    let apply = |f: fn(f64) -> f64| move |x: &[f64]| dot(r_, &x.iter().map(|v| f(*v)).collect::<Vec<_>>());
    let y: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    check("relu", &elementwise::relu(&y, &r), &x64, apply(|v| v.max(0.0)));
    check("leaky_relu", &elementwise::leaky_relu(&x, 0.1, &r), &x64, apply(|v| if v > 0.0 { v } else { 0.1 * v }));
    // Clip to (−0.5, 0.5): its kinks are kept at least 0.05 away too.
    let inside: Vec<f32> = x.iter().map(|v| if (v.abs() - 0.5).abs() < 0.05 { v * 0.8 } else { *v }).collect();
    let clip64 = |v: f64| v.clamp(-0.5, 0.5);
    check("clip", &elementwise::clip(&inside, -0.5, 0.5, &r), &wide(&inside), apply(clip64));
    let y: Vec<f32> = x.iter().map(|v| forward::sigmoid(*v)).collect();
    check("sigmoid", &elementwise::sigmoid(&y, &r), &x64, apply(|v| 1.0 / (1.0 + (-v).exp())));
    let y: Vec<f32> = x.iter().map(|v| v.tanh()).collect();
    check("tanh", &elementwise::tanh(&y, &r), &x64, apply(f64::tanh));
    // Softmax over rows of 4 (a batch of 3), from the interpreter's forward.
    let y = forward::softmax(&x, &[3, 4]);
    let softmax64 = |x: &[f64]| {
        let mut y = vec![];
        for row in x.chunks(4) {
            let s: f64 = row.iter().map(|v| v.exp()).sum();
            y.extend(row.iter().map(|v| v.exp() / s));
        }
        dot(&r, &y)
    };
    check("softmax", &elementwise::softmax(&y, &r, 4), &x64, softmax64);
}

#[test]
fn hard_sigmoid_and_hard_swish_match_finite_differences() {
    let n = 24;
    // Over [−5, 5], both sides of the kinks at ±3, kept at least 0.1 away from them.
    let x: Vec<f32> =
        values(n, 220).iter().map(|v| v * 5.0).map(|v| if (v.abs() - 3.0).abs() < 0.1 { v * 0.9 } else { v }).collect();
    let r = values(n, 221);
    let x64 = wide(&x);
    let r_ = &r;
    let apply = |f: fn(f64) -> f64| move |x: &[f64]| dot(r_, &x.iter().map(|v| f(*v)).collect::<Vec<_>>());
    let hs = |v: f64| (v / 6.0 + 0.5).clamp(0.0, 1.0);
    check("hard_sigmoid", &elementwise::hard_sigmoid(&x, 1.0 / 6.0, 0.5, &r), &x64, apply(hs));
    check("hard_swish", &elementwise::hard_swish(&x, &r), &x64, apply(|v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0)));
    // ONNX's default slope 0.2: kinks at −2.5 and 2.5.
    let x: Vec<f32> = x.iter().map(|v| if (v.abs() - 2.5).abs() < 0.1 { v * 0.9 } else { *v }).collect();
    let hs02 = |v: f64| (0.2 * v + 0.5).clamp(0.0, 1.0);
    check("hard_sigmoid alpha 0.2", &elementwise::hard_sigmoid(&x, 0.2, 0.5, &r), &wide(&x), apply(hs02));
}

#[test]
fn hard_sigmoid_and_hard_swish_at_their_kinks() {
    let x = [-3.0, 3.0, -4.0, 4.0];
    assert_eq!(elementwise::hard_sigmoid(&x, 1.0 / 6.0, 0.5, &[1.0; 4]), [0.0; 4]);
    assert_eq!(elementwise::hard_swish(&x, &[1.0; 4]), [-0.5, 1.5, 0.0, 1.0]);
}

#[test]
fn add_and_flatten_pass_the_gradient() {
    let (x, o, r) = (values(6, 210), values(6, 211), values(6, 212));
    let (dx, dother) = elementwise::add(&r);
    let (x64, o64) = (wide(&x), wide(&o));
    let sum = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<_>>();
    check("add x", &dx, &x64, |x| dot(&r, &sum(x, &o64)));
    check("add other", &dother, &o64, |o| dot(&r, &sum(&x64, o)));
    check("flatten", &elementwise::flatten(&r), &x64, |x| dot(&r, x));
}

#[test]
fn clip_passes_no_gradient_at_its_bounds_and_leaky_relu_its_slope_at_zero() {
    let x = [-1.0, 0.0, 0.5, 6.0, 7.0];
    assert_eq!(elementwise::clip(&x, 0.0, 6.0, &[1.0; 5]), [0.0, 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(elementwise::leaky_relu(&[-2.0, 0.0, 2.0], 0.25, &[4.0; 3]), [1.0, 1.0, 4.0]);
}

#[test]
fn concat_and_global_pooling_match_finite_differences() {
    // A batch of 2 joining operands of 3, 2 and 4 values per sample.
    let sizes = [3, 2, 4];
    let xs: Vec<Vec<f32>> = sizes.iter().enumerate().map(|(i, n)| values(2 * n, 220 + i as u32)).collect();
    let r = values(2 * 9, 223);
    let join = |xs: &[Vec<f64>]| {
        let mut y = vec![];
        for b in 0..2 {
            for (x, n) in xs.iter().zip(sizes) {
                y.extend_from_slice(&x[b * n..(b + 1) * n]);
            }
        }
        y
    };
    let dx = elementwise::concat(&sizes, &r);
    for i in 0..3 {
        let at = wide(&xs[i]);
        check(&format!("concat operand {i}"), &dx[i], &at, |x| {
            let mut all: Vec<Vec<f64>> = xs.iter().map(|x| wide(x)).collect();
            all[i] = x.to_vec();
            dot(&r, &join(&all))
        });
    }
    // 2 samples of 3 channels of 5 values ([3, 5] or [3, 1, 5] alike).
    let (per, x, r) = (5, values(2 * 3 * 5, 224), values(2 * 3, 225));
    let mean64 = |x: &[f64]| x.chunks(per).map(|p| p.iter().sum::<f64>() / per as f64).collect::<Vec<_>>();
    check("globalavgpool", &pool::globalavgpool(per, &r), &wide(&x), |x| dot(&r, &mean64(x)));
}

// ---------------------------------------------------------------- batchnorm

fn check_batchnorm(what: &str, batch: usize, shape: &[usize], case: u32) {
    let c = shape[0];
    let n = batch * shape.iter().product::<usize>();
    let x: Vec<f32> = values(n, case).iter().map(|v| 2.0 * v + 0.5).collect();
    let (gamma, beta, r) = (values(c, case + 1), values(c, case + 2), values(n, case + 3));
    let running_mean = values(c, case + 4);
    let running_var: Vec<f32> = values(c, case + 5).iter().map(|v| v + 1.5).collect();
    let (x64, g64, b64) = (wide(&x), wide(&gamma), wide(&beta));

    let stats = Stats::of_batch(&x, shape, 1e-5).unwrap();
    let g = batchnorm::backward_train(&x, shape, &gamma, &stats, &r);
    check(&format!("{what} train dx"), &g.dx, &x64, |x| dot(&r, &batchnorm64(x, shape, &g64, &b64, None)));
    check(&format!("{what} train dγ"), &g.dgamma, &g64, |g| dot(&r, &batchnorm64(&x64, shape, g, &b64, None)));
    check(&format!("{what} train dβ"), &g.dbeta, &b64, |b| dot(&r, &batchnorm64(&x64, shape, &g64, b, None)));

    let frozen = Stats::frozen(&running_mean, &running_var, 1e-5);
    let (m64, v64) = (wide(&running_mean), wide(&running_var));
    let eval = |x: &[f64], g: &[f64], b: &[f64]| dot(&r, &batchnorm64(x, shape, g, b, Some((&m64, &v64))));
    let g = batchnorm::backward_eval(&x, shape, &gamma, &frozen, &r);
    check(&format!("{what} eval dx"), &g.dx, &x64, |x| eval(x, &g64, &b64));
    check(&format!("{what} eval dγ"), &g.dgamma, &g64, |g| eval(&x64, g, &b64));
    check(&format!("{what} eval dβ"), &g.dbeta, &b64, |b| eval(&x64, &g64, b));

    // Eval mode's forward is the interpreter's batchnorm, bit for bit, sample by sample.
    let y = batchnorm::normalize(&x, shape, &frozen, &gamma, &beta);
    let per_sample = n / batch;
    for s in 0..batch {
        let sample = &x[s * per_sample..(s + 1) * per_sample];
        let reference = forward::batchnorm(sample, shape, 1e-5, &gamma, &beta, &running_mean, &running_var);
        assert_eq!(y[s * per_sample..(s + 1) * per_sample], reference, "{what}: eval forward");
    }
}

#[test]
fn batchnorm_matches_finite_differences_in_both_modes() {
    check_batchnorm("batchnorm [c]", 5, &[3], 300);
    check_batchnorm("batchnorm [c, h, w]", 2, &[2, 2, 3], 310);
    check_batchnorm("batchnorm [c, h, w], batch 1", 1, &[2, 3, 2], 320);
    check_batchnorm("batchnorm [c, l]", 3, &[3, 5], 330);
}

#[test]
fn batchnorm_statistics_and_running_update_follow_pytorch() {
    // One channel of [c] over a batch of 4: x = 1, 2, 3, 6.
    // mean = 3, biased var = (4 + 1 + 0 + 9)/4 = 3.5, unbiased = 14/3.
    let x = [1.0, 2.0, 3.0, 6.0];
    let stats = Stats::of_batch(&x, &[1], 0.5).unwrap();
    assert_eq!((stats.mean[0], stats.var[0], stats.std[0]), (3.0, 3.5, 2.0)); // √(3.5 + 0.5)
    assert_eq!(batchnorm::normalize(&x, &[1], &stats, &[2.0], &[1.0]), [-1.0, 0.0, 1.0, 4.0]);
    // running ← (1 − 0.1)·running + 0.1·batch: mean 0.9·1 + 0.3 = 1.2, var 0.9·2 + 0.1·14/3 = 2.2666…
    let (mut mean, mut var) = ([1.0], [2.0]);
    batchnorm::update_running(&stats, 4, 0.1, &mut mean, &mut var);
    assert_eq!(mean, [1.2]);
    assert_eq!(var, [(1.8 + 1.4 / 3.0) as f32]);
    // A channel with one value has no unbiased variance: PyTorch refuses, so does this.
    let err = Stats::of_batch(&[1.0, 2.0], &[2], 1e-5).unwrap_err();
    assert!(err.contains("more than one value per channel"), "{err}");
}

// ---------------------------------------------------------------- denoise

fn check_denoise(what: &str, batch: usize, shape: &[usize], hidden: usize, kernel: usize, case: u32) {
    let block = Denoise { shape, hidden, kernel };
    let size: usize = shape.iter().product();
    let (down_len, up_len, hidden_size) = match shape {
        [n] => (hidden * n, n * hidden, hidden),
        [c, h, w] => (hidden * c * kernel * kernel, c * hidden * kernel * kernel, hidden * h * w),
        _ => unreachable!(),
    };
    let x = values(batch * size, case);
    let (down_w, down_b) = (values(down_len, case + 1), values(hidden, case + 2));
    let (up_w, up_b) = (values(up_len, case + 3), values(shape[0], case + 4));
    let r = values(batch * size, case + 5);
    let p = |c: usize, out: usize| Conv2d {
        channels: c,
        height: shape[1],
        width: shape[2],
        out,
        kernel: [kernel; 2],
        stride: [1; 2],
        padding: [[(kernel - 1) / 2; 2]; 2],
        groups: 1,
    };
    let forward = |x: &[f64], dw: &[f64], db: &[f64], uw: &[f64], ub: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let part = |x: &[f64], w: &[f64], b: &[f64], to_hidden: bool| {
            if shape.len() == 1 {
                dense64(batch, x, w, b)
            } else if to_hidden {
                conv64(&p(shape[0], hidden), batch, x, w, b)
            } else {
                conv64(&p(hidden, shape[0]), batch, x, w, b)
            }
        };
        let pre = part(x, dw, db, true);
        let a: Vec<f64> = pre.iter().map(|v| v.max(0.0)).collect();
        let u = part(&a, uw, ub, false);
        (x.iter().zip(&u).map(|(x, u)| x + u).collect(), pre)
    };
    let (x64, dw64, db64, uw64, ub64) = (wide(&x), wide(&down_w), wide(&down_b), wide(&up_w), wide(&up_b));
    let (_, pre) = forward(&x64, &dw64, &db64, &uw64, &ub64);
    assert_eq!(pre.len(), batch * hidden_size);
    // The hidden ReLU's kink stays far from every pre-activation.
    assert!(pre.iter().all(|v| v.abs() > 1e-3), "{what}: a hidden pre-activation is too close to 0 for the check");
    let a32: Vec<f32> = pre.iter().map(|v| v.max(0.0) as f32).collect();
    let g = denoise::denoise(&block, &x, &a32, &down_w, &up_w, &r);
    let l = |y: (Vec<f64>, Vec<f64>)| dot(&r, &y.0);
    check(&format!("{what} dx"), &g.dx, &x64, |x| l(forward(x, &dw64, &db64, &uw64, &ub64)));
    check(&format!("{what} d down.weight"), &g.down_weight, &dw64, |w| l(forward(&x64, w, &db64, &uw64, &ub64)));
    check(&format!("{what} d down.bias"), &g.down_bias, &db64, |b| l(forward(&x64, &dw64, b, &uw64, &ub64)));
    check(&format!("{what} d up.weight"), &g.up_weight, &uw64, |w| l(forward(&x64, &dw64, &db64, w, &ub64)));
    check(&format!("{what} d up.bias"), &g.up_bias, &ub64, |b| l(forward(&x64, &dw64, &db64, &uw64, b)));
}

#[test]
fn denoise_matches_finite_differences() {
    check_denoise("denoise [n]", 3, &[6], 4, 3, 400);
    check_denoise("denoise [c, h, w]", 2, &[2, 4, 3], 3, 3, 410);
}

// ---------------------------------------------------------------- the loss

#[test]
fn softmax_cross_entropy_matches_finite_differences() {
    let (batch, classes) = (4, 5);
    let z: Vec<f32> = values(batch * classes, 500).iter().map(|v| 3.0 * v).collect();
    let labels = [2, 0, 4, 2];
    let l = softmax_cross_entropy(&z, &labels);
    let z64 = wide(&z);
    assert!((l.loss - cross_entropy64(&z64, &labels)).abs() <= 1e-6 * l.loss, "loss {}", l.loss);
    check("cross-entropy dz", &l.dlogits, &z64, |z| cross_entropy64(z, &labels));
}

#[test]
fn softmax_cross_entropy_is_stable_for_large_logits() {
    // exp(±1000) overflows f32 and f64 alike; the shifted form does not.
    let l = softmax_cross_entropy(&[1000.0, -1000.0, 1000.0, 0.0, 1000.0, 0.0], &[0, 2]);
    // Sample 0: two equal logits and a far smaller one: ln 2. Sample 1: the label's logit
    // is 1000 below the best: ≈ 1000. Mean ≈ (ln 2 + 1000) / 2.
    assert!((l.loss - (2f64.ln() + 1000.0) / 2.0).abs() < 1e-3, "loss {}", l.loss);
    assert_eq!(l.dlogits, [-0.25, 0.0, 0.25, 0.0, 0.5, -0.5]);
}
