//! Constants of a MAC layer's number format and accumulation
//! (`docs/language.md` §6.2–6.4).

use crate::ir::hardware::{Accumulate, Format, NoiseShape, Order};
use crate::quant::{self, levels};
use std::ops::Range;

/// `√3` as f32 (`3f32.sqrt()`): scales a uniform draw on `[−1, 1)` to unit variance.
pub const SQRT_3: f32 = 1.732_050_8;

/// How an int8 layer quantizes its inputs: `x_q = clamp(round(x / s_x) + z_x)`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Int8Input {
    pub signed: bool,
    /// `s_x`
    pub scale: f32,
    /// `z_x` (0 when signed)
    pub zero: i32,
}

impl Int8Input {
    /// The input quantization of an int8 format: symmetric over
    /// `max(|lo|, |hi|)` when signed, else asymmetric over `[lo, hi]`.
    pub fn of(format: &Format) -> Option<Int8Input> {
        let Format::Int8 { signed, input_range, .. } = format else { return None };
        let (lo, hi) = (input_range[0] as f32, input_range[1] as f32);
        let (scale, zero) = if *signed {
            (quant::symmetric_scale(lo.abs().max(hi.abs())), 0)
        } else {
            quant::asymmetric_params(lo, hi)
        };
        Some(Int8Input { signed: *signed, scale, zero })
    }

    /// The code of input `x`.
    pub fn code(&self, x: f32) -> i32 {
        if self.signed {
            quant::symmetric_code(x, self.scale)
        } else {
            quant::asymmetric_code(x, self.scale, self.zero)
        }
    }
}

/// The constants of an ABFP layer of reduction length `k`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Abfp {
    /// Tile length `n`.
    pub n: usize,
    pub tiles: usize,
    pub input_bits: u32,
    pub adc_bits: u32,
    /// `G`
    pub gain: f32,
    /// `G / n`, the factor of a tile's sum at the ADC.
    pub gain_per_input: f32,
    /// `δ_out = 1 / levels(adc_bits)`: one ADC step.
    pub delta_out: f32,
    /// The format's ADC noise: σ (in steps) and shape, if σ > 0.
    pub adc_noise: Option<(f32, NoiseShape)>,
}

impl Abfp {
    /// `None` for another format.
    ///
    /// # Panics
    /// If the block is 0 or a bit width is 0 (`interp::check` rejects both).
    pub fn of(format: &Format, k: usize) -> Option<Abfp> {
        let Format::Abfp { block, input_bits, adc_bits, gain, adc_noise, adc_noise_kind, .. } = *format else {
            return None;
        };
        let (n, gain) = (block as usize, gain as f32);
        Some(Abfp {
            n,
            tiles: k.div_ceil(n),
            input_bits,
            adc_bits,
            gain,
            gain_per_input: gain / n as f32,
            delta_out: 1.0 / levels(adc_bits),
            adc_noise: (adc_noise > 0.0).then_some((adc_noise as f32, adc_noise_kind)),
        })
    }

    /// The inputs of tile `t` of a reduction of length `k`.
    pub fn tile(&self, t: usize, k: usize) -> Range<usize> {
        t * self.n..((t + 1) * self.n).min(k)
    }
}

/// The constants of an integer analog MAC (`analog_int`) of reduction length `k`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct AnalogInt {
    /// Block length `n`: inputs summed per ADC conversion.
    pub n: usize,
    pub blocks: usize,
    /// The input codes: `[−(2^(b−1) − 1), 2^(b−1) − 1]` signed, `[0, 2^b − 1]` unsigned.
    pub x_lo: f32,
    pub x_hi: f32,
    /// The ADC's codes: `[−2^(b−1), 2^(b−1) − 1]`.
    pub adc_lo: f32,
    pub adc_hi: f32,
    pub gain: f32,
    /// `s_in`
    pub input_scale: f32,
    /// σ of the ADC noise (steps), if σ > 0.
    pub adc_noise: Option<f32>,
}

impl AnalogInt {
    /// `None` for another format.
    ///
    /// # Panics
    /// If the block is 0 or a bit width is 0 or over 62 (`interp::check`
    /// rejects them).
    pub fn of(format: &Format, k: usize) -> Option<AnalogInt> {
        let Format::AnalogInt { block, input_bits, input_signed, adc_bits, gain, input_scale, adc_noise, .. } = *format
        else {
            return None;
        };
        let (x_lo, x_hi) = if input_signed {
            let l = ((1i64 << (input_bits - 1)) - 1) as f32;
            (-l, l)
        } else {
            (0.0, ((1i64 << input_bits) - 1) as f32)
        };
        let n = block as usize;
        Some(AnalogInt {
            n,
            blocks: k.div_ceil(n),
            x_lo,
            x_hi,
            adc_lo: -((1i64 << (adc_bits - 1)) as f32),
            adc_hi: ((1i64 << (adc_bits - 1)) - 1) as f32,
            gain: gain as f32,
            input_scale: input_scale as f32,
            adc_noise: (adc_noise > 0.0).then_some(adc_noise as f32),
        })
    }

    /// The inputs of block `b` of a reduction of length `k`.
    pub fn block(&self, b: usize, k: usize) -> Range<usize> {
        b * self.n..((b + 1) * self.n).min(k)
    }
}

/// `(lo, hi)` of a clamped sum (`accumulate clamp`).
pub fn clamp_bounds(acc: &Accumulate) -> Option<(f32, f32)> {
    match acc {
        Accumulate::Clamp { lo, hi } => Some((*lo as f32, *hi as f32)),
        _ => None,
    }
}

/// An ordered, leaky, saturating sum: `s = clamp(leak·s + p, lo, hi)` over
/// the products in `order`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Leaky {
    pub order: Order,
    pub lo: f32,
    pub hi: f32,
    pub leak: f32,
}

impl Leaky {
    pub fn of(acc: &Accumulate) -> Option<Leaky> {
        let Accumulate::Ordered { order, lo, hi, leak } = *acc else { return None };
        Some(Leaky { order, lo: lo as f32, hi: hi as f32, leak: leak as f32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqrt_3_is_the_rounded_root() {
        assert_eq!(SQRT_3, 3.0f32.sqrt());
    }

    #[test]
    fn ranges_by_hand() {
        let f = Format::AnalogInt {
            block: 4,
            input_bits: 5,
            input_signed: false,
            weight_bits: 4,
            adc_bits: 8,
            gain: 1.0,
            input_scale: 1.0,
            adc_noise: 0.0,
        };
        let a = AnalogInt::of(&f, 10).expect("analog_int");
        assert_eq!((a.x_lo, a.x_hi, a.adc_lo, a.adc_hi, a.blocks), (0.0, 31.0, -128.0, 127.0, 3));
        assert_eq!(a.block(2, 10), 8..10);
        assert_eq!(a.adc_noise, None);
    }
}
