//! Quantization shared by every backend: int8 operands, ABFP tiles, integer
//! analog MACs. The compiler's `prepare-weights` pass runs the weight half at
//! compile time; the interpreter runs it at run time for weights that change
//! per chip (static weight noise). Formulas: `docs/language.md` §6.3.
//!
//! Rounding is half to even everywhere (IEEE's default, one instruction on
//! every target), and all arithmetic is f32.

use crate::ir::hardware::{Format, WeightScale};
use crate::tensor::Tensor;

/// Weights prepared for a number format. `rows` is the output count; each
/// row holds the `k` weights of one output (a dense row, a conv filter).
#[derive(Clone, Debug, PartialEq)]
pub enum Prepared {
    /// 8-bit codes; one scale and zero point per row (per channel) or one in all.
    Int8 { codes: Vec<i32>, scales: Vec<f32>, zero_points: Vec<i32> },
    /// ABFP: per row and tile, the scale `s_w` (`[rows, tiles]`) and the
    /// mantissas `Q_bw(w / s_w)` (`[rows, k]`).
    Abfp { mantissas: Vec<f32>, scales: Vec<f32>, tiles: usize },
    /// Integer analog MAC: codes `round(w / s_w)` and one scale.
    AnalogInt { codes: Vec<i32>, scale: f32 },
}

/// `2^(bits−1) − 1` as f32: the largest code of a symmetric `bits`-bit
/// quantizer, whose step is `δ_b = 1 / levels(bits)`.
///
/// # Panics
/// If `bits` is 0 or over 64.
pub fn levels(bits: u32) -> f32 {
    ((1u64 << (bits - 1)) - 1) as f32
}

/// `v.round_ties_even()`, the same bits, without a call into libm's `rintf`
/// where the build's target has no rounding instruction (x86-64 before
/// SSE4.1, the baseline this crate is built for; quantizing a layer's
/// weights every training step spent an eighth of a step there): adding and
/// subtracting `1.5·2²³` rounds any `|v| < 2²²` to an integer, ties to even,
/// in the default rounding mode (the sum lies in `[2²³, 2²⁴)`, where the step
/// is 1, and `1.5·2²³` is even); the sign puts back `−0` for `v` in `(−0.5, 0]`.
#[inline]
pub fn round_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    if v.abs() < 4_194_304.0 {
        ((v + MAGIC) - MAGIC).copysign(v)
    } else {
        v.round_ties_even()
    }
}

/// `Q_b(a) = round(clamp(a, −1, 1) / δ_b) · δ_b`, `δ_b = 1 / (2^(b−1) − 1)`.
pub fn q_bits(a: f32, bits: u32) -> f32 {
    let levels = levels(bits);
    round_even(a.clamp(-1.0, 1.0) * levels) / levels
}

/// `max |v|`, folded from 0 in index order (0 for an empty slice).
pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// The 8-bit codes `(lo, hi)`: `[−127, 127]` signed, `[0, 255]` unsigned.
pub fn int8_codes(signed: bool) -> (i32, i32) {
    if signed {
        (-127, 127)
    } else {
        (0, 255)
    }
}

/// Which of `scales` (and zero points) belongs to weight row `row`: one per
/// row (per channel), or one for all (per tensor).
pub fn scale_index(scales: usize, row: usize) -> usize {
    if scales == 1 {
        0
    } else {
        row
    }
}

/// Symmetric 8-bit: scale `max|v| / 127` (1 for an all-zero slice).
pub fn symmetric_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 {
        max_abs / 127.0
    } else {
        1.0
    }
}

pub fn symmetric_code(v: f32, scale: f32) -> i32 {
    let (lo, hi) = int8_codes(true);
    (round_even(v / scale) as i32).clamp(lo, hi)
}

/// Asymmetric 8-bit over `[lo, hi]` widened to contain 0: `(scale, zero point)`.
pub fn asymmetric_params(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zero = (round_even(-lo / scale) as i32).clamp(0, 255);
    (scale, zero)
}

pub fn asymmetric_code(v: f32, scale: f32, zero: i32) -> i32 {
    let (lo, hi) = int8_codes(false);
    (round_even(v / scale) as i32 + zero).clamp(lo, hi)
}

/// Prepares `weight` (`[rows, …]`) for `format`; `None` for fp32.
pub fn prepare(format: &Format, weight: &Tensor) -> Option<Prepared> {
    let rows = weight.shape[0];
    let k = weight.len() / rows.max(1);
    let row = |r: usize| &weight.data[r * k..(r + 1) * k];
    match format {
        Format::Fp32 => None,
        Format::Int8 { signed, weight_scale, .. } => {
            let groups: Vec<&[f32]> = match weight_scale {
                WeightScale::PerChannel => (0..rows).map(row).collect(),
                WeightScale::PerTensor => vec![&weight.data[..]],
            };
            let mut scales = vec![];
            let mut zero_points = vec![];
            for g in &groups {
                if *signed {
                    scales.push(symmetric_scale(max_abs(g)));
                    zero_points.push(0);
                } else {
                    let lo = g.iter().fold(f32::INFINITY, |m, x| m.min(*x));
                    let hi = g.iter().fold(f32::NEG_INFINITY, |m, x| m.max(*x));
                    let (s, z) = asymmetric_params(lo, hi);
                    scales.push(s);
                    zero_points.push(z);
                }
            }
            let codes = (0..rows)
                .flat_map(|r| {
                    let i = scale_index(scales.len(), r);
                    let (s, z) = (scales[i], zero_points[i]);
                    row(r).iter().map(move |w| if *signed { symmetric_code(*w, s) } else { asymmetric_code(*w, s, z) })
                })
                .collect();
            Some(Prepared::Int8 { codes, scales, zero_points })
        }
        Format::Abfp { block, weight_bits, .. } => {
            let n = *block as usize;
            let tiles = k.div_ceil(n);
            let mut scales = Vec::with_capacity(rows * tiles);
            let mut mantissas = Vec::with_capacity(rows * k);
            for r in 0..rows {
                for tile in row(r).chunks(n) {
                    let s = max_abs(tile);
                    scales.push(s);
                    mantissas.extend(tile.iter().map(|w| if s > 0.0 { q_bits(w / s, *weight_bits) } else { 0.0 }));
                }
            }
            Some(Prepared::Abfp { mantissas, scales, tiles })
        }
        Format::AnalogInt { weight_bits, .. } => {
            let levels = levels(*weight_bits);
            let m = max_abs(&weight.data);
            let scale = if m > 0.0 { m / levels } else { 1.0 };
            let codes = weight
                .data
                .iter()
                .map(|w| (round_even(w / scale) as i32).clamp(-(levels as i32), levels as i32))
                .collect();
            Some(Prepared::AnalogInt { codes, scale })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every float in `[-2²⁴, 2²⁴]` whose step is at most 1 (every value the
    /// rounding can move) in strides that cover each binade's halves and
    /// quarters, plus a few million bit patterns from all over, infinities
    /// and NaN: the same bits as `round_ties_even`.
    #[test]
    fn round_even_is_round_ties_even() {
        let check = |v: f32| {
            let (want, got) = (v.round_ties_even(), round_even(v));
            assert!(want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()), "{v:e}: {want:e} != {got:e}");
        };
        for bits in (0..0x4b80_0000u32).step_by(4099) {
            check(f32::from_bits(bits));
            check(-f32::from_bits(bits));
        }
        for i in -40_000..40_000 {
            check(i as f32 * 0.25);
            check(4_194_304.0 + i as f32 * 0.5);
            check(-4_194_304.0 + i as f32 * 0.5);
        }
        let mut state = 1u64;
        for _ in 0..4_000_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            check(f32::from_bits((state >> 32) as u32));
        }
        for v in [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX, f32::MIN]
        {
            check(v);
        }
    }

    #[test]
    fn q_bits_rounds_to_the_grid_and_clamps() {
        assert_eq!(q_bits(0.5, 2), 0.0); // δ = 1: ties go to even (0)
        assert_eq!(q_bits(0.75, 2), 1.0);
        assert_eq!(q_bits(3.0, 8), 1.0);
        assert_eq!(q_bits(-0.5, 3), -2.0 / 3.0); // δ = 1/3: −0.5·3 = −1.5 → −2 (even)
    }

    #[test]
    fn symmetric_int8_per_channel() {
        let w = Tensor::new(vec![2, 2], vec![1.0, -0.5, 0.0, 2.0]);
        let fmt = Format::Int8 { signed: true, weight_scale: WeightScale::PerChannel, input_range: [0.0, 1.0] };
        let Some(Prepared::Int8 { codes, scales, zero_points }) = prepare(&fmt, &w) else { panic!() };
        assert_eq!(scales, vec![1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(codes, vec![127, -64, 0, 127]); // −63.5 → −64 (even)
        assert_eq!(zero_points, vec![0, 0]);
    }

    #[test]
    fn asymmetric_params_contain_zero() {
        let (s, z) = asymmetric_params(0.5, 2.0);
        assert_eq!(z, 0);
        assert_eq!(s, 2.0 / 255.0);
        let (s, z) = asymmetric_params(-1.0, 1.0);
        assert_eq!(s, 2.0 / 255.0);
        assert_eq!(z, 127); // 1 / f32(2/255) = 127.49999… → 127
        assert_eq!(asymmetric_code(0.0, s, z), z);
    }

    #[test]
    fn abfp_tiles_have_their_own_scales() {
        let w = Tensor::new(vec![1, 3], vec![0.5, -1.0, 4.0]);
        let fmt = Format::Abfp {
            block: 2,
            input_bits: 8,
            weight_bits: 8,
            adc_bits: 8,
            gain: 1.0,
            adc_noise: 0.0,
            adc_noise_kind: crate::ir::hardware::NoiseShape::Gaussian,
        };
        let Some(Prepared::Abfp { mantissas, scales, tiles }) = prepare(&fmt, &w) else { panic!() };
        assert_eq!(tiles, 2);
        assert_eq!(scales, vec![1.0, 4.0]);
        assert_eq!(mantissas, vec![64.0 / 127.0, -1.0, 1.0]); // 0.5·127 = 63.5 → 64
    }
}
