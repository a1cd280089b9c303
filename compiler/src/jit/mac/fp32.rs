//! FP32 MAC with exact or clamped accumulation, in pure Cranelift: a 4×8
//! register block (4 rows, 8 columns in two `F32X4` accumulators each); each
//! lane sums its own dot product in `k` order, `s = fma(w, x, s)`, as the
//! interpreter does, so the results are the interpreter's bits.

use super::geometry::{self, Geometry, Rows, PANEL};
use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::layout::MAX_BATCH;
use crate::jit::noise::Post;
use crate::jit::Kernels;
use analog_runtime::derived::format::clamp_bounds;
use analog_runtime::kernels::gemm::GEMM;
use cranelift_codegen::ir::types::{F32, F32X4};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::Variable;

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
    let clamp = clamp_bounds(&layer.node().hw.accumulate);
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
    for g in 0..geo.groups {
        let x = rows.group(fx, g);
        geometry::for_each_panel(fx, geo, |fx, panel, valid| kern.panel(fx, g, panel, x, valid));
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
        let rows = self.geo.rows(fx);
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
                        let a = fx.b.use_var(acc[i][v]);
                        let s = fx.b.ins().fma(w, xs, a);
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
                self.epilogue(fx, y, ri, None, g, panel, v, bias, valid);
            }
        }
    }

    /// Clamp, bias, then noise and activation while in registers, and the
    /// store: sums `y` of row `r`, lanes `4v..4v+4` of a panel.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn epilogue(
        &self,
        fx: &mut Fx,
        y: Value,
        r: Value,
        split: Option<(Value, Value)>,
        g: usize,
        panel: Value,
        v: usize,
        bias: Value,
        valid: usize,
    ) {
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
        match split {
            Some((b, p)) => geometry::store_lanes_split(fx, self.geo, self.out, y, b, p, o, lanes),
            None => geometry::store_lanes(fx, self.geo, self.out, y, r, o, lanes),
        }
    }

    /// The layer through the host's GEMM (same sums, wider vectors), one
    /// group at a time: it writes `[rows][panels·8]` sums to `tile`, then the
    /// epilogue runs here.
    fn native(&self, layer: &mut Layer, rows: &Rows, gemm: &dyn Fn(&mut Fx, &[Value])) {
        let (k, panels, geo) = (self.geo.k, self.geo.panels(), self.geo);
        let tile = layer.scratch.take(4 * MAX_BATCH * geo.positions * panels * PANEL);
        let fx = &mut layer.fx;
        let tile = fx.scratch(tile);
        let n = geo.rows(fx);
        let (kv, pv) = (fx.i(k as i64), fx.i(panels as i64));
        for g in 0..geo.groups {
            let x = rows.group(fx, g);
            let w = fx.b.ins().iadd_imm_s(self.w, (4 * g * panels * k * PANEL) as i64);
            gemm(fx, &[x, n, kv, w, pv, tile]);
            let bias_base = (4 * (geo.groups * panels * k + g * panels) * PANEL) as i64;
            geometry::for_each_row(fx, geo, |fx, r, split| {
                let row = fx.at(tile, r, (4 * panels * PANEL) as i64);
                let panel_body = |fx: &mut Fx, panel: Value, valid: usize| {
                    let at = fx.at(row, panel, (4 * PANEL) as i64);
                    let bias = fx.at(self.w, panel, (4 * PANEL) as i64);
                    let bias = fx.b.ins().iadd_imm_s(bias, bias_base);
                    for v in 0..2 {
                        let y = fx.ld(F32X4, at, 16 * v as i64);
                        self.epilogue(fx, y, r, Some(split), g, panel, v, bias, valid);
                    }
                };
                geometry::for_each_panel(fx, geo, panel_body);
            });
        }
    }
}
