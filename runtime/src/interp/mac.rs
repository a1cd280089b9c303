//! A multiply-accumulate layer (dense, conv1d, conv2d) with its number format,
//! multiplier and accumulation, as `docs/language.md` §6.2–6.4 define them.
//! Each output `(o, p)` reduces weight row `o` against the input patch of
//! position `p` (a dense layer has one position, its patch the whole input).

use super::noise::{eps, Ctx};
use super::observe::Observer;
use crate::derived::format::{Abfp, AnalogInt, Int8Input, Leaky, SQRT_3};
use crate::derived::noise::adc_site;
use crate::ir::hardware::{Accumulate, Draw, Format, NoiseShape, Order};
use crate::ir::NodeId;
use crate::product_table::ProductTable;
use crate::quant::{self, Prepared};

pub struct Mac<'a> {
    pub rows: usize,
    pub k: usize,
    pub groups: usize,
    pub positions: usize,
    /// `[groups][positions][k]`
    pub patches: &'a [f32],
    /// `[rows][k]`, after any weight noise.
    pub weight: &'a [f32],
    pub prepared: Option<&'a Prepared>,
    pub bias: Option<&'a [f32]>,
    pub format: &'a Format,
    pub accumulate: &'a Accumulate,
    /// The product table of an approximate multiplier; `None` is exact.
    pub table: Option<&'a ProductTable>,
    /// The per-chip permutation of `order = random`.
    pub order: Option<&'a [u32]>,
    /// The node, for observers.
    pub id: NodeId,
    pub name: &'a str,
    pub uid: u32,
    /// A user noise site with σ in `lsb`, added at each ADC conversion.
    pub lsb_noise: Option<(u32, f32)>,
}

/// `[rows][positions]`. `m.prepared` holds the weights of `m.format`
/// (`Interpreter::new` checks the graph's; a trial prepares its own).
pub fn run<O: Observer + ?Sized>(m: &Mac, ctx: Ctx, obs: &mut O) -> Vec<f32> {
    let per_group = m.rows / m.groups;
    let inputs = QuantizedPatches::of(m);
    let mut out = vec![0.0; m.rows * m.positions];
    for o in 0..m.rows {
        let g = o / per_group;
        let w = &m.weight[o * m.k..(o + 1) * m.k];
        for p in 0..m.positions {
            let patch = g * m.positions + p;
            let x = &m.patches[patch * m.k..][..m.k];
            let conversion = o * m.positions + p;
            let y = match (m.format, m.prepared, &inputs) {
                // A digital FP32 sum: one fused multiply-add per product, in `k` order.
                (Format::Fp32, _, _) if *m.accumulate == Accumulate::Exact => fp32_sum(w, x),
                (Format::Fp32, _, _) if matches!(m.accumulate, Accumulate::Clamp { .. }) => {
                    let Accumulate::Clamp { lo, hi } = *m.accumulate else { unreachable!("a clamped sum") };
                    fp32_sum(w, x).clamp(lo as f32, hi as f32)
                }
                (Format::Fp32, _, _) => {
                    let products: Vec<f32> = w.iter().zip(x).map(|(w, x)| w * x).collect();
                    accumulate(m.accumulate, &products, m.order)
                }
                (
                    Format::Int8 { .. },
                    Some(Prepared::Int8 { codes, scales, zero_points }),
                    QuantizedPatches::Int8(x_q),
                ) => {
                    let i = quant::scale_index(scales.len(), o);
                    let w_q = &codes[o * m.k..(o + 1) * m.k];
                    int8(m, &x_q[patch * m.k..][..m.k], w_q, scales[i], zero_points[i], obs)
                }
                (
                    Format::Abfp { .. },
                    Some(Prepared::Abfp { mantissas, scales, tiles }),
                    QuantizedPatches::Abfp { mantissas: x_m, scales: s_x },
                ) => {
                    let mant = &mantissas[o * m.k..(o + 1) * m.k];
                    let x = (&x_m[patch * m.k..][..m.k], &s_x[patch * tiles..][..*tiles]);
                    abfp(m, x, mant, &scales[o * tiles..(o + 1) * tiles], conversion, ctx, obs)
                }
                (
                    Format::AnalogInt { .. },
                    Some(Prepared::AnalogInt { codes, scale }),
                    QuantizedPatches::AnalogInt(x_q),
                ) => {
                    let x_q = &x_q[patch * m.k..][..m.k];
                    analog_int(m, x_q, &codes[o * m.k..(o + 1) * m.k], *scale, conversion, ctx)
                }
                _ => unreachable!("`{}`'s weights are not prepared for its format", m.name),
            };
            out[o * m.positions + p] = y + m.bias.map_or(0.0, |b| b[o]);
        }
    }
    out
}

/// `Σ_j w[j]·x[j]` in `j` order from 0, each step `s = fma(w[j], x[j], s)`:
/// the FP32 sum of `docs/language.md` §6.2.
pub fn fp32_sum(w: &[f32], x: &[f32]) -> f32 {
    crate::kernels::dot::fma_dot(w, x)
}

/// The input patches as the format reads them. They do not depend on the
/// weight row, so they are quantized once per call, not once per output.
pub(crate) enum QuantizedPatches {
    Fp32,
    /// `[groups][positions][k]` codes.
    Int8(Vec<i32>),
    /// `[groups][positions][k]` mantissas `q(x / s_x)` and `[groups][positions][tiles]`
    /// tile scales `s_x = max |x|` over the tile (a zero scale's mantissas are 0, unused).
    Abfp {
        mantissas: Vec<f32>,
        scales: Vec<f32>,
    },
    /// `[groups][positions][k]` input steps.
    AnalogInt(Vec<i64>),
}

impl QuantizedPatches {
    pub(crate) fn of(m: &Mac) -> QuantizedPatches {
        let x = m.patches;
        match m.format {
            Format::Fp32 => QuantizedPatches::Fp32,
            Format::Int8 { .. } => {
                let input = Int8Input::of(m.format).expect("an int8 layer");
                QuantizedPatches::Int8(x.iter().map(|v| input.code(*v)).collect())
            }
            Format::Abfp { .. } => {
                let c = Abfp::of(m.format, m.k).expect("an abfp layer");
                let mut mantissas = vec![0.0f32; x.len()];
                let mut scales = Vec::with_capacity(x.len() / m.k.max(1) * c.tiles);
                for (patch, out) in x.chunks_exact(m.k).zip(mantissas.chunks_exact_mut(m.k)) {
                    for t in 0..c.tiles {
                        let range = c.tile(t, m.k);
                        let s_x = quant::max_abs(&patch[range.clone()]);
                        if s_x != 0.0 {
                            for j in range {
                                out[j] = quant::q_bits(patch[j] / s_x, c.input_bits);
                            }
                        }
                        scales.push(s_x);
                    }
                }
                QuantizedPatches::Abfp { mantissas, scales }
            }
            Format::AnalogInt { .. } => {
                let c = AnalogInt::of(m.format, m.k).expect("an analog_int layer");
                let steps = x.iter().map(|v| quant::round_even(v / c.input_scale).clamp(c.x_lo, c.x_hi) as i64);
                QuantizedPatches::AnalogInt(steps.collect())
            }
        }
    }
}

/// Sums `products` as the accumulation says (`random`: the chip's
/// permutation, present for `order = random`).
pub fn accumulate(acc: &Accumulate, products: &[f32], random: Option<&[u32]>) -> f32 {
    match acc {
        Accumulate::Exact => products.iter().fold(0.0, |s, p| s + p),
        Accumulate::Clamp { lo, hi } => products.iter().fold(0.0f32, |s, p| s + p).clamp(*lo as f32, *hi as f32),
        Accumulate::Ordered { .. } => {
            let Some(Leaky { order, lo, hi, leak }) = Leaky::of(acc) else { unreachable!("an ordered sum") };
            let idx = order_of(order, products, random);
            idx.iter().fold(0.0f32, |s, i| (leak * s + products[*i]).clamp(lo, hi))
        }
    }
}

/// The order in which an ordered sum adds `products` (`random`: the chip's
/// permutation, present for `order = random`).
pub fn order_of(order: Order, products: &[f32], random: Option<&[u32]>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..products.len()).collect();
    match order {
        Order::Natural => {}
        Order::Reversed => idx.reverse(),
        // Stable sorts: ties keep natural order.
        Order::Ascending => idx.sort_by(|a, b| products[*a].abs().total_cmp(&products[*b].abs())),
        Order::Descending => idx.sort_by(|a, b| products[*b].abs().total_cmp(&products[*a].abs())),
        Order::PositiveFirst => idx.sort_by_key(|i| products[*i] < 0.0),
        Order::NegativeFirst => idx.sort_by_key(|i| products[*i] >= 0.0),
        Order::Random => idx = random.expect("random order drawn per chip").iter().map(|i| *i as usize).collect(),
    }
    idx
}

/// Output `o`'s int8 sum: input codes `x_q` against weight codes `w_q` (scale `s_w`, zero point `z_w`).
fn int8<O: Observer + ?Sized>(m: &Mac, x_q: &[i32], w_q: &[i32], s_w: f32, z_w: i32, obs: &mut O) -> f32 {
    let input = Int8Input::of(m.format).expect("an int8 layer");
    let z_x = input.zero;
    if obs.wants_operands() {
        for (x_q, w_q) in x_q.iter().zip(w_q) {
            obs.operands(m.id, *x_q, *w_q);
        }
    }
    let terms = x_q.iter().zip(w_q).map(|(x_q, w_q)| int8_term(m.table, *x_q, *w_q, z_x, z_w));
    let scale = input.scale * s_w;
    match m.accumulate {
        // Integer sums are exact; one rounding when dequantizing.
        Accumulate::Exact => scale * terms.sum::<i64>() as f32,
        acc => {
            let products: Vec<f32> = terms.map(|t| scale * t as f32).collect();
            accumulate(acc, &products, m.order)
        }
    }
}

/// One int8 product with its zero-point corrections,
/// `p(x_q, w_q) − z_w·x_q − z_x·w_q + z_x·z_w`, `p` the multiplier (`table`, or exact).
pub fn int8_term(table: Option<&ProductTable>, x_q: i32, w_q: i32, z_x: i32, z_w: i32) -> i64 {
    let product = table.map_or(x_q * w_q, |t| t.product(x_q, w_q)) as i64;
    product - (z_w * x_q) as i64 - (z_x * w_q) as i64 + (z_x * z_w) as i64
}

/// ADC noise of one conversion, in ADC steps: the format's own (`adc`: σ
/// and shape) plus a user site's `lsb` noise.
pub fn adc_noise(m: &Mac, adc: Option<(f32, NoiseShape)>, conversion: usize, count: usize, ctx: Ctx) -> f32 {
    let mut nu = 0.0f32;
    if let Some((sigma, shape)) = adc {
        let site = adc_site(m.uid);
        nu += sigma
            * match shape {
                NoiseShape::Gaussian => eps(ctx, Draw::Dynamic, site, count, conversion),
                NoiseShape::Uniform => {
                    let element = (ctx.rep as usize).wrapping_mul(count).wrapping_add(conversion) as u32;
                    let u = crate::rng::uniform(ctx.seed, ctx.trial, ctx.sample, site, element);
                    (2.0 * u - 1.0) * SQRT_3
                }
            };
    }
    if let Some((site, sigma)) = m.lsb_noise {
        nu += sigma * eps(ctx, Draw::Dynamic, site, count, conversion);
    }
    nu
}

/// Output `(o, p)`'s ABFP sum: the input's mantissas and tile scales `x`
/// against the weights' `mantissas` and tile scales `s_w`.
fn abfp<O: Observer + ?Sized>(
    m: &Mac,
    (x_m, s_x): (&[f32], &[f32]),
    mantissas: &[f32],
    s_w: &[f32],
    conversion: usize,
    ctx: Ctx,
    obs: &mut O,
) -> f32 {
    let c = Abfp::of(m.format, m.k).expect("an abfp layer");
    let count = m.rows * m.positions * c.tiles;
    let mut y = 0.0f32;
    for (t, (s_w, s_x)) in s_w.iter().zip(s_x).enumerate() {
        if *s_x == 0.0 || *s_w == 0.0 {
            continue;
        }
        let range = c.tile(t, m.k);
        let p = crate::kernels::dot::fma_dot(&mantissas[range.clone()], &x_m[range]);
        let nu = adc_noise(m, c.adc_noise, conversion * c.tiles + t, count, ctx);
        let v = c.gain_per_input * p + nu * c.delta_out;
        obs.adc(m.id, v);
        y += s_w * s_x * c.n as f32 / c.gain * quant::q_bits(v, c.adc_bits);
    }
    y
}

/// Output `(o, p)`'s integer analog sum: input steps `x_q` against weight codes `w_q` (scale `s_w`).
fn analog_int(m: &Mac, x_q: &[i64], w_q: &[i32], s_w: f32, conversion: usize, ctx: Ctx) -> f32 {
    let c = AnalogInt::of(m.format, m.k).expect("an analog_int layer");
    let adc = c.adc_noise.map(|sigma| (sigma, NoiseShape::Gaussian));
    let count = m.rows * m.positions * c.blocks;
    let mut total = 0.0f32;
    for b in 0..c.blocks {
        let mut acc: i64 = 0;
        for j in c.block(b, m.k) {
            acc += x_q[j] * w_q[j] as i64;
        }
        let nu = adc_noise(m, adc, conversion * c.blocks + b, count, ctx);
        total += (c.gain * acc as f32 + nu).floor().clamp(c.adc_lo, c.adc_hi);
    }
    total.clamp(c.adc_lo, c.adc_hi) * c.input_scale * s_w / c.gain
}
