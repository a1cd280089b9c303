//! Noise as `docs/language.md` §6.1 defines it. Every ε is a draw of the
//! shared generator keyed by (seed, trial, sample, site, element).

use crate::ir::hardware::{Draw, MixOrder, Noise, NoiseKind, Phase, SigmaUnit};
use crate::ir::NoiseSite;
use crate::rng::{self, PER_CHIP};

/// Which inference a draw belongs to.
#[derive(Copy, Clone, Debug)]
pub struct Ctx {
    pub seed: u64,
    pub trial: u32,
    pub sample: u32,
    /// The repetition of the node (`repeat = R`), 0 without repeats.
    pub rep: u32,
}

/// Whether a noise is on when evaluating (not training).
pub fn active(n: &Noise) -> bool {
    n.kind != NoiseKind::Off && n.during != Phase::Train
}

/// The ε of element `e` of `count` elements at `site`.
pub fn eps(ctx: Ctx, draw: Draw, site: u32, count: usize, e: usize) -> f32 {
    let (sample, rep) = match draw {
        Draw::Dynamic => (ctx.sample, ctx.rep),
        Draw::Static => (PER_CHIP, 0),
    };
    let element = (rep as usize).wrapping_mul(count).wrapping_add(e) as u32;
    rng::gaussian(ctx.seed, ctx.trial, sample, site, element)
}

/// `eps(ctx, draw, site, count, e)` for `e` in `0..n`, computed in one batch
/// where the elements start at 0 (the vectorized generator gives the same bits).
fn eps_all(ctx: Ctx, draw: Draw, site: u32, count: usize, n: usize) -> Vec<f32> {
    let first_rep = draw == Draw::Static || ctx.rep == 0;
    if first_rep {
        let sample = if draw == Draw::Static { PER_CHIP } else { ctx.sample };
        let mut out = vec![0.0; n];
        rng::fill_gaussian(ctx.seed, ctx.trial, sample, site, &mut out);
        out
    } else {
        (0..n).map(|e| eps(ctx, draw, site, count, e)).collect()
    }
}

/// Applies `site`'s noise to `y`. `full_scale` converts σ in `fs` to absolute
/// units; σ in `lsb` was added at the ADC and is skipped here.
pub fn apply(site: &NoiseSite, y: &mut [f32], ctx: Ctx, full_scale: f32) {
    let n = &site.noise;
    if !active(n) {
        return;
    }
    let abs = |unit: SigmaUnit, v: f64| -> Option<f32> {
        match unit {
            SigmaUnit::Abs => Some(v as f32),
            SigmaUnit::FullScale => Some(v as f32 * full_scale),
            SigmaUnit::Lsb => None,
        }
    };
    let count = y.len();
    match &n.kind {
        NoiseKind::Off => {}
        NoiseKind::Additive { sigma } => {
            let Some(s) = abs(sigma.unit, sigma.value) else { return };
            for (v, e) in y.iter_mut().zip(eps_all(ctx, n.draw, site.site, count, count)) {
                *v += s * e;
            }
        }
        NoiseKind::Multiplicative { sigma } => {
            let s = *sigma as f32;
            for (v, e) in y.iter_mut().zip(eps_all(ctx, n.draw, site.site, count, count)) {
                *v *= 1.0 + s * e;
            }
        }
        NoiseKind::Mixed { add, mul, order } => {
            // Two draws per element: 2e for the multiplicative, 2e + 1 for the additive part.
            let sa = abs(add.unit, add.value).unwrap_or(0.0);
            let sm = *mul as f32;
            let eps2 = eps_all(ctx, n.draw, site.site, 2 * count, 2 * count);
            for (e, v) in y.iter_mut().enumerate() {
                let (em, ea) = (eps2[2 * e], eps2[2 * e + 1]);
                *v = match order {
                    MixOrder::MulFirst => *v * (1.0 + sm * em) + sa * ea,
                    MixOrder::AddFirst => (*v + sa * ea) * (1.0 + sm * em),
                };
            }
        }
    }
}

/// Whether a site's σ is a fraction of the layer's full scale (`fs`).
pub fn uses_full_scale(site: &NoiseSite) -> bool {
    match &site.noise.kind {
        NoiseKind::Additive { sigma } | NoiseKind::Mixed { add: sigma, .. } => sigma.unit == SigmaUnit::FullScale,
        _ => false,
    }
}

/// σ of noise in `lsb` that a site adds at each ADC conversion (0 if none).
pub fn lsb_sigma(site: &NoiseSite) -> f32 {
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
