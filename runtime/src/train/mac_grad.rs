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
use super::parallel;
use crate::derived::format::{Abfp, AnalogInt, Int8Input, Leaky};
use crate::derived::noise::lsb_noise;
use crate::derived::window::{plane, Window};
use crate::interp::mac::{adc_noise, int8_term, order_of, Mac, QuantizedPatches};
use crate::interp::noise::Ctx;
use crate::interp::ops;
use crate::interp::weights_redrawn;
use crate::ir::hardware::{Accumulate, Format};
use crate::ir::{Node, NodeId, NodeKind, Op};
use crate::kernels::wide::wide_dispatch;
use crate::quant::{self, Prepared};
use std::borrow::Cow;
use std::sync::OnceLock;

/// One sample's gradients of a MAC layer.
pub struct SampleGrads {
    /// `[input]`, when asked for.
    pub dx: Option<Vec<f32>>,
    /// The weight's shape.
    pub dw: Vec<f32>,
}

/// What one sample's gradients of a MAC layer read: its weights (with the
/// weight noise of its inference), its patches, their quantized codes, and
/// the input operands `x̃` the hardware multiplied, with their clipping mask.
struct SampleOperands<'a> {
    weight: Cow<'a, [f32]>,
    prepared: Option<Cow<'a, Prepared>>,
    /// `[groups][positions][k]`
    patches: Vec<f32>,
    positions: usize,
    k: usize,
    groups: usize,
    quantized: QuantizedPatches,
    x_ops: Vec<f32>,
    x_mask: Vec<f32>,
    ctx: Ctx,
}

impl<'a> SampleOperands<'a> {
    /// Sample `b`'s, with input `x` (one sample), at repetition `rep`.
    fn of(pass: &'a Pass, id: NodeId, op: &Op, x: &[f32], x_shape: &[usize], b: usize, rep: u32) -> Self {
        let ctx = pass.ctx(b, rep);
        let (weight, prepared) = pass.interp.mac_weights(pass.chip, id, ctx);
        let (patches, positions, k, groups) = match (op, Window::of(op)) {
            (Op::Conv1d { groups, .. } | Op::Conv2d { groups, .. }, Some(w)) => {
                let (p, positions, k) = ops::patches(x, &plane(x_shape), w.kernel, w.stride, w.padding, *groups);
                (p, positions, k, *groups)
            }
            _ => (x.to_vec(), 1, x.len(), 1),
        };
        let mut s = SampleOperands {
            weight,
            prepared,
            patches,
            positions,
            k,
            groups,
            quantized: QuantizedPatches::Fp32,
            x_ops: vec![],
            x_mask: vec![],
            ctx,
        };
        let m = s.mac(pass, id);
        let quantized = QuantizedPatches::of(&m);
        let (x_ops, x_mask) = input_operands(&m, &quantized);
        (s.quantized, s.x_ops, s.x_mask) = (quantized, x_ops, x_mask);
        s
    }

    /// The layer as this sample's inference ran it (without its bias, which
    /// the backward takes apart).
    fn mac<'s>(&'s self, pass: &'s Pass, id: NodeId) -> Mac<'s> {
        let node = pass.graph.node(id);
        Mac {
            rows: node.param("weight").expect("checked: a MAC layer has weights").shape[0],
            k: self.k,
            groups: self.groups,
            positions: self.positions,
            patches: &self.patches,
            weight: &self.weight,
            prepared: self.prepared.as_deref(),
            bias: None,
            format: &node.hw.format,
            accumulate: &node.hw.accumulate,
            table: pass.interp.table(id),
            order: pass.interp.order(pass.chip, id),
            id,
            name: &node.name,
            uid: node.uid,
            lsb_noise: lsb_noise(node),
        }
    }
}

/// Sample `b`'s gradients of MAC node `id` with input `x` (one sample), for
/// its output gradient `dy` (`[rows, positions]`) at repetition `rep`.
/// `shared`: where the batch's samples keep the `weight_operands` they
/// share (`None` when the weights are redrawn for every inference): the
/// first sample to need them computes them.
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
    shared: Option<&OnceLock<Vec<f32>>>,
) -> SampleGrads {
    let s = SampleOperands::of(pass, id, op, x, x_shape, b, rep);
    let m = s.mac(pass, id);
    let own;
    let w_ops: &[f32] = match shared {
        Some(once) => once.get_or_init(|| weight_operands(&m)),
        None => {
            own = weight_operands(&m);
            &own
        }
    };
    let (rows, k, positions) = (m.rows, s.k, s.positions);
    let per_group = rows / s.groups;
    let mut dw = vec![0.0f32; rows * k];
    let mut dpatches = want_dx.then(|| vec![0.0f32; s.patches.len()]);
    for o in 0..rows {
        let g = o / per_group;
        let w = &w_ops[o * k..][..k];
        for p in 0..positions {
            let d = dy[o * positions + p];
            if d == 0.0 {
                continue;
            }
            let at = (g * positions + p) * k;
            let (x, x_mask) = (&s.x_ops[at..at + k], &s.x_mask[at..at + k]);
            let c = product_grads(pass, &m, &s.quantized, o, p, at, s.ctx);
            let dx = dpatches.as_deref_mut().map(|dp| &mut dp[at..at + k]);
            add_terms(d, c.as_deref(), (x, w, x_mask), Some(&mut dw[o * k..][..k]), dx);
        }
    }
    let dx = dpatches.map(|dpatches| match (op, Window::of(op)) {
        (Op::Conv1d { groups, .. } | Op::Conv2d { groups, .. }, Some(w)) => {
            col2im(&dpatches, &plane(x_shape), w, *groups)
        }
        _ => dpatches,
    });
    SampleGrads { dx, dw }
}

/// Whether [`dense_by_rows`] takes dense node `node`'s backward: its weights
/// are the same for the batch's samples, and each product's gradient is
/// computed once (the input's gradient is not wanted, or every product's
/// gradient is 1: FP32 or int8 with an exact sum).
pub fn by_rows(node: &Node, want_dx: bool) -> bool {
    let NodeKind::Op { op: Op::Dense { .. }, .. } = &node.kind else { return false };
    let all_one =
        matches!(node.hw.format, Format::Fp32 | Format::Int8 { .. }) && node.hw.accumulate == Accumulate::Exact;
    !weights_redrawn(node) && (!want_dx || all_one)
}

/// A dense layer's `(dx, dW)` for the batch ([`by_rows`]), the bits of
/// [`sample`]'s summed in sample order, without a weight-sized gradient per
/// sample: `dx` sample by sample, and `dW` output row by output row, each
/// row's terms added sample after sample (sample `b`'s row of terms summed
/// from zero, as `sample` sums it, then added to the row's total).
#[allow(clippy::too_many_arguments)]
pub fn dense_by_rows(
    pass: &Pass,
    id: NodeId,
    op: &Op,
    x: &[f32],
    x_shape: &[usize],
    dy: &[f32],
    rep: u32,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>) {
    /// Output rows per task of the weight gradient.
    const ROWS: usize = 8;
    let batch = pass.batch();
    let (size, rows) = (x.len() / batch, dy.len() / batch);
    let samples = parallel::map(batch, |b| SampleOperands::of(pass, id, op, &x[b * size..][..size], x_shape, b, rep));
    let macs: Vec<Mac> = samples.iter().map(|s| s.mac(pass, id)).collect();
    let k = size;
    let w_ops = weight_operands(&macs[0]);
    let terms = |b: usize, o: usize, dw: Option<&mut [f32]>, dx: Option<&mut [f32]>| {
        let (s, d) = (&samples[b], dy[b * rows + o]);
        if d != 0.0 {
            let c = product_grads(pass, &macs[b], &s.quantized, o, 0, 0, s.ctx);
            add_terms(d, c.as_deref(), (&s.x_ops, &w_ops[o * k..][..k], &s.x_mask), dw, dx);
        }
    };
    let dx = want_dx.then(|| {
        let mut dx = vec![0.0f32; batch * k];
        parallel::chunks_mut(&mut dx, k, |b, dxb| (0..rows).for_each(|o| terms(b, o, None, Some(&mut *dxb))));
        dx
    });
    let mut dw = vec![0.0f32; rows * k];
    parallel::chunks_mut(&mut dw, ROWS * k, |part, dw| {
        let mut row = vec![0.0f32; k];
        for (i, total) in dw.chunks_mut(k).enumerate() {
            for b in 0..batch {
                row.fill(0.0);
                terms(b, part * ROWS + i, Some(&mut row), None);
                total.iter_mut().zip(&row).for_each(|(t, r)| *t += r);
            }
        }
    });
    (dx, dw)
}

wide_dispatch! {
    /// One output's products' terms, element by element: with `dc = d·c_j`
    /// (`d` where `c` is `None`, every `c_j` 1), `dw_j += dc·x̃_j` and, when
    /// the input's gradient is wanted, `dx_j += (dc·w̃_j)·mask_j`; `operands`
    /// are `(x̃, w̃, mask)`. Also the ordered-sum fast path's (`ordered`).
    pub(super) fn add_terms(d: f32, c: Option<&[f32]>, operands: (&[f32], &[f32], &[f32]), dw: Option<&mut [f32]>, dx: Option<&mut [f32]>) = add_terms_body
}

#[inline(always)]
fn add_terms_body(
    d: f32,
    c: Option<&[f32]>,
    (x, w, mask): (&[f32], &[f32], &[f32]),
    dw: Option<&mut [f32]>,
    dx: Option<&mut [f32]>,
) {
    let n = w.len();
    let (x, w, mask) = (&x[..n], &w[..n], &mask[..n]);
    match c {
        Some(c) => {
            let c = &c[..n];
            if let Some(dw) = dw {
                let dw = &mut dw[..n];
                for j in 0..n {
                    dw[j] += d * c[j] * x[j];
                }
            }
            if let Some(dx) = dx {
                let dx = &mut dx[..n];
                for j in 0..n {
                    dx[j] += d * c[j] * w[j] * mask[j];
                }
            }
        }
        None => {
            if let Some(dw) = dw {
                let dw = &mut dw[..n];
                for j in 0..n {
                    dw[j] += d * x[j];
                }
            }
            if let Some(dx) = dx {
                let dx = &mut dx[..n];
                for j in 0..n {
                    dx[j] += d * w[j] * mask[j];
                }
            }
        }
    }
}

/// `w̃`, `[rows][k]`: the weights the hardware multiplied by. It depends on
/// the weights only, so a batch's samples share it unless the weights are
/// redrawn for every inference.
fn weight_operands(m: &Mac) -> Vec<f32> {
    let k = m.k;
    match (m.format, m.prepared) {
        (Format::Fp32, _) => m.weight.to_vec(),
        (Format::Int8 { .. }, Some(Prepared::Int8 { codes, scales, zero_points })) => {
            let mut w = Vec::with_capacity(codes.len());
            for (o, row) in codes.chunks_exact(k).enumerate() {
                let i = quant::scale_index(scales.len(), o);
                let (z_w, s_w) = (zero_points[i], scales[i]);
                w.extend(row.iter().map(|q| (q - z_w) as f32 * s_w));
            }
            w
        }
        (Format::Abfp { .. }, Some(Prepared::Abfp { mantissas, scales, tiles })) => {
            tiled(&Abfp::of(m.format, k).expect("an abfp layer"), k, *tiles, mantissas, scales)
        }
        (Format::AnalogInt { .. }, Some(Prepared::AnalogInt { codes, scale })) => {
            codes.iter().map(|q| *q as f32 * scale).collect()
        }
        _ => unreachable!("`{}`'s weights are not prepared for its format", m.name),
    }
}

/// `x̃` of every patch of `m` and its clipping mask: 1 where the input passes
/// its quantizer's clipping range, else 0 (both `[groups][positions][k]`).
fn input_operands(m: &Mac, quantized: &QuantizedPatches) -> (Vec<f32>, Vec<f32>) {
    let k = m.k;
    let x = m.patches;
    match (m.format, m.prepared, quantized) {
        (Format::Fp32, _, _) => (x.to_vec(), vec![1.0; x.len()]),
        (Format::Int8 { input_range, .. }, _, QuantizedPatches::Int8(x_q)) => {
            let input = Int8Input::of(m.format).expect("an int8 layer");
            let (lo, hi) = if input.signed {
                let r = input_range[0].abs().max(input_range[1].abs()) as f32;
                (-r, r)
            } else {
                (input_range[0] as f32, input_range[1] as f32)
            };
            (
                x_q.iter().map(|q| (q - input.zero) as f32 * input.scale).collect(),
                x.iter().map(|v| if (lo..=hi).contains(v) { 1.0 } else { 0.0 }).collect(),
            )
        }
        (
            Format::Abfp { .. },
            Some(Prepared::Abfp { tiles, .. }),
            QuantizedPatches::Abfp { mantissas: x_m, scales: s_x },
        ) => {
            let a = Abfp::of(m.format, k).expect("an abfp layer");
            (tiled(&a, k, *tiles, x_m, s_x), vec![1.0; x.len()])
        }
        (Format::AnalogInt { .. }, _, QuantizedPatches::AnalogInt(x_q)) => {
            let a = AnalogInt::of(m.format, k).expect("an analog_int layer");
            let inside = |v: &f32| (a.x_lo..=a.x_hi).contains(&(v / a.input_scale));
            (
                x_q.iter().map(|q| *q as f32 * a.input_scale).collect(),
                x.iter().map(|v| if inside(v) { 1.0 } else { 0.0 }).collect(),
            )
        }
        _ => unreachable!("`{}`'s inputs are not quantized for its format", m.name),
    }
}

/// ABFP values dequantized by their tiles' scales: row `r`'s tile `t` times
/// `tile_scales[r·tiles + t]` (rows of `k` values).
fn tiled(a: &Abfp, k: usize, tiles: usize, values: &[f32], tile_scales: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; values.len()];
    for (r, (v, o)) in values.chunks_exact(k).zip(out.chunks_exact_mut(k)).enumerate() {
        for t in 0..tiles {
            a.tile(t, k).for_each(|j| o[j] = tile_scales[r * tiles + t] * v[j]);
        }
    }
    out
}

/// `c[o, p, ·]`, the gradient of output `(o, p)`'s sum with respect to each of
/// its products (its patch at `at`); `None` when every one is 1.
fn product_grads(
    pass: &Pass,
    m: &Mac,
    quantized: &QuantizedPatches,
    o: usize,
    p: usize,
    at: usize,
    ctx: crate::interp::noise::Ctx,
) -> Option<Vec<f32>> {
    let k = m.k;
    match (m.format, m.prepared, quantized) {
        (Format::Fp32, _, _) if *m.accumulate == Accumulate::Exact => None,
        (Format::Fp32, _, _) if matches!(m.accumulate, Accumulate::Clamp { .. }) => {
            let Accumulate::Clamp { lo, hi } = *m.accumulate else { unreachable!("a clamped sum") };
            // The forward's sum: fused multiply-adds, not the rounded products.
            let s = crate::interp::mac::fp32_sum(&m.weight[o * k..(o + 1) * k], &m.patches[at..at + k]);
            Some(vec![if (lo as f32..=hi as f32).contains(&s) { 1.0 } else { 0.0 }; k])
        }
        (Format::Fp32, _, _) => {
            let w = &m.weight[o * k..(o + 1) * k];
            let products: Vec<f32> = w.iter().zip(&m.patches[at..at + k]).map(|(w, x)| w * x).collect();
            Some(sum_grad(m.accumulate, &products, m.order, pass.ordered_grad))
        }
        (Format::Int8 { .. }, _, _) if *m.accumulate == Accumulate::Exact => None,
        (Format::Int8 { .. }, Some(Prepared::Int8 { codes, scales, zero_points }), QuantizedPatches::Int8(x_q)) => {
            let input = Int8Input::of(m.format).expect("an int8 layer");
            let i = quant::scale_index(scales.len(), o);
            let (s_w, z_w) = (scales[i], zero_points[i]);
            let scale = input.scale * s_w;
            let products: Vec<f32> = x_q[at..at + k]
                .iter()
                .zip(&codes[o * k..(o + 1) * k])
                .map(|(x_q, w_q)| scale * int8_term(m.table, *x_q, *w_q, input.zero, z_w) as f32)
                .collect();
            Some(sum_grad(m.accumulate, &products, m.order, pass.ordered_grad))
        }
        (
            Format::Abfp { .. },
            Some(Prepared::Abfp { mantissas, scales, tiles }),
            QuantizedPatches::Abfp { mantissas: x_m, scales: s_x },
        ) => {
            // An ADC conversion that saturates passes no gradient to its tile.
            let a = Abfp::of(m.format, k).expect("an abfp layer");
            let mant = &mantissas[o * k..(o + 1) * k];
            let x_m = &x_m[at..at + k];
            let s_x = &s_x[at / k * tiles..][..*tiles];
            let count = m.rows * m.positions * a.tiles;
            let mut c = vec![1.0f32; k];
            for (t, s_w) in scales[o * tiles..(o + 1) * tiles].iter().enumerate() {
                let range = a.tile(t, k);
                let sum = crate::kernels::dot::fma_dot(&mant[range.clone()], &x_m[range.clone()]);
                let nu = adc_noise(m, a.adc_noise, (o * m.positions + p) * a.tiles + t, count, ctx);
                let v = a.gain_per_input * sum + nu * a.delta_out;
                if !(-1.0..=1.0).contains(&v) && s_x[t] != 0.0 && *s_w != 0.0 {
                    range.for_each(|j| c[j] = 0.0);
                }
            }
            Some(c)
        }
        (Format::AnalogInt { .. }, Some(Prepared::AnalogInt { codes, .. }), QuantizedPatches::AnalogInt(x_q)) => {
            // A block whose ADC saturates, or a total that does, passes no gradient.
            let a = AnalogInt::of(m.format, k).expect("an analog_int layer");
            let (w_q, x_q) = (&codes[o * k..(o + 1) * k], &x_q[at..at + k]);
            let adc = a.adc_noise.map(|sigma| (sigma, crate::ir::hardware::NoiseShape::Gaussian));
            let count = m.rows * m.positions * a.blocks;
            let mut c = vec![1.0f32; k];
            let mut total = 0.0f32;
            for blk in 0..a.blocks {
                let acc: i64 = a.block(blk, k).map(|j| x_q[j] * w_q[j] as i64).sum();
                let nu = adc_noise(m, adc, (o * m.positions + p) * a.blocks + blk, count, ctx);
                let code = (a.gain * acc as f32 + nu).floor();
                if !(a.adc_lo..=a.adc_hi).contains(&code) {
                    a.block(blk, k).for_each(|j| c[j] = 0.0);
                }
                total += code.clamp(a.adc_lo, a.adc_hi);
            }
            if !(a.adc_lo..=a.adc_hi).contains(&total) {
                c.iter_mut().for_each(|c| *c = 0.0);
            }
            Some(c)
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
