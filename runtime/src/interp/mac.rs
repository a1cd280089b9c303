//! A multiply-accumulate layer (dense, conv2d) with its number format,
//! multiplier and accumulation, as `docs/language.md` §6.2–6.4 define them.
//! Each output `(o, p)` reduces weight row `o` against the input patch of
//! position `p` (a dense layer has one position, its patch the whole input).

use super::noise::{eps, Ctx};
use super::observe::Observer;
use crate::ir::hardware::{Accumulate, Draw, Format, NoiseShape, Order};
use crate::ir::NodeId;
use crate::product_table::ProductTable;
use crate::quant::{self, Prepared};

/// Random draws of a node that belong to no noise site are keyed by these
/// sites plus the node's uid.
pub const ADC_SITE: u32 = 0x8000_0000;
pub const ORDER_SITE: u32 = 0x4000_0000;

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
    pub uid: u32,
    /// A user noise site with σ in `lsb`, added at each ADC conversion.
    pub lsb_noise: Option<(u32, f32)>,
}

/// `[rows][positions]`
pub fn run<O: Observer + ?Sized>(m: &Mac, ctx: Ctx, obs: &mut O) -> Vec<f32> {
    let per_group = m.rows / m.groups;
    let mut out = vec![0.0; m.rows * m.positions];
    for o in 0..m.rows {
        let g = o / per_group;
        let w = &m.weight[o * m.k..(o + 1) * m.k];
        for p in 0..m.positions {
            let x = &m.patches[(g * m.positions + p) * m.k..][..m.k];
            let conversion = o * m.positions + p;
            let y = match m.format {
                // The same left-to-right sum as `accumulate`, without the products vector.
                Format::Fp32 if *m.accumulate == Accumulate::Exact => {
                    w.iter().zip(x).fold(0.0f32, |s, (w, x)| s + w * x)
                }
                Format::Fp32 => {
                    let products: Vec<f32> = w.iter().zip(x).map(|(w, x)| w * x).collect();
                    accumulate(m.accumulate, &products, m.order)
                }
                Format::Int8 { .. } => int8(m, o, x, obs),
                Format::Abfp { .. } => abfp(m, o, x, conversion, ctx, obs),
                Format::AnalogInt { .. } => analog_int(m, x, o, conversion, ctx),
            };
            out[o * m.positions + p] = y + m.bias.map_or(0.0, |b| b[o]);
        }
    }
    out
}

/// Sums `products` as the accumulation says.
pub fn accumulate(acc: &Accumulate, products: &[f32], random: Option<&[u32]>) -> f32 {
    match acc {
        Accumulate::Exact => products.iter().fold(0.0, |s, p| s + p),
        Accumulate::Clamp { lo, hi } => products.iter().fold(0.0f32, |s, p| s + p).clamp(*lo as f32, *hi as f32),
        Accumulate::Ordered { order, lo, hi, leak } => {
            let (lo, hi, leak) = (*lo as f32, *hi as f32, *leak as f32);
            let mut idx: Vec<usize> = (0..products.len()).collect();
            match order {
                Order::Natural => {}
                Order::Reversed => idx.reverse(),
                // Stable sorts: ties keep natural order.
                Order::Ascending => idx.sort_by(|a, b| products[*a].abs().total_cmp(&products[*b].abs())),
                Order::Descending => idx.sort_by(|a, b| products[*b].abs().total_cmp(&products[*a].abs())),
                Order::PositiveFirst => idx.sort_by_key(|i| products[*i] < 0.0),
                Order::NegativeFirst => idx.sort_by_key(|i| products[*i] >= 0.0),
                Order::Random => {
                    idx = random.expect("random order drawn per chip").iter().map(|i| *i as usize).collect()
                }
            }
            idx.iter().fold(0.0f32, |s, i| (leak * s + products[*i]).clamp(lo, hi))
        }
    }
}

fn int8<O: Observer + ?Sized>(m: &Mac, o: usize, x: &[f32], obs: &mut O) -> f32 {
    let Format::Int8 { signed, input_range, .. } = m.format else { unreachable!() };
    let Some(Prepared::Int8 { codes, scales, zero_points }) = m.prepared else { panic!("int8 weights not prepared") };
    let group = if scales.len() == 1 { 0 } else { o };
    let (s_w, z_w) = (scales[group], zero_points[group]);
    let (lo, hi) = (input_range[0] as f32, input_range[1] as f32);
    let (s_x, z_x) =
        if *signed { (quant::symmetric_scale(lo.abs().max(hi.abs())), 0) } else { quant::asymmetric_params(lo, hi) };
    let w_codes = &codes[o * m.k..(o + 1) * m.k];
    if obs.wants_operands() {
        for (x, w_q) in x.iter().zip(w_codes) {
            let x_q = if *signed { quant::symmetric_code(*x, s_x) } else { quant::asymmetric_code(*x, s_x, z_x) };
            obs.operands(m.id, x_q, *w_q);
        }
    }
    let terms: Vec<i64> = x
        .iter()
        .zip(w_codes)
        .map(|(x, w_q)| {
            let x_q = if *signed { quant::symmetric_code(*x, s_x) } else { quant::asymmetric_code(*x, s_x, z_x) };
            let product = m.table.map_or(x_q * w_q, |t| t.product(x_q, *w_q)) as i64;
            product - (z_w * x_q) as i64 - (z_x * w_q) as i64 + (z_x * z_w) as i64
        })
        .collect();
    let scale = s_x * s_w;
    match m.accumulate {
        // Integer sums are exact; one rounding when dequantizing.
        Accumulate::Exact => scale * terms.iter().sum::<i64>() as f32,
        acc => {
            let products: Vec<f32> = terms.iter().map(|t| scale * *t as f32).collect();
            accumulate(acc, &products, m.order)
        }
    }
}

/// ADC noise of one conversion, in ADC steps: the format's own plus a user
/// site's `lsb` noise.
fn adc_noise(m: &Mac, sigma: f64, shape: NoiseShape, conversion: usize, count: usize, ctx: Ctx) -> f32 {
    let mut nu = 0.0f32;
    if sigma > 0.0 {
        let site = ADC_SITE.wrapping_add(m.uid);
        nu += sigma as f32
            * match shape {
                NoiseShape::Gaussian => eps(ctx, Draw::Dynamic, site, count, conversion),
                NoiseShape::Uniform => {
                    let element = (ctx.rep as usize).wrapping_mul(count).wrapping_add(conversion) as u32;
                    let u = crate::rng::uniform(ctx.seed, ctx.trial, ctx.sample, site, element);
                    (2.0 * u - 1.0) * 3.0f32.sqrt()
                }
            };
    }
    if let Some((site, sigma)) = m.lsb_noise {
        nu += sigma * eps(ctx, Draw::Dynamic, site, count, conversion);
    }
    nu
}

fn abfp<O: Observer + ?Sized>(m: &Mac, o: usize, x: &[f32], conversion: usize, ctx: Ctx, obs: &mut O) -> f32 {
    let Format::Abfp { block, input_bits, adc_bits, gain, adc_noise: sigma, adc_noise_kind, .. } = m.format else {
        unreachable!()
    };
    let Some(Prepared::Abfp { mantissas, scales, tiles }) = m.prepared else { panic!("abfp weights not prepared") };
    let n = *block as usize;
    let g = *gain as f32;
    let delta_out = 1.0 / ((1u64 << (adc_bits - 1)) - 1) as f32;
    let count = m.rows * m.positions * tiles;
    let mut y = 0.0f32;
    for t in 0..*tiles {
        let range = t * n..((t + 1) * n).min(m.k);
        let s_w = scales[o * tiles + t];
        let s_x = x[range.clone()].iter().fold(0.0f32, |a, v| a.max(v.abs()));
        if s_x == 0.0 || s_w == 0.0 {
            continue;
        }
        let mut p = 0.0f32;
        for j in range {
            p += mantissas[o * m.k + j] * quant::q_bits(x[j] / s_x, *input_bits);
        }
        let nu = adc_noise(m, *sigma, *adc_noise_kind, conversion * tiles + t, count, ctx);
        let v = g / n as f32 * p + nu * delta_out;
        obs.adc(m.id, v);
        y += s_w * s_x * n as f32 / g * quant::q_bits(v, *adc_bits);
    }
    y
}

fn analog_int(m: &Mac, x: &[f32], o: usize, conversion: usize, ctx: Ctx) -> f32 {
    let Format::AnalogInt { block, input_bits, input_signed, adc_bits, gain, input_scale, adc_noise: sigma, .. } =
        m.format
    else {
        unreachable!()
    };
    let Some(Prepared::AnalogInt { codes, scale: s_w }) = m.prepared else { panic!("analog_int weights not prepared") };
    let (x_lo, x_hi) = if *input_signed {
        let l = ((1i64 << (input_bits - 1)) - 1) as f32;
        (-l, l)
    } else {
        (0.0, ((1i64 << input_bits) - 1) as f32)
    };
    let adc_lo = -((1i64 << (adc_bits - 1)) as f32);
    let adc_hi = ((1i64 << (adc_bits - 1)) - 1) as f32;
    let (n, g, s_in) = (*block as usize, *gain as f32, *input_scale as f32);
    let blocks = m.k.div_ceil(n);
    let count = m.rows * m.positions * blocks;
    let mut total = 0.0f32;
    for b in 0..blocks {
        let mut acc: i64 = 0;
        for j in b * n..((b + 1) * n).min(m.k) {
            let x_q = (x[j] / s_in).round_ties_even().clamp(x_lo, x_hi) as i64;
            acc += x_q * codes[o * m.k + j] as i64;
        }
        let nu = adc_noise(m, *sigma, NoiseShape::Gaussian, conversion * blocks + b, count, ctx);
        total += (g * acc as f32 + nu).floor().clamp(adc_lo, adc_hi);
    }
    total.clamp(adc_lo, adc_hi) * s_in * s_w / g
}
