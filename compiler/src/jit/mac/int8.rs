//! The `int8` MAC kernel, mirroring the interpreter's `mac::int8`: each row's
//! input codes are quantized once into scratch, then a register block of
//! rows × 8 columns computes the integer terms
//! `M(x_q, w_q) − z_w·x_q − z_x·w_q + z_x·z_w` with `I32X4` lanes across
//! output columns (products through the multiplier's table: one scalar load
//! each). Exact accumulation sums the terms as integers (`i32` lanes when no
//! sum can overflow, else `i64`) and dequantizes once; clamped and ordered
//! accumulations sum `scale · term` in f32 as the interpreter does.
//!
//! Packed data (32-bit words): codes `[group][panel][k][8]` (i32), then per
//! `[group][panel][8]` the weight zero points (i32), the scales `s_x·s_w`
//! (f32) and the bias (f32), then the 65,536 table entries (i32), if any.

use super::common::{self, Products};
use super::geometry::{self, Geometry, Rows, PANEL};
use super::table;
use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::layout::MAX_BATCH;
use crate::jit::noise::Post;
use crate::jit::Kernels;
use analog_runtime::derived::format::{clamp_bounds, Int8Input, Leaky};
use analog_runtime::ir::hardware::{Accumulate, Order};
use analog_runtime::ir::Node;
use analog_runtime::quant::{self, Prepared};
use analog_runtime::tensor::Tensor;
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4, I64, I64X2};
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::Variable;

#[derive(Copy, Clone, PartialEq)]
enum Sum {
    /// Integer sums in `i32` lanes.
    I32,
    /// Integer sums in `i64` lanes.
    I64,
    /// f32 sums of `scale · term`, clamped.
    Clamp(f32, f32),
    /// f32 products into scratch, then the ordered fold per column.
    Ordered,
}

struct Kernel<'a> {
    geo: &'a Geometry,
    post: &'a Post,
    fuse: bool,
    out: Value,
    w: Value,
    table: Option<Value>,
    signed: bool,
    z_x: i32,
    sum: Sum,
    /// Quantized rows `[group][rows][k]` (i32).
    q: usize,
    /// Ordered sums: products `[k][8]` and sort keys.
    products: Option<(usize, usize)>,
    perm: Option<Value>,
    accumulate: Accumulate,
}

/// Emits the layer; returns whether the epilogue (`post`) was fused.
pub fn emit(layer: &mut Layer, geo: &Geometry, rows: &Rows, out: Value, post: &Post) -> Result<bool, String> {
    let node = layer.node();
    let input = input_of(node)?;
    let entries = layer.tables[layer.id.index()].as_deref();
    let sum = plan(node, geo, entries)?;
    let table = entries;
    let accumulate = node.hw.accumulate.clone();
    let q = layer.scratch.take(4 * geo.groups * MAX_BATCH * geo.positions * geo.k);
    let products =
        (sum == Sum::Ordered).then(|| (layer.scratch.take(4 * PANEL * geo.k), layer.scratch.take(8 * geo.k)));
    let fuse = geo.positions == 1 && post.vectorizes();
    let pad = geo.per_group().div_ceil(table::LANES) * table::LANES;
    let tile = layer.scratch.take(4 * MAX_BATCH * geo.positions * pad);
    let (id, kernels) = (layer.id.index(), layer.kernels);
    let fx = &mut layer.fx;
    let w = fx.chip(2 * id);
    let perm = matches!(accumulate, Accumulate::Ordered { order: Order::Random, .. }).then(|| fx.chip(2 * id + 1));
    let g_all = geo.groups * geo.panels();
    let table = table.map(|_| fx.b.ins().iadd_imm_s(w, (4 * PANEL * g_all * (geo.k + 3)) as i64));
    quantize(fx, geo, rows, q, input);
    if let Some(unsigned) = host_table(sum, entries).filter(|_| kernels == Kernels::Native) {
        native(fx, geo, w, q, tile, input.zero, unsigned, post, fuse, out);
        return Ok(fuse);
    }
    let (signed, z_x) = (input.signed, input.zero);
    let kern = Kernel { geo, post, fuse, out, w, table, signed, z_x, sum, q, products, perm, accumulate };
    for g in 0..geo.groups {
        geometry::for_each_panel(fx, geo, |fx, panel, valid| kern.panel(fx, g, panel, valid));
    }
    Ok(fuse)
}

/// The input quantization of an int8 node.
fn input_of(node: &Node) -> Result<Int8Input, String> {
    Int8Input::of(&node.hw.format).ok_or_else(|| format!("`{}` is not int8", node.name))
}

/// How the layer sums, given its product table's entries (if it has one).
fn plan(node: &Node, geo: &Geometry, entries: Option<&[i32]>) -> Result<Sum, String> {
    let Int8Input { signed, zero: z_x, .. } = input_of(node)?;
    // Bound on |term|, and on every integer sum: codes of either operand
    // within `int8_codes`, a weight zero point within the unsigned codes.
    let (lo, hi) = quant::int8_codes(signed);
    let max_q = (lo as i64).abs().max(hi as i64);
    let max_zw: i64 = if signed { 0 } else { max_q };
    let max_p: i64 = match entries {
        Some(e) => e.iter().map(|e| (*e as i64).abs()).max().unwrap_or(0),
        None => max_q * max_q,
    };
    let z = (z_x as i64).abs();
    let bound = max_p + max_zw * max_q + z * max_q + z * max_zw;
    if bound > i32::MAX as i64 {
        return Err(format!("the JIT does not compile `{}`: its product table's entries are too large", node.name));
    }
    let sum = match node.hw.accumulate {
        Accumulate::Exact if (geo.k as i64).saturating_mul(bound) <= i32::MAX as i64 => Sum::I32,
        Accumulate::Exact => Sum::I64,
        Accumulate::Clamp { .. } => {
            let (lo, hi) = clamp_bounds(&node.hw.accumulate).expect("a clamped sum");
            Sum::Clamp(lo, hi)
        }
        Accumulate::Ordered { .. } => Sum::Ordered,
    };
    Ok(sum)
}

/// Whether the host's table kernel can sum this layer (`Some(unsigned)`,
/// how its 16-bit entries widen): a table, and `i32` sums.
fn host_table(sum: Sum, entries: Option<&[i32]>) -> Option<bool> {
    entries.filter(|_| sum == Sum::I32).and_then(table::entries16)
}

/// Input codes of every row into scratch `q`: `[group][rows][k]` i32
/// (`Int8Input::code`).
fn quantize(fx: &mut Fx, geo: &Geometry, rows: &Rows, q: usize, input: Int8Input) {
    let Int8Input { signed, scale: s_x, zero: z_x } = input;
    let (lo, hi) = quant::int8_codes(signed);
    let base = fx.scratch(q);
    let batch = fx.batch();
    let n = fx.b.ins().imul_imm_s(batch, (geo.positions * geo.k) as i64);
    for g in 0..geo.groups {
        let x = rows.group(fx, g);
        let dst = fx.b.ins().iadd_imm_s(base, (4 * g * MAX_BATCH * geo.positions * geo.k) as i64);
        let zero = fx.i(0);
        fx.for_range(zero, n, 1, |fx, i| {
            let at = fx.at(x, i, 4);
            let v = fx.ld(F32, at, 0);
            let s = fx.f(s_x);
            let v = fx.b.ins().fdiv(v, s);
            let v = fx.b.ins().nearest(v);
            let c = fx.b.ins().fcvt_to_sint_sat(I32, v);
            let c = if signed { c } else { fx.b.ins().iadd_imm_s(c, z_x as i64) };
            let (lo, hi) = (fx.i32(lo as i64), fx.i32(hi as i64));
            let c = fx.b.ins().smax(c, lo);
            let c = fx.b.ins().smin(c, hi);
            let at = fx.at(dst, i, 4);
            fx.st(c, at, 0);
        });
    }
}

/// Words of the packed data before the host kernel's: codes, the three
/// per-column parameters, and the i32 table.
fn host_data_start(geo: &Geometry) -> usize {
    geo.groups * geo.panels() * PANEL * (geo.k + 3) + 65536
}

/// The layer through the host's table kernel: per group, `[rows][cols]`
/// integer sums into scratch, then dequantization, bias, `post` and the
/// stores here, as the generated kernel's `I32` epilogue does them.
#[allow(clippy::too_many_arguments)]
fn native(
    fx: &mut Fx,
    geo: &Geometry,
    w: Value,
    q: usize,
    tile: usize,
    z_x: i32,
    unsigned: bool,
    post: &Post,
    fuse: bool,
    out: Value,
) {
    let (k, panels, pg) = (geo.k, geo.panels(), geo.per_group());
    let pad = pg.div_ceil(table::LANES) * table::LANES;
    let g_all = geo.groups * panels;
    let start = host_data_start(geo);
    let table16 = fx.b.ins().iadd_imm_s(w, 4 * start as i64);
    let tile = fx.scratch(tile);
    let nrows = geo.rows(fx);
    let stride = 4 * PANEL as i64 * g_all as i64;
    for g in 0..geo.groups {
        let qg = fx.scratch(q + 4 * g * MAX_BATCH * geo.positions * k);
        let data = 4 * (start + 65536 / 2 + g * table::group_words(k, pg));
        let data = fx.b.ins().iadd_imm_s(w, data as i64);
        let (kv, cv, zx, un) = (fx.i(k as i64), fx.i(pg as i64), fx.i32(z_x as i64), fx.i32(unsigned as i64));
        fx.call(table::TABLE, &[qg, nrows, kv, data, cv, tile, zx, table16, un]);
        geometry::for_each_row(fx, geo, |fx, r, (b, p)| {
            let row = fx.at(tile, r, 4 * pad as i64);
            let panel_body = |fx: &mut Fx, panel: Value, valid: usize| {
                let first = fx.b.ins().iadd_imm_s(panel, (g * panels) as i64);
                let params = fx.b.ins().iadd_imm_s(first, (g_all * k) as i64);
                let params = fx.at(w, params, (4 * PANEL) as i64);
                let sums = fx.at(row, panel, (4 * PANEL) as i64);
                for v in 0..2 {
                    let lanes = valid.saturating_sub(4 * v).min(4);
                    if lanes == 0 {
                        continue;
                    }
                    let scale = fx.ld_ro(F32X4, params, stride + 16 * v as i64);
                    let bias = fx.ld_ro(F32X4, params, 2 * stride + 16 * v as i64);
                    let a = fx.ld(I32X4, sums, 16 * v as i64);
                    let f = fx.b.ins().fcvt_from_sint(F32X4, a);
                    let y = fx.b.ins().fmul(scale, f);
                    let mut y = fx.b.ins().fadd(y, bias);
                    let o = fx.b.ins().imul_imm_s(panel, PANEL as i64);
                    let o = fx.b.ins().iadd_imm_s(o, (g * pg + 4 * v) as i64);
                    if fuse {
                        y = post.apply(fx, y, r, o);
                    }
                    geometry::store_lanes_split(fx, geo, out, y, b, p, o, lanes);
                }
            };
            geometry::for_each_panel(fx, geo, panel_body);
        });
    }
}

impl Kernel<'_> {
    fn panel(&self, fx: &mut Fx, g: usize, panel: Value, valid: usize) {
        let rows = self.geo.rows(fx);
        let zero = fx.i(0);
        if self.sum == Sum::Ordered {
            fx.for_range(zero, rows, 1, |fx, r| self.block(fx, 1, r, g, panel, valid));
            return;
        }
        const MR: usize = 4;
        let blocked = fx.b.ins().band_imm_s(rows, !(MR as i64 - 1));
        fx.for_range(zero, blocked, MR as i64, |fx, r| self.block(fx, MR, r, g, panel, valid));
        fx.for_range(blocked, rows, 1, |fx, r| self.block(fx, 1, r, g, panel, valid));
    }

    fn block(&self, fx: &mut Fx, mr: usize, r: Value, g: usize, panel: Value, valid: usize) {
        let (k, geo) = (self.geo.k, self.geo);
        let g_all = (geo.groups * geo.panels()) as i64;
        let first = fx.b.ins().iadd_imm_s(panel, (g * geo.panels()) as i64);
        let wp = fx.at(self.w, first, (4 * k * PANEL) as i64);
        let params = fx.b.ins().iadd_imm_s(first, g_all * k as i64);
        let params = fx.at(self.w, params, (4 * PANEL) as i64);
        let stride = 4 * PANEL as i64 * g_all;
        let zw: Vec<Value> = (0..2).map(|v| fx.ld_ro(I32X4, params, 16 * v)).collect();
        let scale: Vec<Value> = (0..2).map(|v| fx.ld_ro(F32X4, params, stride + 16 * v)).collect();
        let bias: Vec<Value> = (0..2).map(|v| fx.ld_ro(F32X4, params, 2 * stride + 16 * v)).collect();
        let zx = fx.i32(self.z_x as i64);
        let zx = fx.b.ins().splat(I32X4, zx);
        let zxzw: Vec<Value> = zw.iter().map(|z| fx.b.ins().imul(*z, zx)).collect();
        let qbase = fx.scratch(self.q);
        let qbase = fx.b.ins().iadd_imm_s(qbase, (4 * g * MAX_BATCH * geo.positions * k) as i64);
        let xr: Vec<Value> = (0..mr)
            .map(|i| {
                let ri = fx.b.ins().iadd_imm_s(r, i as i64);
                fx.at(qbase, ri, 4 * k as i64)
            })
            .collect();
        let acc: Vec<Vec<Variable>> = (0..mr).map(|_| self.accumulators(fx)).collect();
        let pbase = self.products.map(|(p, _)| fx.scratch(p));
        let (lo, end) = (fx.i(0), fx.i(k as i64));
        fx.for_range(lo, end, 1, |fx, kk| {
            let wk = fx.at(wp, kk, (4 * PANEL) as i64);
            let w: Vec<Value> = (0..2).map(|v| fx.ld_ro(I32X4, wk, 16 * v)).collect();
            for (i, row) in xr.iter().enumerate() {
                let at = fx.at(*row, kk, 4);
                let xq = fx.ld_ro(I32, at, 0);
                let xs = fx.b.ins().splat(I32X4, xq);
                for v in 0..2 {
                    let t = self.term(fx, w[v], xq, xs, zw[v], zxzw[v]);
                    self.add(fx, &acc[i], v, t, scale[v], pbase.map(|pb| (pb, kk)));
                }
            }
        });
        for (i, acc) in acc.iter().enumerate() {
            let ri = fx.b.ins().iadd_imm_s(r, i as i64);
            for v in 0..2 {
                let lanes = valid.saturating_sub(4 * v).min(4);
                if lanes == 0 {
                    continue;
                }
                let mut y = self.sum(fx, acc, v, lanes, scale[v], pbase);
                y = fx.b.ins().fadd(y, bias[v]);
                let o = fx.b.ins().imul_imm_s(panel, PANEL as i64);
                let o = fx.b.ins().iadd_imm_s(o, (g * geo.per_group() + 4 * v) as i64);
                if self.fuse {
                    y = self.post.apply(fx, y, ri, o);
                }
                geometry::store_lanes(fx, geo, self.out, y, ri, o, lanes);
            }
        }
    }

    /// A row's accumulators: 2 (i32 / f32) or 4 (i64) vectors, none for ordered sums.
    fn accumulators(&self, fx: &mut Fx) -> Vec<Variable> {
        match self.sum {
            Sum::I32 => {
                let z = fx.i32(0);
                let z = fx.b.ins().splat(I32X4, z);
                (0..2).map(|_| fx.var(I32X4, z)).collect()
            }
            Sum::I64 => {
                let z = fx.i(0);
                let z = fx.b.ins().splat(I64X2, z);
                (0..4).map(|_| fx.var(I64X2, z)).collect()
            }
            Sum::Clamp(..) => {
                let z = fx.fc(F32X4, 0.0);
                (0..2).map(|_| fx.var(F32X4, z)).collect()
            }
            Sum::Ordered => vec![],
        }
    }

    /// Adds the terms `t` of columns `4v..4v+4` to a row's accumulators
    /// (`acc`), or stores their products `scale·t` at step `kk` of the
    /// products scratch (`products`, ordered sums).
    fn add(&self, fx: &mut Fx, acc: &[Variable], v: usize, t: Value, scale: Value, products: Option<(Value, Value)>) {
        match self.sum {
            Sum::I32 => {
                let a = fx.b.use_var(acc[v]);
                let s = fx.b.ins().iadd(a, t);
                fx.b.def_var(acc[v], s);
            }
            Sum::I64 => {
                let halves = [fx.b.ins().swiden_low(t), fx.b.ins().swiden_high(t)];
                for (h, part) in halves.into_iter().enumerate() {
                    let a = fx.b.use_var(acc[2 * v + h]);
                    let s = fx.b.ins().iadd(a, part);
                    fx.b.def_var(acc[2 * v + h], s);
                }
            }
            Sum::Clamp(..) | Sum::Ordered => {
                let tf = fx.b.ins().fcvt_from_sint(F32X4, t);
                let p = fx.b.ins().fmul(scale, tf);
                if let Some((pb, kk)) = products {
                    let at = fx.at(pb, kk, (4 * PANEL) as i64);
                    fx.st(p, at, 16 * v as i64);
                } else {
                    let a = fx.b.use_var(acc[v]);
                    let s = fx.b.ins().fadd(a, p);
                    fx.b.def_var(acc[v], s);
                }
            }
        }
    }

    /// The dequantized (and clamped, or ordered-folded) sums of columns
    /// `4v..4v+lanes` of a row, before the bias.
    fn sum(&self, fx: &mut Fx, acc: &[Variable], v: usize, lanes: usize, scale: Value, pbase: Option<Value>) -> Value {
        let k = self.geo.k;
        match self.sum {
            Sum::I32 => {
                let a = fx.b.use_var(acc[v]);
                let f = fx.b.ins().fcvt_from_sint(F32X4, a);
                fx.b.ins().fmul(scale, f)
            }
            Sum::I64 => {
                let mut l = vec![];
                for h in 0..2 {
                    let a = fx.b.use_var(acc[2 * v + h]);
                    for lane in 0..2 {
                        let s = fx.b.ins().extractlane(a, lane);
                        l.push(fx.b.ins().fcvt_from_sint(F32, s));
                    }
                }
                let f = common::vector(fx, &l);
                fx.b.ins().fmul(scale, f)
            }
            Sum::Clamp(lo, hi) => {
                let a = fx.b.use_var(acc[v]);
                fx.clamp(a, lo, hi)
            }
            Sum::Ordered => {
                let Some(Leaky { order, lo, hi, leak }) = Leaky::of(&self.accumulate) else { unreachable!() };
                let (pb, keys) = (pbase.expect("products"), self.products.expect("products").1);
                let keys = fx.scratch(keys);
                let mut l = vec![];
                for lane in 0..lanes {
                    let base = fx.b.ins().iadd_imm_s(pb, (4 * (4 * v + lane)) as i64);
                    let p = Products { base, stride: (4 * PANEL) as i64, k, perm: self.perm, keys };
                    l.push(common::ordered_sum(fx, order, lo, hi, leak, &p));
                }
                common::vector(fx, &l)
            }
        }
    }

    /// `M(x_q, w_q) − z_w·x_q − z_x·w_q + z_x·z_w` for 4 columns (`I32X4`).
    fn term(&self, fx: &mut Fx, w: Value, xq: Value, xs: Value, zw: Value, zxzw: Value) -> Value {
        let p = match self.table {
            None => fx.b.ins().imul(w, xs),
            Some(table) => {
                let xb = fx.b.ins().band_imm_s(xq, 255);
                let xb = fx.b.ins().ishl_imm_u(xb, 8);
                let mut v = fx.i32(0);
                v = fx.b.ins().splat(I32X4, v);
                for lane in 0..4u8 {
                    let wl = fx.b.ins().extractlane(w, lane);
                    let wl = fx.b.ins().band_imm_s(wl, 255);
                    let idx = fx.b.ins().bor(xb, wl);
                    let idx = fx.b.ins().uextend(I64, idx);
                    let at = fx.at(table, idx, 4);
                    let e = fx.ld_ro(I32, at, 0);
                    v = fx.b.ins().insertlane(v, e, lane);
                }
                v
            }
        };
        let mut t = p;
        if !self.signed {
            let a = fx.b.ins().imul(zw, xs);
            t = fx.b.ins().isub(t, a);
        }
        if self.z_x != 0 {
            let zx = fx.i32(self.z_x as i64);
            let zx = fx.b.ins().splat(I32X4, zx);
            let a = fx.b.ins().imul(w, zx);
            t = fx.b.ins().isub(t, a);
            t = fx.b.ins().iadd(t, zxzw);
        }
        t
    }
}

/// The layer's weights packed for the kernel (as 32-bit words: f32 or i32 bits).
pub fn pack(geo: &Geometry, node: &Node, weights: &[f32], entries: Option<&[i32]>) -> Vec<f32> {
    let shape = node.param("weight").expect("a MAC layer has weights").shape.clone();
    let prepared = quant::prepare(&node.hw.format, &Tensor::new(shape, weights.to_vec()));
    let Some(Prepared::Int8 { codes, scales, zero_points }) = prepared else { unreachable!("int8 weights") };
    let s_x = input_of(node).expect("an int8 layer").scale;
    let bias = node.param("bias").map(|b| &b.data[..]);
    let (pg, k) = (geo.per_group(), geo.k);
    let sum = plan(node, geo, entries).expect("planned when compiling");
    let mut out = vec![0.0f32; geometry::panel_words(geo, k + 3) + if entries.is_some() { 65536 } else { 0 }];
    let group = |col: usize| quant::scale_index(scales.len(), col);
    let region = |n: usize| geometry::panel_words(geo, n);
    geometry::put_panels(geo, &mut out, 0, k, |col, j| f32::from_bits(codes[col * k + j] as u32));
    geometry::put_panels(geo, &mut out, region(k), 1, |col, _| f32::from_bits(zero_points[group(col)] as u32));
    geometry::put_panels(geo, &mut out, region(k + 1), 1, |col, _| s_x * scales[group(col)]);
    geometry::put_panels(geo, &mut out, region(k + 2), 1, |col, _| bias.map_or(0.0, |b| b[col]));
    if let Some(e) = entries {
        let at = region(k + 3);
        for (dst, e) in out[at..].iter_mut().zip(e) {
            *dst = f32::from_bits(*e as u32);
        }
    }
    if host_table(sum, entries).is_some() {
        debug_assert_eq!(out.len(), host_data_start(geo));
        out.extend(table::pack_table(entries.expect("a table")));
        for g in 0..geo.groups {
            let cols = g * pg..(g + 1) * pg;
            let zp: Vec<i32> = cols.clone().map(|c| zero_points[group(c)]).collect();
            out.extend(table::pack_group(&codes[cols.start * k..cols.end * k], &zp, k, pg));
        }
    }
    out
}
