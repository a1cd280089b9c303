//! The typed hardware effects, units normalized. `docs/language.md` §6 gives
//! each one's formula; the reference interpreter implements exactly that.

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq)]
pub struct Noise {
    pub kind: NoiseKind,
    pub draw: Draw,
    /// Evaluate the noisy op this many times and average.
    pub repeat: u32,
    pub during: Phase,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NoiseKind {
    /// Removes noise a profile would add.
    Off,
    /// `y = x + N(0, σ²)`
    Additive { sigma: Sigma },
    /// `y = x · N(1, σ²)`, σ relative.
    Multiplicative { sigma: f64 },
    /// Both, in the given order.
    Mixed { add: Sigma, mul: f64, order: MixOrder },
}

/// An additive noise level with its unit.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Sigma {
    pub value: f64,
    pub unit: SigmaUnit,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SigmaUnit {
    /// In the units of the value it is added to.
    Abs,
    /// In steps of the layer's ADC.
    Lsb,
    /// A fraction of the layer's full scale (max |x| · max |w|).
    FullScale,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MixOrder {
    /// `x · N(1, σ_m²) + N(0, σ_a²)`
    MulFirst,
    /// `(x + N(0, σ_a²)) · N(1, σ_m²)`
    AddFirst,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Draw {
    /// Fresh on every inference (read noise).
    Dynamic,
    /// Drawn once per simulated chip (process variation).
    Static,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Eval,
    Train,
    Both,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Accumulate {
    Exact,
    /// `s_k = clamp(λ·s_{k−1} + p_{π(k)}, lo, hi)`
    Ordered {
        order: Order,
        lo: f64,
        hi: f64,
        leak: f64,
    },
    /// `y = clamp(Σ p, lo, hi)`
    Clamp {
        lo: f64,
        hi: f64,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Order {
    Natural,
    Reversed,
    Ascending,
    Descending,
    PositiveFirst,
    NegativeFirst,
    Random,
}

impl Order {
    /// The order as the language spells it.
    pub fn name(self) -> &'static str {
        match self {
            Order::Natural => "natural",
            Order::Reversed => "reversed",
            Order::Ascending => "ascending",
            Order::Descending => "descending",
            Order::PositiveFirst => "positive_first",
            Order::NegativeFirst => "negative_first",
            Order::Random => "random",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Format {
    Fp32,
    /// Adaptive block floating point with gain (Lightmatter).
    Abfp {
        block: u32,
        input_bits: u32,
        weight_bits: u32,
        adc_bits: u32,
        gain: f64,
        adc_noise: f64,
        adc_noise_kind: NoiseShape,
    },
    /// 8-bit integer operands, exact i32 sums.
    Int8 {
        signed: bool,
        weight_scale: WeightScale,
        input_range: [f64; 2],
    },
    /// Integer analog MAC with a fixed gain and per-block ADC (BrainScaleS-2).
    AnalogInt {
        block: u32,
        input_bits: u32,
        input_signed: bool,
        weight_bits: u32,
        adc_bits: u32,
        gain: f64,
        input_scale: f64,
        adc_noise: f64,
    },
}

impl Format {
    pub fn has_adc(&self) -> bool {
        matches!(self, Format::Abfp { .. } | Format::AnalogInt { .. })
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NoiseShape {
    Gaussian,
    Uniform,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WeightScale {
    PerTensor,
    PerChannel,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Multiplier {
    Exact,
    /// A 256×256 product table from a file.
    Table {
        path: PathBuf,
        layout: TableLayout,
        signed: bool,
    },
    /// Partial-product columns below bit `bits` dropped.
    Truncated {
        bits: u32,
    },
    /// Mitchell's logarithmic multiplier.
    Mitchell,
    /// DRUM with k-bit segments.
    Drum {
        k: u32,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TableLayout {
    /// `.npy` 256×256 integers; signed index order `[0..127, −128..−1]`.
    TorchApprox,
    /// `.bin` of 65,536 little-endian u16, index `a·256 + b`, unsigned.
    TfApprox,
}
