//! The backward of a MAC layer with its effects (`docs/language.md` §10):
//! the layer is differentiated as `y[o, p] = Σ_j c[o, p, j]·w̃[o, j]·x̃[p, j] + b[o]`,
//! where `w̃` and `x̃` are the operands the hardware multiplied (noisy
//! weights, dequantized codes, ABFP mantissas and inputs) and `c` the
//! gradient of the sum with respect to each product (1 for an exact sum; the
//! saturation masks of a clamped or ordered sum, of an ADC). Quantizers are
//! straight-through with the input's clipping mask; approximate multipliers
//! take the exact product's gradient; weight noise passes the gradient of the
//! noisy weights to the clean ones.

use super::forward::{OrderedGrad, Pass};
use crate::derived::format::{Abfp, AnalogInt, Int8Input, Leaky};
use crate::derived::noise::lsb_noise;
use crate::derived::window::{plane, Window};
use crate::interp::mac::{adc_noise, int8_term, order_of, Mac};
use crate::interp::ops;
use crate::ir::hardware::{Accumulate, Format};
use crate::ir::{NodeId, Op};
use crate::quant::{self, Prepared};

/// One sample's gradients of a MAC layer.
pub struct SampleGrads {
    /// `[input]`, when asked for.
    pub dx: Option<Vec<f32>>,
    /// The weight's shape.
    pub dw: Vec<f32>,
}

/// The operands and product gradients of one output `(o, p)`.
struct Output {
    /// `w̃[o, ·]`
    w: Vec<f32>,
    /// `x̃[p, ·]`
    x: Vec<f32>,
    /// 1 where the input passes its quantizer's clipping range, else 0.
    x_mask: Vec<f32>,
    /// `c[o, p, ·]`
    c: Vec<f32>,
}

/// Sample `b`'s gradients of MAC node `id` with input `x` (one sample), for
/// its output gradient `dy` (`[rows, positions]`) at repetition `rep`.
#[allow(clippy::too_many_arguments)]
pub fn sample(
    pass: &Pass,
    id: NodeId,
    op: &Op,
    x: &[f32],
    x_shape: &[usize],
    dy: &[f32],
    b: usize,
    rep: u32,
    want_dx: bool,
) -> SampleGrads {
    let node = pass.graph.node(id);
    let ctx = pass.ctx(b, rep);
    let (weight, prepared) = pass.interp.mac_weights(pass.chip, id, ctx);
    let rows = node.param("weight").expect("checked: a MAC layer has weights").shape[0];
    let x_shape = &plane(x_shape);
    let (patches, positions, k, groups) = match (op, Window::of(op)) {
        (Op::Conv1d { groups, .. } | Op::Conv2d { groups, .. }, Some(w)) => {
            let (p, positions, k) = ops::patches(x, x_shape, w.kernel, w.stride, w.padding, *groups);
            (p, positions, k, *groups)
        }
        _ => (x.to_vec(), 1, x.len(), 1),
    };
    let m = Mac {
        rows,
        k,
        groups,
        positions,
        patches: &patches,
        weight: &weight,
        prepared: prepared.as_deref(),
        bias: None,
        format: &node.hw.format,
        accumulate: &node.hw.accumulate,
        table: pass.interp.table(id),
        order: pass.interp.order(pass.chip, id),
        id,
        name: &node.name,
        uid: node.uid,
        lsb_noise: lsb_noise(node),
    };
    let per_group = rows / groups;
    let mut dw = vec![0.0f32; rows * k];
    let mut dpatches = vec![0.0f32; patches.len()];
    for o in 0..rows {
        let g = o / per_group;
        for p in 0..positions {
            let d = dy[o * positions + p];
            if d == 0.0 {
                continue;
            }
            let at = (g * positions + p) * k;
            let out = output(pass, &m, o, p, &patches[at..at + k], ctx);
            for j in 0..k {
                let dc = d * out.c[j];
                dw[o * k + j] += dc * out.x[j];
                dpatches[at + j] += dc * out.w[j] * out.x_mask[j];
            }
        }
    }
    let dx = want_dx.then(|| match (op, Window::of(op)) {
        (Op::Conv1d { groups, .. } | Op::Conv2d { groups, .. }, Some(w)) => col2im(&dpatches, x_shape, w, *groups),
        _ => dpatches,
    });
    SampleGrads { dx, dw }
}

/// The operands and product gradients of output `(o, p)`, whose patch is `x`.
fn output(pass: &Pass, m: &Mac, o: usize, p: usize, x: &[f32], ctx: crate::interp::noise::Ctx) -> Output {
    let k = m.k;
    let w_row = &m.weight[o * k..(o + 1) * k];
    let ones = || vec![1.0f32; k];
    match (m.format, m.prepared) {
        (Format::Fp32, _) => {
            let products: Vec<f32> = w_row.iter().zip(x).map(|(w, x)| w * x).collect();
            let c = sum_grad(m.accumulate, &products, m.order, pass.ordered_grad);
            Output { w: w_row.to_vec(), x: x.to_vec(), x_mask: ones(), c }
        }
        (Format::Int8 { input_range, .. }, Some(Prepared::Int8 { codes, scales, zero_points })) => {
            let input = Int8Input::of(m.format).expect("an int8 layer");
            let i = quant::scale_index(scales.len(), o);
            let (s_w, z_w) = (scales[i], zero_points[i]);
            let w_q = &codes[o * k..(o + 1) * k];
            let (lo, hi) = if input.signed {
                let r = input_range[0].abs().max(input_range[1].abs()) as f32;
                (-r, r)
            } else {
                (input_range[0] as f32, input_range[1] as f32)
            };
            let x_q: Vec<i32> = x.iter().map(|v| input.code(*v)).collect();
            let scale = input.scale * s_w;
            let c = match m.accumulate {
                Accumulate::Exact => ones(),
                acc => {
                    let z_x = input.zero;
                    let products: Vec<f32> = x_q
                        .iter()
                        .zip(w_q)
                        .map(|(x_q, w_q)| scale * int8_term(m.table, *x_q, *w_q, z_x, z_w) as f32)
                        .collect();
                    sum_grad(acc, &products, m.order, pass.ordered_grad)
                }
            };
            Output {
                w: w_q.iter().map(|q| (q - z_w) as f32 * s_w).collect(),
                x: x_q.iter().map(|q| (q - input.zero) as f32 * input.scale).collect(),
                x_mask: x.iter().map(|v| if (lo..=hi).contains(v) { 1.0 } else { 0.0 }).collect(),
                c,
            }
        }
        (Format::Abfp { .. }, Some(Prepared::Abfp { mantissas, scales, tiles })) => {
            let a = Abfp::of(m.format, k).expect("an abfp layer");
            let mant = &mantissas[o * k..(o + 1) * k];
            let s_w = &scales[o * tiles..(o + 1) * tiles];
            let count = m.rows * m.positions * a.tiles;
            let mut out = Output { w: vec![0.0; k], x: vec![0.0; k], x_mask: ones(), c: ones() };
            for (t, s_w) in s_w.iter().enumerate() {
                let range = a.tile(t, k);
                let s_x = quant::max_abs(&x[range.clone()]);
                let mut sum = 0.0f32;
                for j in range.clone() {
                    let q = if s_x == 0.0 { 0.0 } else { quant::q_bits(x[j] / s_x, a.input_bits) };
                    sum += mant[j] * q;
                    out.w[j] = s_w * mant[j];
                    out.x[j] = s_x * q;
                }
                let nu = adc_noise(m, a.adc_noise, (o * m.positions + p) * a.tiles + t, count, ctx);
                let v = a.gain_per_input * sum + nu * a.delta_out;
                if !(-1.0..=1.0).contains(&v) && s_x != 0.0 && *s_w != 0.0 {
                    range.for_each(|j| out.c[j] = 0.0);
                }
            }
            out
        }
        (Format::AnalogInt { .. }, Some(Prepared::AnalogInt { codes, scale })) => {
            let a = AnalogInt::of(m.format, k).expect("an analog_int layer");
            let w_q = &codes[o * k..(o + 1) * k];
            let adc = a.adc_noise.map(|sigma| (sigma, crate::ir::hardware::NoiseShape::Gaussian));
            let count = m.rows * m.positions * a.blocks;
            let mut out = Output { w: vec![0.0; k], x: vec![0.0; k], x_mask: vec![0.0; k], c: ones() };
            let mut total = 0.0f32;
            for blk in 0..a.blocks {
                let mut acc: i64 = 0;
                for j in a.block(blk, k) {
                    let u = x[j] / a.input_scale;
                    let x_q = u.round_ties_even().clamp(a.x_lo, a.x_hi);
                    acc += x_q as i64 * w_q[j] as i64;
                    out.w[j] = w_q[j] as f32 * scale;
                    out.x[j] = x_q * a.input_scale;
                    out.x_mask[j] = if (a.x_lo..=a.x_hi).contains(&u) { 1.0 } else { 0.0 };
                }
                let nu = adc_noise(m, adc, (o * m.positions + p) * a.blocks + blk, count, ctx);
                let code = (a.gain * acc as f32 + nu).floor();
                if !(a.adc_lo..=a.adc_hi).contains(&code) {
                    a.block(blk, k).for_each(|j| out.c[j] = 0.0);
                }
                total += code.clamp(a.adc_lo, a.adc_hi);
            }
            if !(a.adc_lo..=a.adc_hi).contains(&total) {
                out.c.iter_mut().for_each(|c| *c = 0.0);
            }
            out
        }
        _ => unreachable!("`{}`'s weights are not prepared for its format", m.name),
    }
}

/// The gradient of an accumulation with respect to each of its `products`.
fn sum_grad(acc: &Accumulate, products: &[f32], random: Option<&[u32]>, grad: OrderedGrad) -> Vec<f32> {
    match acc {
        Accumulate::Exact => vec![1.0; products.len()],
        Accumulate::Clamp { lo, hi } => {
            let s = products.iter().fold(0.0f32, |s, p| s + p);
            let pass = (*lo as f32..=*hi as f32).contains(&s);
            vec![if pass { 1.0 } else { 0.0 }; products.len()]
        }
        Accumulate::Ordered { .. } if grad == OrderedGrad::Linear => vec![1.0; products.len()],
        Accumulate::Ordered { .. } => {
            let Some(Leaky { order, lo, hi, leak }) = Leaky::of(acc) else { unreachable!("an ordered sum") };
            let idx = order_of(order, products, random);
            // Forward: which steps stayed inside the rails.
            let mut inside = Vec::with_capacity(idx.len());
            let mut s = 0.0f32;
            for i in &idx {
                let u = leak * s + products[*i];
                inside.push((lo..=hi).contains(&u));
                s = u.clamp(lo, hi);
            }
            // Backward: g = ∂y/∂s_k, from the last step down.
            let mut c = vec![0.0f32; products.len()];
            let mut g = 1.0f32;
            for (step, i) in idx.iter().enumerate().rev() {
                if !inside[step] {
                    g = 0.0;
                }
                c[*i] = g;
                g *= leak;
            }
            c
        }
    }
}

/// The gradient of a conv2d's input from its patches' gradients
/// (`[groups][positions][k]`), each patch element added back where it was read.
pub fn col2im(dpatches: &[f32], shape: &[usize], w: Window, groups: usize) -> Vec<f32> {
    let (c, h, wd) = (shape[0], shape[1], shape[2]);
    let cg = c / groups;
    let [oh, ow] = w.out(h, wd);
    let mut dx = vec![0.0f32; c * h * wd];
    let mut at = 0;
    for g in 0..groups {
        for i in 0..oh {
            for j in 0..ow {
                for ch in 0..cg {
                    for u in 0..w.kernel[0] {
                        for v in 0..w.kernel[1] {
                            let (r, t) = (w.tap(0, i, u), w.tap(1, j, v));
                            if r >= 0 && t >= 0 && (r as usize) < h && (t as usize) < wd {
                                dx[((g * cg + ch) * h + r as usize) * wd + t as usize] += dpatches[at];
                            }
                            at += 1;
                        }
                    }
                }
            }
        }
    }
    dx
}
