//! The integer analog MAC (`format analog_int`, `docs/language.md` §6.3), as
//! `interp/mac.rs::analog_int` computes it: input codes
//! `clamp(round(x / s_in))`, exact integer sums per block of `n` inputs, one
//! ADC conversion per block `clamp(floor(gain·acc + ν))` with ν the ADC's
//! Gaussian noise (and a user site's `lsb` noise) drawn per conversion, the
//! conversions summed in f32, clamped, and scaled back. The accumulation
//! setting does not apply to this format.
//!
//! Per row, the input codes go to scratch once; each output then reduces
//! them against its weight codes (`[cols][k]` i32, then `s_w`, then the bias).

use super::geometry::{self, Geometry, Rows};
use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::noise::Post;
use crate::jit::{host, layout};
use analog_runtime::derived::format::AnalogInt;
use analog_runtime::derived::noise::{adc_site, lsb_noise};
use analog_runtime::interp::weights_vary;
use analog_runtime::quant::{self, Prepared};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Value};

/// The format's constants and the node's noise keys.
struct Consts {
    c: AnalogInt,
    /// The user site with σ in `lsb`, if any.
    lsb: Option<(u32, f32)>,
    site: u32,
    /// Conversions per evaluation: `cols · positions · blocks`.
    count: usize,
}

/// Emits the layer; returns whether the epilogue (`post`) was fused.
/// (Its epilogue is always the caller's pass: `post` is unused.)
pub fn emit(layer: &mut Layer, geo: &Geometry, rows: &Rows, out: Value, _post: &Post) -> Result<bool, String> {
    let node = layer.node();
    let Some(format) = AnalogInt::of(&node.hw.format, geo.k) else {
        return Err(format!("`{}` is not analog_int", node.name));
    };
    let c = Consts {
        c: format,
        lsb: lsb_noise(node),
        site: adc_site(node.uid),
        count: geo.cols * geo.positions * format.blocks,
    };
    let codes_off = layer.scratch.take(8 * geo.k);
    let fx = &mut layer.fx;
    let w = fx.chip(2 * layer.id.index());
    let xq = fx.scratch(codes_off);
    let (k, pg) = (geo.k, geo.per_group());
    for g in 0..geo.groups {
        let x = rows.group(fx, g);
        let nrows = geo.rows(fx);
        let zero = fx.i(0);
        fx.for_range(zero, nrows, 1, |fx, r| {
            // The input codes of row `r`.
            let xr = fx.at(x, r, 4 * k as i64);
            let (lo, hi) = (fx.i(0), fx.i(k as i64));
            fx.for_range(lo, hi, 1, |fx, j| {
                let xa = fx.at(xr, j, 4);
                let v = fx.ld_ro(F32, xa, 0);
                let s = fx.f(c.c.input_scale);
                let v = fx.b.ins().fdiv(v, s);
                let v = fx.b.ins().nearest(v);
                let v = fx.clamp(v, c.c.x_lo, c.c.x_hi);
                let q = fx.b.ins().fcvt_to_sint_sat(I64, v);
                let qa = fx.at(xq, j, 8);
                fx.st(q, qa, 0);
            });
            // The sample and position of row `r`.
            let pos = fx.i(geo.positions as i64);
            let sample_b = fx.b.ins().udiv(r, pos);
            let p = fx.b.ins().urem(r, pos);
            let (lo, cols) = (fx.i(0), fx.i(pg as i64));
            fx.for_range(lo, cols, 1, |fx, o| {
                let col = fx.b.ins().iadd_imm_s(o, (g * pg) as i64);
                let y = output(fx, &c, geo, w, xq, col, sample_b, p);
                let at = geometry::out_addr(fx, geo, out, r, col);
                fx.st(y, at, 0);
            });
        });
    }
    Ok(false)
}

/// Output `col` of sample `sample_b` (in the batch) at position `p`.
#[allow(clippy::too_many_arguments)]
fn output(
    fx: &mut Fx,
    c: &Consts,
    geo: &Geometry,
    w: Value,
    xq: Value,
    col: Value,
    sample_b: Value,
    p: Value,
) -> Value {
    let k = geo.k;
    let codes = fx.b.ins().imul_imm_s(col, k as i64);
    let codes = fx.at(w, codes, 4);
    // conversion = col·positions + p; element = rep·count + conversion·blocks + b.
    let conversion = fx.b.ins().imul_imm_s(col, geo.positions as i64);
    let conversion = fx.b.ins().iadd(conversion, p);
    let first_e = fx.b.ins().imul_imm_s(conversion, c.c.blocks as i64);
    let rep = fx.b.ins().uextend(I64, fx.rep);
    let rep_e = fx.b.ins().imul_imm_s(rep, c.count as i64);
    let first_e = fx.b.ins().iadd(first_e, rep_e);
    let first_sample = fx.field(I32, layout::FIRST_SAMPLE);
    let sb = fx.b.ins().ireduce(I32, sample_b);
    let sample = fx.b.ins().iadd(first_sample, sb);
    let z = fx.f(0.0);
    let total = fx.var(F32, z);
    let (lo, nb) = (fx.i(0), fx.i(c.c.blocks as i64));
    fx.for_range(lo, nb, 1, |fx, b| {
        let start = fx.b.ins().imul_imm_s(b, c.c.n as i64);
        let end = fx.b.ins().iadd_imm_s(start, c.c.n as i64);
        let kv = fx.i(k as i64);
        let past = fx.b.ins().icmp(IntCC::SignedGreaterThan, end, kv);
        let end = fx.b.ins().select(past, kv, end);
        let z = fx.i(0);
        let acc = fx.var(I64, z);
        fx.for_range(start, end, 1, |fx, j| {
            let qa = fx.at(xq, j, 8);
            let q = fx.ld(I64, qa, 0);
            let ca = fx.at(codes, j, 4);
            let code = fx.b.ins().sload32(crate::jit::emit::ro_flags(), ca, 0);
            let prod = fx.b.ins().imul(q, code);
            let a = fx.b.use_var(acc);
            let a = fx.b.ins().iadd(a, prod);
            fx.b.def_var(acc, a);
        });
        let e = fx.b.ins().iadd(first_e, b);
        let e = fx.b.ins().ireduce(I32, e);
        let mut nu = fx.f(0.0);
        if let Some(sigma) = c.c.adc_noise {
            let (ctx, site) = (fx.ctx, fx.i32(c.site as i64));
            let eps = fx.call(host::GAUSSIAN, &[ctx, sample, site, e])[0];
            let s = fx.f(sigma);
            let t = fx.b.ins().fmul(s, eps);
            nu = fx.b.ins().fadd(nu, t);
        }
        if let Some((site, sigma)) = c.lsb {
            let (ctx, site) = (fx.ctx, fx.i32(site as i64));
            let eps = fx.call(host::GAUSSIAN, &[ctx, sample, site, e])[0];
            let s = fx.f(sigma);
            let t = fx.b.ins().fmul(s, eps);
            nu = fx.b.ins().fadd(nu, t);
        }
        let a = fx.b.use_var(acc);
        let a = fx.b.ins().fcvt_from_sint(F32, a);
        let g = fx.f(c.c.gain);
        let v = fx.b.ins().fmul(g, a);
        let v = fx.b.ins().fadd(v, nu);
        let v = fx.b.ins().floor(v);
        let v = fx.clamp(v, c.c.adc_lo, c.c.adc_hi);
        let t = fx.b.use_var(total);
        let t = fx.b.ins().fadd(t, v);
        fx.b.def_var(total, t);
    });
    let t = fx.b.use_var(total);
    let t = fx.clamp(t, c.c.adc_lo, c.c.adc_hi);
    let s_in = fx.f(c.c.input_scale);
    let t = fx.b.ins().fmul(t, s_in);
    let s_w = fx.ld_ro(F32, w, (4 * geo.cols * k) as i64);
    let t = fx.b.ins().fmul(t, s_w);
    let g = fx.f(c.c.gain);
    let t = fx.b.ins().fdiv(t, g);
    let bias = fx.at(w, col, 4);
    let bias = fx.ld_ro(F32, bias, (4 * (geo.cols * k + 1)) as i64);
    fx.b.ins().fadd(t, bias)
}

/// The weight codes `[cols][k]` (i32 bits), `s_w`, then the bias `[cols]`
/// (zeros without one).
pub fn pack(geo: &Geometry, node: &analog_runtime::ir::Node, weights: &[f32]) -> Vec<f32> {
    // The interpreter's weights: the node's prepared ones when the weights
    // are the graph's, else these weights prepared.
    let shape = node.param("weight").map_or(vec![geo.cols, geo.k], |w| w.shape.clone());
    let fresh =
        || quant::prepare(&node.hw.format, &analog_runtime::tensor::Tensor::new(shape.clone(), weights.to_vec()));
    let prepared = if weights_vary(node) { fresh() } else { node.prepared.clone().or_else(fresh) };
    let Some(Prepared::AnalogInt { codes, scale }) = prepared else { unreachable!("analog_int weights prepare") };
    let mut out: Vec<f32> = codes.iter().map(|c| f32::from_bits(*c as u32)).collect();
    out.push(scale);
    let bias = node.param("bias").map(|b| &b.data[..]);
    out.extend((0..geo.cols).map(|o| bias.map_or(0.0, |b| b[o])));
    out
}
