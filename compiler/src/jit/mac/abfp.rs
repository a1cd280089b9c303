//! The `abfp` MAC kernel, mirroring the interpreter's `mac::abfp`: each
//! row's tiles are quantized once into scratch (`s_x = max|x|` per tile and
//! `Q_b(x / s_x)`), then one row against 8 columns (two `F32X4`, a lane per
//! output) sums each tile's `p = Σ mant_w·Q_b(x/s_x)` in `k` order, adds the
//! ADC noise and converts: `y += s_w·s_x·n/g · Q_bout(g/n·p + ν·δ_out)`,
//! skipping tiles where `s_x = 0` or `s_w = 0`.
//!
//! Packed data (f32): mantissas `[group][panel][k][8]`, scales
//! `[group][panel][tiles][8]`, bias `[group][panel][8]`.

use super::common;
use super::geometry::{self, Geometry, Rows, PANEL};
use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::layout::{self, MAX_BATCH};
use crate::jit::noise::{self, Post};
use crate::jit::{host, Kernels};
use analog_runtime::derived::format::{Abfp, SQRT_3};
use analog_runtime::derived::noise::{adc_site, lsb_noise};
use analog_runtime::ir::hardware::NoiseShape;
use analog_runtime::ir::Node;
use analog_runtime::kernels::gemm;
use analog_runtime::quant::{self, Prepared};
use analog_runtime::tensor::Tensor;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, I32};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::Variable;

/// The format's constants, and the node's noise keys.
struct Params {
    c: Abfp,
    /// A user site's noise in `lsb`: site and σ.
    lsb: Option<(u32, f32)>,
    uid: u32,
}

impl Params {
    fn of(node: &Node, k: usize) -> Result<Params, String> {
        let c = Abfp::of(&node.hw.format, k).ok_or_else(|| format!("`{}` is not abfp", node.name))?;
        Ok(Params { c, lsb: lsb_noise(node), uid: node.uid })
    }
}

/// Emits the layer; returns whether the epilogue (`post`) was fused.
pub fn emit(layer: &mut Layer, geo: &Geometry, rows: &Rows, out: Value, post: &Post) -> Result<bool, String> {
    let node = layer.node();
    let pr = Params::of(node, geo.k)?;
    let per_group_rows = MAX_BATCH * geo.positions;
    let xq = layer.scratch.take(4 * geo.groups * per_group_rows * geo.k);
    let sx = layer.scratch.take(4 * geo.groups * per_group_rows * pr.c.tiles);
    let fuse = geo.positions == 1 && post.vectorizes();
    let count = geo.cols * geo.positions * pr.c.tiles;
    // Gaussian draws of the batch, `[batch][count]` per site, made up front.
    let gaussian_adc = matches!(pr.c.adc_noise, Some((_, NoiseShape::Gaussian)));
    let adc_eps = gaussian_adc.then(|| layer.scratch.take(4 * MAX_BATCH * count));
    let lsb_eps = pr.lsb.map(|_| layer.scratch.take(4 * MAX_BATCH * count));
    let sums_off = layer.scratch.take(4 * per_group_rows * pr.c.tiles * geo.panels() * PANEL);
    let (id, kernels) = (layer.id.index(), layer.kernels);
    let fx = &mut layer.fx;
    let w = fx.chip(2 * id);
    if let Some(off) = adc_eps {
        noise::fill_batch(fx, off, adc_site(pr.uid), count);
    }
    if let (Some(off), Some((site, _))) = (lsb_eps, pr.lsb) {
        noise::fill_batch(fx, off, site, count);
    }
    quantize(fx, geo, rows, &pr, xq, sx);
    // With the host kernels, every tile's sums of a group come from the host GEMM first.
    let sums = (kernels == Kernels::Native).then(|| {
        let buf = fx.scratch(sums_off);
        let nrows = geo.rows(fx);
        (buf, nrows)
    });
    let mut kern = Kernel { geo, pr: &pr, post, fuse, out, w, xq, sx, eps: [adc_eps, lsb_eps], count, sums };
    for g in 0..geo.groups {
        if let Some((buf, nrows)) = kern.sums {
            let panels = geo.panels();
            let x = fx.scratch(xq);
            let x = fx.b.ins().iadd_imm_s(x, (4 * g * MAX_BATCH * geo.positions * geo.k) as i64);
            let wg = fx.b.ins().iadd_imm_s(w, (4 * g * panels * geo.k * PANEL) as i64);
            let (kv, pv, nv) = (fx.i(geo.k as i64), fx.i(panels as i64), fx.i(pr.c.n as i64));
            fx.call(gemm::GEMM_TILES, &[x, nrows, kv, wg, pv, buf, nv]);
            kern.sums = Some((buf, nrows));
        }
        geometry::for_each_panel(fx, geo, |fx, panel, valid| kern.panel(fx, g, panel, valid));
    }
    Ok(fuse)
}

/// `(lo, hi)` of tile `t` (`i64`): `t·n .. min(t·n + n, k)`.
fn tile_range(fx: &mut Fx, t: Value, n: usize, k: usize) -> (Value, Value) {
    let lo = fx.b.ins().imul_imm_s(t, n as i64);
    let hi = fx.b.ins().iadd_imm_s(lo, n as i64);
    let kv = fx.i(k as i64);
    let hi = fx.b.ins().smin(hi, kv);
    (lo, hi)
}

/// Per row and tile, `s_x` into `sx` (`[group][rows][tiles]`) and the
/// quantized inputs `Q_b(x / s_x)` into `xq` (`[group][rows][k]`).
fn quantize(fx: &mut Fx, geo: &Geometry, rows: &Rows, pr: &Params, xq: usize, sx: usize) {
    let k = geo.k;
    let (xq_base, sx_base) = (fx.scratch(xq), fx.scratch(sx));
    let nrows = geo.rows(fx);
    for g in 0..geo.groups {
        let x = rows.group(fx, g);
        let gq = fx.b.ins().iadd_imm_s(xq_base, (4 * g * MAX_BATCH * geo.positions * k) as i64);
        let gs = fx.b.ins().iadd_imm_s(sx_base, (4 * g * MAX_BATCH * geo.positions * pr.c.tiles) as i64);
        let zero = fx.i(0);
        fx.for_range(zero, nrows, 1, |fx, r| {
            let xr = fx.at(x, r, 4 * k as i64);
            let qr = fx.at(gq, r, 4 * k as i64);
            let sr = fx.at(gs, r, 4 * pr.c.tiles as i64);
            let (zero, tiles) = (fx.i(0), fx.i(pr.c.tiles as i64));
            fx.for_range(zero, tiles, 1, |fx, t| {
                let (lo, hi) = tile_range(fx, t, pr.c.n, k);
                let s = fx.max_abs(xr, lo, hi);
                let at = fx.at(sr, t, 4);
                fx.st(s, at, 0);
                fx.for_range(lo, hi, 1, |fx, j| {
                    let at = fx.at(xr, j, 4);
                    let v = fx.ld(F32, at, 0);
                    let v = fx.b.ins().fdiv(v, s);
                    let q = common::q_bits(fx, v, pr.c.input_bits);
                    let at = fx.at(qr, j, 4);
                    fx.st(q, at, 0);
                });
            });
        });
    }
}

/// Where a row's noise draws are keyed: its sample (`i32`), the element
/// of its first conversion against a panel (`i32`), and that conversion's
/// index in the pre-drawn `[batch][count]` Gaussians (`i64`).
struct Keys {
    sample: Value,
    first_element: Value,
    drawn: Value,
}

/// Tile `t` (`i64`, and `i32`) of a row: its `s_x` (`F32X4`) and the
/// address of the panel's `s_w` for it.
struct Tile {
    t: Value,
    t32: Value,
    s_x: Value,
    s_w: Value,
}

struct Kernel<'a> {
    geo: &'a Geometry,
    pr: &'a Params,
    post: &'a Post,
    fuse: bool,
    out: Value,
    w: Value,
    xq: usize,
    sx: usize,
    /// Scratch of the pre-drawn Gaussians: ADC, lsb site.
    eps: [Option<usize>; 2],
    count: usize,
    /// The host GEMM's tile sums `[tiles][rows][panels·8]` and the row count, if used.
    sums: Option<(Value, Value)>,
}

impl Kernel<'_> {
    fn panel(&self, fx: &mut Fx, g: usize, panel: Value, valid: usize) {
        let rows = self.geo.rows(fx);
        let zero = fx.i(0);
        fx.for_range(zero, rows, 1, |fx, r| self.row(fx, r, g, panel, valid));
    }

    /// Row `r` against one panel of `valid` columns.
    fn row(&self, fx: &mut Fx, r: Value, g: usize, panel: Value, valid: usize) {
        let (geo, pr, k) = (self.geo, self.pr, self.geo.k);
        let g_all = (geo.groups * geo.panels()) as i64;
        let first = fx.b.ins().iadd_imm_s(panel, (g * geo.panels()) as i64);
        let wp = fx.at(self.w, first, (4 * k * PANEL) as i64);
        let sw_base = fx.b.ins().iadd_imm_s(self.w, 4 * PANEL as i64 * g_all * k as i64);
        let sw_p = fx.at(sw_base, first, (4 * PANEL * pr.c.tiles) as i64);
        let bias = fx.b.ins().iadd_imm_s(first, g_all * (k + pr.c.tiles) as i64);
        let bias = fx.at(self.w, bias, (4 * PANEL) as i64);
        let xq = fx.scratch(self.xq);
        let xq = fx.b.ins().iadd_imm_s(xq, (4 * g * MAX_BATCH * geo.positions * k) as i64);
        let xr = fx.at(xq, r, 4 * k as i64);
        let sx = fx.scratch(self.sx);
        let sx = fx.b.ins().iadd_imm_s(sx, (4 * g * MAX_BATCH * geo.positions * pr.c.tiles) as i64);
        let sr = fx.at(sx, r, 4 * pr.c.tiles as i64);
        // Output columns of this panel's lanes (first lane) and the noise keys.
        let o0 = fx.b.ins().imul_imm_s(panel, PANEL as i64);
        let o0 = fx.b.ins().iadd_imm_s(o0, (g * geo.per_group()) as i64);
        let noisy = pr.c.adc_noise.is_some() || pr.lsb.is_some();
        let keys = noisy.then(|| self.keys(fx, r, o0));
        let zero = fx.fc(F32X4, 0.0);
        let y = [fx.var(F32X4, zero), fx.var(F32X4, zero)];
        let (t0, tiles) = (fx.i(0), fx.i(pr.c.tiles as i64));
        fx.for_range(t0, tiles, 1, |fx, t| {
            let zero = fx.fc(F32X4, 0.0);
            let p = [fx.var(F32X4, zero), fx.var(F32X4, zero)];
            self.tile_sums(fx, t, r, panel, xr, wp, &p);
            let at = fx.at(sr, t, 4);
            let s_x = fx.ld(F32, at, 0);
            let s_xv = fx.b.ins().splat(F32X4, s_x);
            let swt = fx.at(sw_p, t, (4 * PANEL) as i64);
            let t32 = fx.b.ins().ireduce(I32, t);
            for v in 0..2 {
                let lanes = valid.saturating_sub(4 * v).min(4);
                if lanes == 0 {
                    continue;
                }
                let tile = Tile { t, t32, s_x: s_xv, s_w: swt };
                self.convert(fx, &tile, v, lanes, keys.as_ref(), p[v], y[v]);
            }
        });
        for (v, y) in y.iter().enumerate() {
            let lanes = valid.saturating_sub(4 * v).min(4);
            if lanes == 0 {
                continue;
            }
            let y = fx.b.use_var(*y);
            let b = fx.ld_ro(F32X4, bias, 16 * v as i64);
            let mut y = fx.b.ins().fadd(y, b);
            let o = fx.b.ins().iadd_imm_s(o0, 4 * v as i64);
            if self.fuse {
                y = self.post.apply(fx, y, r, o);
            }
            geometry::store_lanes(fx, geo, self.out, y, r, o, lanes);
        }
    }

    /// The noise keys of row `r` against the panel whose first column is `o0`.
    fn keys(&self, fx: &mut Fx, r: Value, o0: Value) -> Keys {
        let (geo, pr) = (self.geo, self.pr);
        let pos = fx.i(geo.positions as i64);
        let b = fx.b.ins().udiv(r, pos);
        let p = fx.b.ins().urem(r, pos);
        let b32 = fx.b.ins().ireduce(I32, b);
        let first_sample = fx.field(I32, layout::FIRST_SAMPLE);
        let sample = fx.b.ins().iadd(first_sample, b32);
        // element = rep·count + ((o·positions + p)·tiles + t)
        let count = (geo.cols * geo.positions * pr.c.tiles) as u32 as i32 as i64;
        let base = fx.b.ins().imul_imm_s(fx.rep, count);
        let conv = fx.b.ins().imul_imm_s(o0, geo.positions as i64);
        let conv = fx.b.ins().iadd(conv, p);
        let conv = fx.b.ins().imul_imm_s(conv, pr.c.tiles as i64);
        let conv64 = conv;
        let conv = fx.b.ins().ireduce(I32, conv);
        let first_element = fx.b.ins().iadd(base, conv);
        // Where this row's draws start in the pre-drawn `[batch][count]`.
        let drawn = fx.b.ins().imul_imm_s(b, self.count as i64);
        let drawn = fx.b.ins().iadd(drawn, conv64);
        Keys { sample, first_element, drawn }
    }

    /// `p = Σ mant_w·Q_b(x/s_x)` of tile `t` of row `r` (its quantized
    /// inputs at `xr`) for the 8 columns of `panel` (weights at `wp`), into `p`.
    #[allow(clippy::too_many_arguments)]
    fn tile_sums(&self, fx: &mut Fx, t: Value, r: Value, panel: Value, xr: Value, wp: Value, p: &[Variable; 2]) {
        let (geo, k) = (self.geo, self.geo.k);
        let (lo, hi) = tile_range(fx, t, self.pr.c.n, k);
        match self.sums {
            Some((buf, nrows)) => {
                // Tile `t`, row `r`, this group's panel: `((t·rows + r)·panels + panel)·8`.
                let i = fx.b.ins().imul(t, nrows);
                let i = fx.b.ins().iadd(i, r);
                let i = fx.b.ins().imul_imm_s(i, geo.panels() as i64);
                let i = fx.b.ins().iadd(i, panel);
                let at = fx.at(buf, i, (4 * PANEL) as i64);
                for (v, acc) in p.iter().enumerate() {
                    let s = fx.ld(F32X4, at, 16 * v as i64);
                    fx.b.def_var(*acc, s);
                }
            }
            None => fx.for_range(lo, hi, 1, |fx, j| {
                let at = fx.at(xr, j, 4);
                let xs = fx.ld(F32, at, 0);
                let xs = fx.b.ins().splat(F32X4, xs);
                let wk = fx.at(wp, j, (4 * PANEL) as i64);
                for (v, acc) in p.iter().enumerate() {
                    let m = fx.ld_ro(F32X4, wk, 16 * v as i64);
                    let a = fx.b.use_var(*acc);
                    let s = fx.b.ins().fma(m, xs, a);
                    fx.b.def_var(*acc, s);
                }
            }),
        }
    }

    /// The ADC conversion of a tile's sums `p` for columns `4v..4v+lanes`,
    /// added to their outputs `y`: `y += s_w·s_x·n/g · Q_bout(g/n·p + ν·δ_out)`
    /// unless `s_w` or `s_x` is 0.
    #[allow(clippy::too_many_arguments)]
    fn convert(&self, fx: &mut Fx, tile: &Tile, v: usize, lanes: usize, keys: Option<&Keys>, p: Variable, y: Variable) {
        let (geo, pr) = (self.geo, self.pr);
        let nu = match keys {
            Some(&Keys { sample, first_element, drawn }) => {
                let e = fx.b.ins().iadd(first_element, tile.t32);
                let d = fx.b.ins().iadd(drawn, tile.t);
                let l: Vec<Value> = (0..lanes)
                    .map(|lane| {
                        let step = ((4 * v + lane) * geo.positions * pr.c.tiles) as i64;
                        let e = fx.b.ins().iadd_imm_s(e, step);
                        let d = fx.b.ins().iadd_imm_s(d, step);
                        self.noise(fx, sample, e, d)
                    })
                    .collect();
                common::vector(fx, &l)
            }
            None => fx.fc(F32X4, 0.0),
        };
        let pv = fx.b.use_var(p);
        let gn = fx.fc(F32X4, pr.c.gain_per_input);
        let a = fx.b.ins().fmul(gn, pv);
        let d = fx.fc(F32X4, pr.c.delta_out);
        let nd = fx.b.ins().fmul(nu, d);
        let value = fx.b.ins().fadd(a, nd);
        let q = common::q_bits(fx, value, pr.c.adc_bits);
        let s_w = fx.ld_ro(F32X4, tile.s_w, 16 * v as i64);
        let s = fx.b.ins().fmul(s_w, tile.s_x);
        let nf = fx.fc(F32X4, pr.c.n as f32);
        let s = fx.b.ins().fmul(s, nf);
        let gv = fx.fc(F32X4, pr.c.gain);
        let s = fx.b.ins().fdiv(s, gv);
        let term = fx.b.ins().fmul(s, q);
        let old = fx.b.use_var(y);
        let new = fx.b.ins().fadd(old, term);
        let zero = fx.fc(F32X4, 0.0);
        let new = fx.select_cmp(FloatCC::Equal, s_w, zero, old, new);
        let new = fx.select_cmp(FloatCC::Equal, tile.s_x, zero, old, new);
        fx.b.def_var(y, new);
    }

    /// `ν` of one conversion (element `e`, `i32`), in ADC steps.
    /// (`d`: its index in the pre-drawn Gaussians, `i64`).
    fn noise(&self, fx: &mut Fx, sample: Value, e: Value, d: Value) -> Value {
        let drawn = |fx: &mut Fx, off: usize| {
            let base = fx.scratch(off);
            let at = fx.at(base, d, 4);
            fx.ld(F32, at, 0)
        };
        let ctx = fx.ctx;
        let mut nu = fx.f(0.0);
        if let Some((sigma, shape)) = self.pr.c.adc_noise {
            let site = fx.i32(adc_site(self.pr.uid) as i64);
            let d = match shape {
                NoiseShape::Gaussian => drawn(fx, self.eps[0].expect("pre-drawn ADC noise")),
                NoiseShape::Uniform => {
                    let u = fx.call(host::UNIFORM, &[ctx, sample, site, e])[0];
                    let two = fx.f(2.0);
                    let d = fx.b.ins().fmul(two, u);
                    let one = fx.f(1.0);
                    let d = fx.b.ins().fsub(d, one);
                    let r3 = fx.f(SQRT_3);
                    fx.b.ins().fmul(d, r3)
                }
            };
            let s = fx.f(sigma);
            let sd = fx.b.ins().fmul(s, d);
            nu = fx.b.ins().fadd(nu, sd);
        }
        if let Some((_, sigma)) = self.pr.lsb {
            let d = drawn(fx, self.eps[1].expect("pre-drawn lsb noise"));
            let s = fx.f(sigma);
            let sd = fx.b.ins().fmul(s, d);
            nu = fx.b.ins().fadd(nu, sd);
        }
        nu
    }
}

/// The layer's weights packed for the kernel (f32).
pub fn pack(geo: &Geometry, node: &Node, weights: &[f32]) -> Vec<f32> {
    let shape = node.param("weight").expect("a MAC layer has weights").shape.clone();
    let prepared = quant::prepare(&node.hw.format, &Tensor::new(shape, weights.to_vec()));
    let Some(Prepared::Abfp { mantissas, scales, tiles }) = prepared else { unreachable!("abfp weights") };
    let bias = node.param("bias").map(|b| &b.data[..]);
    let k = geo.k;
    let mut out = vec![0.0f32; geometry::panel_words(geo, k + tiles + 1)];
    geometry::put_panels(geo, &mut out, 0, k, |col, j| mantissas[col * k + j]);
    geometry::put_panels(geo, &mut out, geometry::panel_words(geo, k), tiles, |col, t| scales[col * tiles + t]);
    let at = geometry::panel_words(geo, k + tiles);
    geometry::put_panels(geo, &mut out, at, 1, |col, _| bias.map_or(0.0, |b| b[col]));
    out
}
