//! Noise as `docs/language.md` §6.1 defines it. Every ε is a draw of the
//! shared generator keyed by (seed, trial, sample, site, element).

use crate::derived::noise::{Combine, OutputNoise};
use crate::ir::hardware::{Draw, MixOrder};
use crate::ir::NoiseSite;
use crate::rng::{self, PER_CHIP};

pub use crate::derived::noise::active;

/// Which inference a draw belongs to.
#[derive(Copy, Clone, Debug)]
pub struct Ctx {
    pub seed: u64,
    pub trial: u32,
    pub sample: u32,
    /// The repetition of the node (`repeat = R`), 0 without repeats.
    pub rep: u32,
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
    let Some(n) = OutputNoise::of(site) else { return };
    let draw = site.noise.draw;
    let sa = if n.full_scale { n.sigma_add * full_scale } else { n.sigma_add };
    let count = y.len();
    match n.combine {
        Combine::Add => {
            for (v, e) in y.iter_mut().zip(eps_all(ctx, draw, site.site, count, count)) {
                *v += sa * e;
            }
        }
        Combine::Mul => {
            for (v, e) in y.iter_mut().zip(eps_all(ctx, draw, site.site, count, count)) {
                *v *= 1.0 + n.sigma_mul * e;
            }
        }
        Combine::Mixed(order) => {
            let eps2 = eps_all(ctx, draw, site.site, 2 * count, 2 * count);
            for (e, v) in y.iter_mut().enumerate() {
                let (em, ea) = (eps2[2 * e], eps2[2 * e + 1]);
                *v = match order {
                    MixOrder::MulFirst => *v * (1.0 + n.sigma_mul * em) + sa * ea,
                    MixOrder::AddFirst => (*v + sa * ea) * (1.0 + n.sigma_mul * em),
                };
            }
        }
    }
}

/// The gradient through `site`'s noise (`docs/language.md` §10): `dy` is
/// multiplied by the factor `1 + σ_m·ε_m` a multiplicative or mixed noise drew
/// for the inference `ctx`; additive noise passes it unchanged (σ in `fs` is
/// a constant of the step, its full scale not differentiated).
pub fn backward(site: &NoiseSite, dy: &mut [f32], ctx: Ctx) {
    let Some(n) = OutputNoise::of(site) else { return };
    let draw = site.noise.draw;
    let count = dy.len();
    match n.combine {
        Combine::Add => {}
        Combine::Mul => {
            for (d, e) in dy.iter_mut().zip(eps_all(ctx, draw, site.site, count, count)) {
                *d *= 1.0 + n.sigma_mul * e;
            }
        }
        Combine::Mixed(_) => {
            let eps2 = eps_all(ctx, draw, site.site, 2 * count, 2 * count);
            for (e, d) in dy.iter_mut().enumerate() {
                *d *= 1.0 + n.sigma_mul * eps2[2 * e];
            }
        }
    }
}
