//! FP32 MAC with exact or clamped accumulation, in pure Cranelift: a 4×8
//! register block (4 rows, 8 columns in two `F32X4` accumulators each); each
//! lane sums its own dot product in `k` order, `s = s + w·x`, as the
//! interpreter does, so the results are the interpreter's bits.

use super::{Geometry, Rows, PANEL};
use crate::jit::emit::Fx;
use crate::jit::layout::MAX_BATCH;
use crate::jit::noise::Post;
use crate::jit::{Kernels, Layer};
use analog_runtime::ir::hardware::Accumulate;
use cranelift_codegen::ir::types::{F32, F32X4};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::Variable;

/// `gemm(x, rows, k, panels_ptr, panels, tile)`: the host micro-kernel.
pub const GEMM: &str = "analogc_gemm_f32";

/// Rows per register block.
const MR: usize = 4;
/// `k` steps per loop iteration.
const UNROLL: usize = 4;

struct Kernel<'a> {
    geo: &'a Geometry,
    post: &'a Post,
    clamp: Option<(f32, f32)>,
    /// Whether `post` runs in the block's epilogue.
    fuse: bool,
    out: Value,
    w: Value,
}

/// Emits a layer whose sums come from a host kernel `gemm(x, rows, k, w,
/// panels, tile)` (the arguments it is called with) writing
/// `[rows][panels·8]` sums to `tile`: the bias, `post` (fused where it
/// vectorizes) and the stores run in generated code. Returns whether `post`
/// was fused.
pub fn emit_host(
    layer: &mut Layer,
    geo: &Geometry,
    rows: &Rows,
    out: Value,
    post: &Post,
    gemm: &dyn Fn(&mut Fx, &[Value]),
) -> bool {
    let fuse = geo.positions == 1 && post.vectorizes();
    let w = layer.fx.chip(2 * layer.id.index());
    let kern = Kernel { geo, post, clamp: None, fuse, out, w };
    kern.native(layer, rows, gemm);
    fuse
}

/// Emits the layer; returns whether the epilogue (`post`) was fused.
pub fn emit(layer: &mut Layer, geo: &Geometry, rows: &Rows, out: Value, post: &Post) -> bool {
    let clamp = match layer.node().hw.accumulate {
        Accumulate::Clamp { lo, hi } => Some((lo as f32, hi as f32)),
        _ => None,
    };
    let fuse = geo.positions == 1 && post.vectorizes();
    let w = layer.fx.chip(2 * layer.id.index());
    let kern = Kernel { geo, post, clamp, fuse, out, w };
    if layer.kernels == Kernels::Native {
        let gemm = |fx: &mut Fx, args: &[Value]| {
            fx.call(GEMM, args);
        };
        kern.native(layer, rows, &gemm);
        return fuse;
    }
    let fx = &mut layer.fx;
    let (full, partial) = (geo.per_group() / PANEL, geo.per_group() % PANEL);
    for g in 0..geo.groups {
        let off = fx.b.ins().imul_imm_s(rows.group_stride, g as i64);
        let x = fx.b.ins().iadd(rows.base, off);
        if full > 0 {
            let (zero, n) = (fx.i(0), fx.i(full as i64));
            fx.for_range(zero, n, 1, |fx, panel| kern.panel(fx, g, panel, x, PANEL));
        }
        if partial > 0 {
            let panel = fx.i(full as i64);
            kern.panel(fx, g, panel, x, partial);
        }
    }
    fuse
}

impl Kernel<'_> {
    /// All rows against one panel of `valid` columns.
    fn panel(&self, fx: &mut Fx, g: usize, panel: Value, x: Value, valid: usize) {
        let (k, panels) = (self.geo.k, self.geo.panels());
        let first = fx.b.ins().iadd_imm_s(panel, (g * panels) as i64);
        let wp = fx.at(self.w, first, (4 * k * PANEL) as i64);
        let bias = fx.b.ins().iadd_imm_s(first, (self.geo.groups * panels * k) as i64);
        let bias = fx.at(self.w, bias, (4 * PANEL) as i64);
        let batch = fx.batch();
        let rows = fx.b.ins().imul_imm_s(batch, self.geo.positions as i64);
        let blocked = fx.b.ins().band_imm_s(rows, !(MR as i64 - 1));
        let zero = fx.i(0);
        fx.for_range(zero, blocked, MR as i64, |fx, r| self.block(fx, MR, r, g, panel, x, wp, bias, valid));
        fx.for_range(blocked, rows, 1, |fx, r| self.block(fx, 1, r, g, panel, x, wp, bias, valid));
    }

    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        fx: &mut Fx,
        mr: usize,
        r: Value,
        g: usize,
        panel: Value,
        x: Value,
        wp: Value,
        bias: Value,
        valid: usize,
    ) {
        let k = self.geo.k;
        let zero = fx.fc(F32X4, 0.0);
        let acc: Vec<[Variable; 2]> = (0..mr).map(|_| [fx.var(F32X4, zero), fx.var(F32X4, zero)]).collect();
        let xr: Vec<Value> = (0..mr)
            .map(|i| {
                let ri = fx.b.ins().iadd_imm_s(r, i as i64);
                fx.at(x, ri, 4 * k as i64)
            })
            .collect();
        let step = |fx: &mut Fx, kk: Value, unroll: usize| {
            let wk = fx.at(wp, kk, (4 * PANEL) as i64);
            let xk = fx.b.ins().imul_imm_s(kk, 4);
            for u in 0..unroll {
                let w0 = fx.ld_ro(F32X4, wk, (4 * PANEL * u) as i64);
                let w1 = fx.ld_ro(F32X4, wk, (4 * PANEL * u + 16) as i64);
                for (i, row) in xr.iter().enumerate() {
                    let at = fx.b.ins().iadd(*row, xk);
                    let xs = fx.ld_ro(F32, at, 4 * u as i64);
                    let xs = fx.b.ins().splat(F32X4, xs);
                    for (v, w) in [w0, w1].into_iter().enumerate() {
                        let p = fx.b.ins().fmul(w, xs);
                        let a = fx.b.use_var(acc[i][v]);
                        let s = fx.b.ins().fadd(a, p);
                        fx.b.def_var(acc[i][v], s);
                    }
                }
            }
        };
        let (lo, main, end) = (fx.i(0), fx.i((k / UNROLL * UNROLL) as i64), fx.i(k as i64));
        fx.for_range(lo, main, UNROLL as i64, |fx, kk| step(fx, kk, UNROLL));
        fx.for_range(main, end, 1, |fx, kk| step(fx, kk, 1));
        for (i, acc) in acc.iter().enumerate() {
            let ri = fx.b.ins().iadd_imm_s(r, i as i64);
            for (v, acc) in acc.iter().enumerate() {
                let y = fx.b.use_var(*acc);
                self.epilogue(fx, y, ri, g, panel, v, bias, valid);
            }
        }
    }

    /// Clamp, bias, then noise and activation while in registers, and the
    /// store: sums `y` of row `r`, lanes `4v..4v+4` of a panel.
    #[allow(clippy::too_many_arguments)]
    fn epilogue(&self, fx: &mut Fx, y: Value, r: Value, g: usize, panel: Value, v: usize, bias: Value, valid: usize) {
        let lanes = valid.saturating_sub(4 * v).min(4);
        if lanes == 0 {
            return;
        }
        let mut y = y;
        if let Some((lo, hi)) = self.clamp {
            y = fx.clamp(y, lo, hi);
        }
        let b = fx.ld_ro(F32X4, bias, 16 * v as i64);
        y = fx.b.ins().fadd(y, b);
        let o = fx.b.ins().imul_imm_s(panel, PANEL as i64);
        let o = fx.b.ins().iadd_imm_s(o, (g * self.geo.per_group() + 4 * v) as i64);
        if self.fuse {
            y = self.post.apply(fx, y, r, o);
        }
        super::store_lanes(fx, self.geo, self.out, y, r, o, lanes);
    }

    /// The layer through the host's GEMM (same sums, wider vectors), one
    /// group at a time: it writes `[rows][panels·8]` sums to `tile`, then the
    /// epilogue runs here.
    fn native(&self, layer: &mut Layer, rows: &Rows, gemm: &dyn Fn(&mut Fx, &[Value])) {
        let (k, panels, geo) = (self.geo.k, self.geo.panels(), self.geo);
        let tile = layer.scratch.take(4 * MAX_BATCH * geo.positions * panels * PANEL);
        let fx = &mut layer.fx;
        let tile = fx.scratch(tile);
        let batch = fx.batch();
        let n = fx.b.ins().imul_imm_s(batch, geo.positions as i64);
        let (kv, pv) = (fx.i(k as i64), fx.i(panels as i64));
        let (full, partial) = (geo.per_group() / PANEL, geo.per_group() % PANEL);
        for g in 0..geo.groups {
            let off = fx.b.ins().imul_imm_s(rows.group_stride, g as i64);
            let x = fx.b.ins().iadd(rows.base, off);
            let w = fx.b.ins().iadd_imm_s(self.w, (4 * g * panels * k * PANEL) as i64);
            gemm(fx, &[x, n, kv, w, pv, tile]);
            let bias_base = (4 * (geo.groups * panels * k + g * panels) * PANEL) as i64;
            let zero = fx.i(0);
            fx.for_range(zero, n, 1, |fx, r| {
                let row = fx.at(tile, r, (4 * panels * PANEL) as i64);
                let panel_body = |fx: &mut Fx, panel: Value, valid: usize| {
                    let at = fx.at(row, panel, (4 * PANEL) as i64);
                    let bias = fx.at(self.w, panel, (4 * PANEL) as i64);
                    let bias = fx.b.ins().iadd_imm_s(bias, bias_base);
                    for v in 0..2 {
                        let y = fx.ld(F32X4, at, 16 * v as i64);
                        self.epilogue(fx, y, r, g, panel, v, bias, valid);
                    }
                };
                if full > 0 {
                    let n = fx.i(full as i64);
                    fx.for_range(zero, n, 1, |fx, p| panel_body(fx, p, PANEL));
                }
                if partial > 0 {
                    let p = fx.i(full as i64);
                    panel_body(fx, p, partial);
                }
            });
        }
    }
}

/// `tile[r][c] = Σ_k w[c][k]·x[r][k]` for `r < rows` and every column of
/// `panels` packed panels, each sum `s = s + w·x` in `k` order from 0 (the
/// interpreter's bits; Rust never contracts to FMA, and the vector width
/// only changes how many sums run side by side). With AVX-512VL (32 vector
/// registers) a block is 6 rows × 4 panels of 8-lane accumulators; with
/// AVX, 4 rows × 2 panels.
///
/// # Safety
/// `x` holds `rows·k` values, `w` the packed panels, `tile` `rows·panels·8`.
pub unsafe extern "C" fn gemm_f32(x: *const f32, rows: u64, k: u64, w: *const f32, panels: u64, tile: *mut f32) {
    let (rows, k, panels) = (rows as usize, k as usize, panels as usize);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has AVX-512VL; the caller's buffers as documented.
            unsafe { gemm_avx512(x, rows, k, w, panels, tile) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX; buffers as above.
            unsafe { gemm_blocked::<4, 2>(x, rows, k, w, panels, tile) };
            return;
        }
    }
    // SAFETY: sizes as documented; the caller's buffers.
    let (x, w, tile) = unsafe {
        (
            std::slice::from_raw_parts(x, rows * k),
            std::slice::from_raw_parts(w, panels * k * PANEL),
            std::slice::from_raw_parts_mut(tile, rows * panels * PANEL),
        )
    };
    gemm_portable(x, rows, k, w, panels, tile);
}

fn gemm_portable(x: &[f32], rows: usize, k: usize, w: &[f32], panels: usize, tile: &mut [f32]) {
    for r in 0..rows {
        for p in 0..panels {
            let mut acc = [0.0f32; PANEL];
            for j in 0..k {
                for (lane, a) in acc.iter_mut().enumerate() {
                    *a += w[(p * k + j) * PANEL + lane] * x[r * k + j];
                }
            }
            tile[(r * panels + p) * PANEL..][..PANEL].copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx512f,avx512vl")]
unsafe fn gemm_avx512(x: *const f32, rows: usize, k: usize, w: *const f32, panels: usize, tile: *mut f32) {
    // SAFETY: the caller's contract; the wider register file is this function's.
    unsafe { gemm_blocked::<6, 4>(x, rows, k, w, panels, tile) }
}

/// Blocks of `R` rows × `P` panels, then the leftover rows one at a time
/// and the leftover panels one at a time. Panels outermost: a block's
/// weights stay in cache while every row goes past them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn gemm_blocked<const R: usize, const P: usize>(
    x: *const f32,
    rows: usize,
    k: usize,
    w: *const f32,
    panels: usize,
    tile: *mut f32,
) {
    let (full_rows, full_panels) = (rows / R * R, panels / P * P);
    let stride = panels * PANEL;
    let mut p = 0;
    while p < panels {
        let mut r = 0;
        while r < rows {
            // SAFETY: `r < rows`, `p < panels`; each block reads R (or 1)
            // rows and P (or 1) panels from there. (No closures here: they
            // would not share the caller's wider register file.)
            unsafe {
                let (x, w, t) = (x.add(r * k), w.add(p * k * PANEL), tile.add((r * panels + p) * PANEL));
                match (r < full_rows, p < full_panels) {
                    (true, true) => block::<R, P>(x, k, w, t, stride),
                    (true, false) => block::<R, 1>(x, k, w, t, stride),
                    (false, true) => block::<1, P>(x, k, w, t, stride),
                    (false, false) => block::<1, 1>(x, k, w, t, stride),
                }
            }
            r += if r < full_rows { R } else { 1 };
        }
        p += if p < full_panels { P } else { 1 };
    }
}

/// `R` rows × `P` panels: `R·P` accumulators in registers (the bounds are
/// constants, so the loops unroll and nothing spills).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn block<const R: usize, const P: usize>(x: *const f32, k: usize, w: *const f32, tile: *mut f32, stride: usize) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); P]; R];
    for j in 0..k {
        let mut wv = [_mm256_setzero_ps(); P];
        for (p, wv) in wv.iter_mut().enumerate() {
            // SAFETY: panel `p` holds `k` rows of 8.
            *wv = unsafe { _mm256_loadu_ps(w.add((p * k + j) * PANEL)) };
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row `i` holds `k` values.
            let xs = unsafe { _mm256_broadcast_ss(&*x.add(i * k + j)) };
            for (a, wv) in acc.iter_mut().zip(&wv) {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(*wv, xs));
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (p, a) in acc.iter().enumerate() {
            // SAFETY: row `i`'s panel `p` in the tile.
            unsafe { _mm256_storeu_ps(tile.add(i * stride + p * PANEL), *a) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector GEMM (whatever this CPU runs) against the portable one, bit
    /// for bit, with leftover rows and panels.
    #[test]
    fn vector_gemm_matches_the_portable_one() {
        let (rows, k, panels) = (13, 29, 9);
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
        let w: Vec<f32> = (0..panels * k * PANEL).map(|_| next()).collect();
        let (mut fast, mut slow) = (vec![0.0f32; rows * panels * PANEL], vec![0.0f32; rows * panels * PANEL]);
        // SAFETY: the buffers have the documented sizes.
        unsafe { gemm_f32(x.as_ptr(), rows as u64, k as u64, w.as_ptr(), panels as u64, fast.as_mut_ptr()) };
        gemm_portable(&x, rows, k, &w, panels, &mut slow);
        assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
