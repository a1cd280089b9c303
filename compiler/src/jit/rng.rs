//! The shared counter-based generator (`analog_runtime::rng`) in Cranelift IR,
//! operation for operation, so compiled draws equal the interpreter's bits:
//! Philox4x32-10, `unit_f32`, `ln_f32`, `sincos_turns`, Box–Muller, with a
//! `fma` exactly where the runtime uses `mul_add`. The constants come from the
//! runtime's own definitions.

use super::emit::Fx;
use super::layout;
use analog_runtime::rng as r;
use cranelift_codegen::ir::types::{F32, I32};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};

/// `(hi, lo)` of the 64-bit product of two `u32`.
fn mulhilo(fx: &mut Fx, m: u32, c: Value) -> (Value, Value) {
    let m = fx.i32(m as i64);
    (fx.b.ins().umulhi(m, c), fx.b.ins().imul(m, c))
}

fn philox(fx: &mut Fx, counter: [Value; 4], key: [Value; 2]) -> [Value; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = fx.b.ins().iadd_imm_u(k0, r::PHILOX_W[0] as i64);
            k1 = fx.b.ins().iadd_imm_u(k1, r::PHILOX_W[1] as i64);
        }
        let (hi0, lo0) = mulhilo(fx, r::PHILOX_M[0], c0);
        let (hi1, lo1) = mulhilo(fx, r::PHILOX_M[1], c2);
        let a = fx.b.ins().bxor(hi1, c1);
        let a = fx.b.ins().bxor(a, k0);
        let b = fx.b.ins().bxor(hi0, c3);
        let b = fx.b.ins().bxor(b, k1);
        (c0, c1, c2, c3) = (a, lo1, b, lo0);
    }
    [c0, c1, c2, c3]
}

fn bits(fx: &mut Fx, v: Value) -> Value {
    fx.b.ins().bitcast(I32, MemFlagsData::new(), v)
}

fn float(fx: &mut Fx, v: Value) -> Value {
    fx.b.ins().bitcast(F32, MemFlagsData::new(), v)
}

/// `r::unit_f32`
pub fn unit_f32(fx: &mut Fx, x: Value) -> Value {
    let k = fx.b.ins().ushr_imm_u(x, 9);
    let k = fx.b.ins().fcvt_from_sint(F32, k);
    let half = fx.f(0.5);
    let h = fx.b.ins().fadd(k, half);
    let scale = fx.f(r::TWO_POW_M23);
    fx.b.ins().fmul(h, scale)
}

/// `r::ln_f32`
fn ln_f32(fx: &mut Fx, x: Value) -> Value {
    let xb = bits(fx, x);
    let ix = fx.b.ins().iadd_imm_s(xb, (0x3f80_0000u32.wrapping_sub(0x3f35_04f3)) as i64);
    let k = fx.b.ins().ushr_imm_u(ix, 23);
    let k = fx.b.ins().iadd_imm_s(k, -0x7f);
    let mb = fx.b.ins().band_imm_s(ix, 0x007f_ffff);
    let mb = fx.b.ins().iadd_imm_s(mb, 0x3f35_04f3);
    let m = float(fx, mb);
    let one = fx.f(1.0);
    let f = fx.b.ins().fsub(m, one);
    let two = fx.f(2.0);
    let t = fx.b.ins().fadd(f, two);
    let s = fx.b.ins().fdiv(f, t);
    let z = fx.b.ins().fmul(s, s);
    let mut p = fx.f(r::LN_L[3]);
    for c in [r::LN_L[2], r::LN_L[1], r::LN_L[0]] {
        let c = fx.f(c);
        p = fx.b.ins().fma(p, z, c);
    }
    let rr = fx.b.ins().fmul(p, z);
    let half = fx.f(0.5);
    let hf = fx.b.ins().fmul(f, half);
    let hfsq = fx.b.ins().fmul(hf, f);
    let dk = fx.b.ins().fcvt_from_sint(F32, k);
    let a = fx.b.ins().fadd(hfsq, rr);
    let b = fx.b.ins().fmul(s, a);
    let lo = fx.f(r::LN2_LO);
    let c = fx.b.ins().fmul(dk, lo);
    let d = fx.b.ins().fadd(b, c);
    let e = fx.b.ins().fsub(d, hfsq);
    let g = fx.b.ins().fadd(e, f);
    let hi = fx.f(r::LN2_HI);
    let h = fx.b.ins().fmul(dk, hi);
    fx.b.ins().fadd(g, h)
}

/// `r::sincos_turns`: `(sin, cos)` of `2πu`.
fn sincos_turns(fx: &mut Fx, u: Value) -> (Value, Value) {
    let four = fx.f(4.0);
    let t = fx.b.ins().fmul(u, four);
    let magic = fx.f(r::ROUND_MAGIC);
    let big = fx.b.ins().fadd(t, magic);
    let qf = fx.b.ins().fsub(big, magic);
    let q = bits(fx, big);
    let f = fx.b.ins().fsub(t, qf);
    let y = fx.b.ins().fmul(f, f);
    let poly = |fx: &mut Fx, c: [f32; 4]| {
        let mut p = fx.f(c[3]);
        for c in [c[2], c[1], c[0]] {
            let c = fx.f(c);
            p = fx.b.ins().fma(p, y, c);
        }
        p
    };
    let ps = poly(fx, r::SIN_S);
    let sn = fx.b.ins().fmul(ps, f);
    let pc = poly(fx, r::COS_C);
    let one = fx.f(1.0);
    let cs = fx.b.ins().fma(pc, y, one);
    let swap = fx.b.ins().band_imm_s(q, 1);
    let a = fx.b.ins().select(swap, cs, sn);
    let b = fx.b.ins().select(swap, sn, cs);
    let sin_sign = fx.b.ins().band_imm_s(q, 2);
    let sin_sign = fx.b.ins().ishl_imm_u(sin_sign, 30);
    let q1 = fx.b.ins().iadd_imm_s(q, 1);
    let cos_sign = fx.b.ins().band_imm_s(q1, 2);
    let cos_sign = fx.b.ins().ishl_imm_u(cos_sign, 30);
    let ab = bits(fx, a);
    let ab = fx.b.ins().bxor(ab, sin_sign);
    let bb = bits(fx, b);
    let bb = fx.b.ins().bxor(bb, cos_sign);
    (float(fx, ab), float(fx, bb))
}

/// `r::box_muller`
fn box_muller(fx: &mut Fx, u1: Value, u2: Value) -> (Value, Value) {
    let l = ln_f32(fx, u1);
    let m2 = fx.f(-2.0);
    let m = fx.b.ins().fmul(l, m2);
    let rr = fx.b.ins().sqrt(m);
    let (s, c) = sincos_turns(fx, u2);
    (fx.b.ins().fmul(rr, c), fx.b.ins().fmul(rr, s))
}

fn key(fx: &mut Fx) -> [Value; 2] {
    [fx.field(I32, layout::KEY), fx.field(I32, layout::KEY + 4)]
}

/// The Philox words of a draw's coordinates (`r::counter`).
fn words(fx: &mut Fx, sample: Value, site: Value, element: Value) -> [Value; 4] {
    let trial = fx.field(I32, layout::TRIAL);
    // Block 16·g + l of element 64·g + 16·i + l.
    let g = fx.b.ins().ushr_imm_u(element, 6);
    let g = fx.b.ins().ishl_imm_u(g, 4);
    let l = fx.b.ins().band_imm_s(element, 15);
    let block = fx.b.ins().bor(g, l);
    let key = key(fx);
    philox(fx, [block, site, sample, trial], key)
}

/// `r::gaussian` of this context's seed and trial; all arguments `i32`.
pub fn gaussian(fx: &mut Fx, sample: Value, site: Value, element: Value) -> Value {
    let w = words(fx, sample, site, element);
    // Draw i = (element >> 4) & 3: 0 and 1 from words 0 and 1, 2 and 3 from words 2 and 3.
    let second = fx.b.ins().band_imm_s(element, 32);
    let a = fx.b.ins().select(second, w[2], w[0]);
    let b = fx.b.ins().select(second, w[3], w[1]);
    let (u1, u2) = (unit_f32(fx, a), unit_f32(fx, b));
    let (z0, z1) = box_muller(fx, u1, u2);
    let odd = fx.b.ins().band_imm_s(element, 16);
    fx.b.ins().select(odd, z1, z0)
}

/// `r::uniform` of this context's seed and trial.
pub fn uniform(fx: &mut Fx, sample: Value, site: Value, element: Value) -> Value {
    let w = words(fx, sample, site, element);
    let odd = fx.b.ins().band_imm_s(element, 16);
    let second = fx.b.ins().band_imm_s(element, 32);
    let low = fx.b.ins().select(odd, w[1], w[0]);
    let high = fx.b.ins().select(odd, w[3], w[2]);
    let word = fx.b.ins().select(second, high, low);
    unit_f32(fx, word)
}

/// The body of `fill(ctx, sample, site, first, out, n)`:
/// `out[e] = gaussian(sample, site, first + e)` for `e < n`.
pub fn fill_body(fx: &mut Fx, sample: Value, site: Value, first: Value, out: Value, n: Value) {
    let lo = fx.i(0);
    fx.for_range(lo, n, 1, |fx, e| {
        let e32 = fx.b.ins().ireduce(I32, e);
        let element = fx.b.ins().iadd(first, e32);
        let z = gaussian(fx, sample, site, element);
        let at = fx.at(out, e, 4);
        fx.st(z, at, 0);
    });
}

/// The host's `fill`: the runtime's vectorized generator, same bits.
///
/// # Safety
/// `ctx` points to a live `layout::Ctx`, and `out` to `n` writable f32 that
/// nothing else accesses during the call (compiled code passes its own
/// context and a scratch region of `n` draws).
pub unsafe extern "C" fn host_fill(ctx: *const layout::Ctx, sample: u32, site: u32, first: u32, out: *mut f32, n: u64) {
    // SAFETY: the caller's contract.
    let (ctx, out) = unsafe { (&*ctx, std::slice::from_raw_parts_mut(out, n as usize)) };
    let seed = ctx.key[0] as u64 | (ctx.key[1] as u64) << 32;
    if first == 0 {
        r::fill_gaussian(seed, ctx.trial, sample, site, out);
    } else {
        for (e, v) in out.iter_mut().enumerate() {
            *v = r::gaussian(seed, ctx.trial, sample, site, first.wrapping_add(e as u32));
        }
    }
}
