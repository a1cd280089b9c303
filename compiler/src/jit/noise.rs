//! A node's output noise (`docs/language.md` §6.1) and fused activation, as
//! an epilogue on values in registers: `y = act(noise(y))`. The draws of a
//! whole batch are generated first (by `fill`, the generator's host or
//! Cranelift version), then read where the output is produced.

use super::activation::Activation;
use super::emit::Fx;
use super::layer::Layer;
use super::{host, layout};
use analog_runtime::derived::noise::{Combine, OutputNoise};
use analog_runtime::ir::hardware::{Draw, MixOrder};
use analog_runtime::rng::PER_CHIP;
use cranelift_codegen::ir::types::{F32, F32X4, I32};
use cranelift_codegen::ir::{InstBuilder, Value};

/// The epilogue of one layer.
pub struct Post {
    noise: Option<NoiseCode>,
    act: Option<Activation>,
}

struct NoiseCode {
    combine: Combine,
    /// σ of the additive part in absolute units (times the full scale for `fs`).
    sigma_add: f32,
    sigma_mul: f32,
    /// The per-sample full scale `max|x|·max|w|` (scratch offset) for σ in `fs`.
    full_scale: Option<usize>,
    /// Draws: scratch offset, and bytes between samples (0: static, shared).
    eps: usize,
    stride: i64,
}

impl Post {
    /// Plans the epilogue of `layer` and emits the batch's draws. `full_scale`
    /// is the scratch offset of per-sample full scales, if the layer has them.
    pub fn new(layer: &mut Layer, full_scale: Option<usize>) -> Post {
        let node = layer.node();
        let count = node.shape.iter().product::<usize>();
        let act = layer.fused;
        let Some((site, n)) = node.hw.noise.clone().and_then(|s| OutputNoise::of(&s).map(|n| (s, n))) else {
            return Post { noise: None, act };
        };
        // Only MAC layers have a full scale; elsewhere σ in `fs` is σ·0.
        let sigma_add = if n.full_scale && full_scale.is_none() { 0.0 } else { n.sigma_add };
        let per_sample = n.draws_per_element() * count;
        let dynamic = site.noise.draw == Draw::Dynamic;
        let rows = if dynamic { layout::MAX_BATCH } else { 1 };
        let eps = layer.scratch.take(4 * per_sample * rows);
        let fx = &mut layer.fx;
        if dynamic {
            fill_batch(fx, eps, site.site, per_sample);
        } else {
            // Per chip: one set of draws shared by every sample.
            let (ctx, sample, first) = (fx.ctx, fx.i32(PER_CHIP as i64), fx.i32(0));
            let (site_v, base, n) = (fx.i32(site.site as i64), fx.scratch(eps), fx.i(per_sample as i64));
            fx.call(host::FILL, &[ctx, sample, site_v, first, base, n]);
        }
        let stride = if dynamic { 4 * per_sample as i64 } else { 0 };
        let full_scale = if n.full_scale { full_scale } else { None };
        let (combine, sigma_mul) = (n.combine, n.sigma_mul);
        Post { noise: Some(NoiseCode { combine, sigma_add, sigma_mul, full_scale, eps, stride }), act }
    }

    pub fn is_empty(&self) -> bool {
        self.noise.is_none() && self.act.is_none()
    }

    /// Whether `apply` takes four consecutive elements at once.
    pub fn vectorizes(&self) -> bool {
        !matches!(self.noise, Some(NoiseCode { combine: Combine::Mixed(_), .. }))
    }

    /// The epilogue of `v` (`F32`, or `F32X4` when `vectorizes`), the value
    /// of element `e` (and the next three) of sample `b` (both `i64`).
    pub fn apply(&self, fx: &mut Fx, v: Value, b: Value, e: Value) -> Value {
        let mut v = v;
        if let Some(n) = &self.noise {
            v = n.apply(fx, v, b, e);
        }
        if let Some(act) = self.act {
            v = act.emit(fx, v);
        }
        v
    }

    /// The epilogue as a pass over `count` elements per sample of `buf`
    /// (`[batch][count]`), in place.
    pub fn pass(&self, fx: &mut Fx, buf: Value, count: usize) {
        if self.is_empty() {
            return;
        }
        let vector = self.vectorizes();
        let (zero, batch) = (fx.i(0), fx.batch());
        let body = if vector { count / 4 * 4 } else { 0 };
        fx.for_range(zero, batch, 1, |fx, b| {
            let row = fx.at(buf, b, 4 * count as i64);
            let element = |fx: &mut Fx, e: Value, ty| {
                let at = fx.at(row, e, 4);
                let v = fx.ld(ty, at, 0);
                let v = self.apply(fx, v, b, e);
                fx.st(v, at, 0);
            };
            let (zero, body_end, end) = (fx.i(0), fx.i(body as i64), fx.i(count as i64));
            if body > 0 {
                fx.for_range(zero, body_end, 4, |fx, e| element(fx, e, F32X4));
            }
            fx.for_range(body_end, end, 1, |fx, e| element(fx, e, F32));
        });
    }
}

/// The dynamic Gaussian draws `rep·count + e` (`e < count`) of `site` for
/// every sample of the batch into scratch `[batch][count]` at `off`.
pub fn fill_batch(fx: &mut Fx, off: usize, site: u32, count: usize) {
    let f = fx.func(host::FILL);
    let base = fx.scratch(off);
    let site = fx.i32(site as i64);
    let n = fx.i(count as i64);
    let first_sample = fx.field(I32, layout::FIRST_SAMPLE);
    let first = fx.b.ins().imul_imm_s(fx.rep, count as u32 as i32 as i64);
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let b32 = fx.b.ins().ireduce(I32, b);
        let sample = fx.b.ins().iadd(first_sample, b32);
        let out = fx.at(base, b, 4 * count as i64);
        let ctx = fx.ctx;
        fx.b.ins().call(f, &[ctx, sample, site, first, out, n]);
    });
}

impl NoiseCode {
    fn apply(&self, fx: &mut Fx, v: Value, b: Value, e: Value) -> Value {
        let ty = fx.b.func.dfg.value_type(v);
        let eps_base = fx.scratch(self.eps);
        let row = fx.b.ins().imul_imm_s(b, self.stride);
        let row = fx.b.ins().iadd(eps_base, row);
        let one = fx.fc(ty, 1.0);
        let sigma_add = |fx: &mut Fx| {
            let s = fx.f(self.sigma_add);
            let s = match self.full_scale {
                Some(off) => {
                    let fs = fx.scratch(off);
                    let at = fx.at(fs, b, 4);
                    let fs = fx.ld(F32, at, 0);
                    fx.b.ins().fmul(s, fs)
                }
                None => s,
            };
            if ty == F32 {
                s
            } else {
                fx.b.ins().splat(ty, s)
            }
        };
        match self.combine {
            Combine::Add => {
                let at = fx.at(row, e, 4);
                let eps = fx.ld(ty, at, 0);
                let s = sigma_add(fx);
                let t = fx.b.ins().fmul(s, eps);
                fx.b.ins().fadd(v, t)
            }
            Combine::Mul => {
                let at = fx.at(row, e, 4);
                let eps = fx.ld(ty, at, 0);
                let s = fx.fc(ty, self.sigma_mul);
                let t = fx.b.ins().fmul(s, eps);
                let t = fx.b.ins().fadd(one, t);
                fx.b.ins().fmul(v, t)
            }
            Combine::Mixed(order) => {
                let at = fx.at(row, e, 8);
                let em = fx.ld(F32, at, 0);
                let ea = fx.ld(F32, at, 4);
                let sa = sigma_add(fx);
                let sm = fx.f(self.sigma_mul);
                let m = fx.b.ins().fmul(sm, em);
                let m = fx.b.ins().fadd(one, m);
                let a = fx.b.ins().fmul(sa, ea);
                match order {
                    MixOrder::MulFirst => {
                        let y = fx.b.ins().fmul(v, m);
                        fx.b.ins().fadd(y, a)
                    }
                    MixOrder::AddFirst => {
                        let y = fx.b.ins().fadd(v, a);
                        fx.b.ins().fmul(y, m)
                    }
                }
            }
        }
    }
}
