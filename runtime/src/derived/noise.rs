//! Which noise a node's hardware turns on, and its constants
//! (`docs/language.md` §6.1).

use crate::ir::hardware::{Accumulate, Draw, Format, MixOrder, Noise, NoiseKind, Order, Phase, SigmaUnit};
use crate::ir::{Node, NoiseSite};

/// Random draws of a node that belong to no noise site are keyed by these
/// sites plus the node's uid: ADC noise, and the permutation of `order = random`.
pub const ADC_SITE: u32 = 0x8000_0000;
pub const ORDER_SITE: u32 = 0x4000_0000;

/// The site of node `uid`'s ADC noise.
pub fn adc_site(uid: u32) -> u32 {
    ADC_SITE.wrapping_add(uid)
}

/// The site of node `uid`'s random accumulation order.
pub fn order_site(uid: u32) -> u32 {
    ORDER_SITE.wrapping_add(uid)
}

/// Whether a noise is on when evaluating (not training).
pub fn active(n: &Noise) -> bool {
    n.kind != NoiseKind::Off && n.during != Phase::Train
}

/// How many times a node is evaluated and averaged (`repeat = R`, dynamic noise only).
pub fn repeat(node: &Node) -> u32 {
    node.hw.noise.as_ref().filter(|s| s.noise.draw == Draw::Dynamic && active(&s.noise)).map_or(1, |s| s.noise.repeat)
}

/// Whether a site's σ is a fraction of the layer's full scale (`fs`).
pub fn uses_full_scale(site: &NoiseSite) -> bool {
    match &site.noise.kind {
        NoiseKind::Additive { sigma } | NoiseKind::Mixed { add: sigma, .. } => sigma.unit == SigmaUnit::FullScale,
        _ => false,
    }
}

/// σ of noise in `lsb` that a site adds at each ADC conversion (0 if none).
fn lsb_sigma(site: &NoiseSite) -> f32 {
    let n = &site.noise;
    if !active(n) {
        return 0.0;
    }
    match &n.kind {
        NoiseKind::Additive { sigma } | NoiseKind::Mixed { add: sigma, .. } if sigma.unit == SigmaUnit::Lsb => {
            sigma.value as f32
        }
        _ => 0.0,
    }
}

/// The site and σ of a node's noise in `lsb`, if it adds any at the ADC.
pub fn lsb_noise(node: &Node) -> Option<(u32, f32)> {
    node.hw.noise.as_ref().map(|s| (s.site, lsb_sigma(s))).filter(|(_, s)| *s > 0.0)
}

/// Where a node draws random numbers when evaluating, so what of it is the
/// same for every chip and every inference.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Draws {
    /// Nowhere: its value is a function of its operands alone.
    Nothing,
    /// Only in its output noise, which is a function of the op's value and
    /// the draws alone (not in `fs`, which reads the operands, nor in `lsb`,
    /// which the ADC adds inside the op).
    OnOutput,
    /// Inside the op: weight noise, ADC noise, `lsb` noise, a random
    /// accumulation order, or output noise in `fs`.
    InOp,
}

/// Where `node` draws random numbers (every draw of `docs/language.md` §6).
pub fn draws(node: &Node) -> Draws {
    let weight_noise = node.hw.weight_noise.as_ref().is_some_and(|s| active(&s.noise));
    let adc = match node.hw.format {
        Format::Abfp { adc_noise, .. } | Format::AnalogInt { adc_noise, .. } => adc_noise != 0.0,
        Format::Fp32 | Format::Int8 { .. } => false,
    };
    let random_order = matches!(node.hw.accumulate, Accumulate::Ordered { order: Order::Random, .. });
    if weight_noise || adc || random_order || lsb_noise(node).is_some() {
        return Draws::InOp;
    }
    match node.hw.noise.as_ref().and_then(OutputNoise::of) {
        None => Draws::Nothing,
        Some(n) if n.full_scale => Draws::InOp,
        Some(_) => Draws::OnOutput,
    }
}

/// How output noise combines with a value `y` (ε, ε_m, ε_a standard Gaussians).
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Combine {
    /// `y + σ_a·ε`
    Add,
    /// `y·(1 + σ_m·ε)`
    Mul,
    /// Both, in this order; two draws per element: `2e` for ε_m, `2e + 1` for ε_a.
    Mixed(MixOrder),
}

/// A node's output noise as it is applied after the op.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct OutputNoise {
    pub combine: Combine,
    /// σ of the additive part: absolute, or a fraction of the full scale
    /// when `full_scale` (0 for a mixed noise whose additive σ is in `lsb`).
    pub sigma_add: f32,
    pub sigma_mul: f32,
    /// Whether `sigma_add` is multiplied by the layer's full scale `max|x|·max|w|`.
    pub full_scale: bool,
}

impl OutputNoise {
    /// The output noise of `site`; `None` when it is off, or additive with σ
    /// in `lsb` (which the ADC adds, see [`lsb_noise`]).
    pub fn of(site: &NoiseSite) -> Option<OutputNoise> {
        let n = &site.noise;
        if !active(n) {
            return None;
        }
        let of_unit = |unit: SigmaUnit, v: f64| match unit {
            SigmaUnit::Abs | SigmaUnit::FullScale => Some(v as f32),
            SigmaUnit::Lsb => None,
        };
        let fs = |unit: SigmaUnit| unit == SigmaUnit::FullScale;
        let (combine, sigma_add, sigma_mul, full_scale) = match &n.kind {
            NoiseKind::Off => return None,
            NoiseKind::Additive { sigma } => (Combine::Add, of_unit(sigma.unit, sigma.value)?, 0.0, fs(sigma.unit)),
            NoiseKind::Multiplicative { sigma } => (Combine::Mul, 0.0, *sigma as f32, false),
            NoiseKind::Mixed { add, mul, order } => {
                (Combine::Mixed(*order), of_unit(add.unit, add.value).unwrap_or(0.0), *mul as f32, fs(add.unit))
            }
        };
        Some(OutputNoise { combine, sigma_add, sigma_mul, full_scale })
    }

    /// Gaussian draws per output element.
    pub fn draws_per_element(&self) -> usize {
        if matches!(self.combine, Combine::Mixed(_)) {
            2
        } else {
            1
        }
    }
}
