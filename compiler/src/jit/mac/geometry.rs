//! The GEMM view of a MAC layer: its shape (`Geometry`), the packed panels
//! of 8 output columns, the input rows it reduces over (a conv's patches
//! copied through a zero-bordered plane), and the loops and stores over
//! rows and panels that every kernel shares.

use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::layout::MAX_BATCH;
use analog_runtime::derived::noise::uses_full_scale;
use analog_runtime::derived::window::{conv_k, plane, Window};
use analog_runtime::ir::{Graph, Node, NodeKind, Op};
use analog_runtime::quant;
use cranelift_codegen::ir::types::{F32, F32X4};
use cranelift_codegen::ir::{InstBuilder, Value};

/// Output columns per packed panel (the host GEMM's).
pub use analog_runtime::kernels::gemm::PANEL;

/// The shape of a MAC layer as a GEMM.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Output channels (all groups).
    pub cols: usize,
    pub groups: usize,
    /// Reduction length of one output.
    pub k: usize,
    /// Rows per sample (conv positions; 1 for dense).
    pub positions: usize,
    /// Elements of one sample's input.
    pub in_size: usize,
    pub conv: Option<Conv>,
}

#[derive(Clone, Debug)]
pub struct Conv {
    pub shape: [usize; 3],
    pub window: Window,
}

impl Geometry {
    /// The GEMM of a dense, conv1d or conv2d node (of a graph that passed `interp::check`).
    pub fn of(g: &Graph, node: &Node) -> Geometry {
        let NodeKind::Op { op, inputs } = &node.kind else { unreachable!("a MAC node") };
        let x_shape = &g.node(inputs[0]).shape;
        let in_size = x_shape.iter().product();
        match (op, Window::of(op)) {
            (Op::Conv1d { out, groups, .. } | Op::Conv2d { out, groups, .. }, Some(window)) => {
                let (c, h, w) = match plane(x_shape)[..] {
                    [c, h, w] => (c, h, w),
                    _ => unreachable!("checked: a convolution's input has channels and a plane"),
                };
                let [oh, ow] = window.out(h, w);
                Geometry {
                    cols: *out,
                    groups: *groups,
                    k: conv_k(c, *groups, &window),
                    positions: oh * ow,
                    in_size,
                    conv: Some(Conv { shape: [c, h, w], window }),
                }
            }
            _ => Geometry { cols: node.shape[0], groups: 1, k: in_size, positions: 1, in_size, conv: None },
        }
    }

    pub fn per_group(&self) -> usize {
        self.cols / self.groups
    }

    /// Panels per group.
    pub fn panels(&self) -> usize {
        self.per_group().div_ceil(PANEL)
    }

    /// Rows of the batch (`i64`): `batch · positions`.
    pub fn rows(&self, fx: &mut Fx) -> Value {
        let batch = fx.batch();
        fx.b.ins().imul_imm_s(batch, self.positions as i64)
    }

    /// Elements of one sample's output.
    pub fn out_size(&self) -> usize {
        self.cols * self.positions
    }
}

/// Writes `n` values per output column, `value(col, j)`, as panels
/// `[group][panel][n][8]` from `out[at]` (lanes past a group's last column
/// keep their zeros). Every packed layout is a run of these regions.
pub fn put_panels(geo: &Geometry, out: &mut [f32], at: usize, n: usize, value: impl Fn(usize, usize) -> f32) {
    let (pg, panels) = (geo.per_group(), geo.panels());
    for g in 0..geo.groups {
        for o in 0..pg {
            let gp = g * panels + o / PANEL;
            for j in 0..n {
                out[at + (gp * n + j) * PANEL + o % PANEL] = value(g * pg + o, j);
            }
        }
    }
}

/// Elements of one [`put_panels`] region of `n` values per column.
pub fn panel_words(geo: &Geometry, n: usize) -> usize {
    geo.groups * geo.panels() * n * PANEL
}

/// FP32 weights `[cols][k]` in panels `[group][panel][k][8]` (zero-padded),
/// then the bias `[group][panel][8]`.
pub fn pack_f32(geo: &Geometry, w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let k = geo.k;
    let mut out = vec![0.0; panel_words(geo, k + 1)];
    put_panels(geo, &mut out, 0, k, |col, j| w[col * k + j]);
    put_panels(geo, &mut out, panel_words(geo, k), 1, |col, _| bias.map_or(0.0, |b| b[col]));
    out
}

/// Where a layer's input rows are: `[group][batch][positions][k]` (`group_stride` bytes apart).
pub struct Rows {
    pub base: Value,
    pub group_stride: Value,
}

impl Rows {
    /// The first row of group `g`.
    pub fn group(&self, fx: &mut Fx, g: usize) -> Value {
        let off = fx.b.ins().imul_imm_s(self.group_stride, g as i64);
        fx.b.ins().iadd(self.base, off)
    }
}

/// Copies every conv patch into scratch (`[group][batch][positions][k]`),
/// zero outside the input; a dense layer's rows are its input itself. A
/// padded input is first copied into a zero-bordered plane, so a patch is
/// loads at constant offsets from its corner, four values at a time.
pub fn rows(layer: &mut Layer, geo: &Geometry, x: Value) -> Rows {
    let Some(conv) = &geo.conv else {
        let zero = layer.fx.i(0);
        return Rows { base: x, group_stride: zero };
    };
    let group_bytes = 4 * MAX_BATCH * geo.positions * geo.k;
    let off = layer.scratch.take(group_bytes * geo.groups);
    let [c, h, w] = conv.shape;
    let Window { padding: [[top, _], [left, _]], kernel: [kh, kw], stride: [sh, sw] } = conv.window;
    let (hp, wp) = (conv.window.padded(0, h), conv.window.padded(1, w));
    let padded = conv.window.is_padded();
    let plane_off = padded.then(|| layer.scratch.take(4 * c * hp * wp));
    let fx = &mut layer.fx;
    let base = fx.scratch(off);
    let cg = c / geo.groups;
    let [oh, ow] = conv.window.out(h, w);
    let batch_bytes = (4 * geo.positions * geo.k) as i64;
    let plane = plane_off.map(|o| fx.scratch(o));
    if let Some(plane) = plane {
        // The border stays zero: only the interior is written below.
        let (zero, n) = (fx.i(0), fx.i((c * hp * wp) as i64));
        fx.for_range(zero, n, 1, |fx, i| {
            let (z, at) = (fx.f(0.0), fx.at(plane, i, 4));
            fx.st(z, at, 0);
        });
    }
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let xb = fx.at(x, b, 4 * geo.in_size as i64);
        let src = match plane {
            Some(plane) => {
                let (chans, hv) = (fx.i(c as i64), fx.i(h as i64));
                fx.for_range(zero, chans, 1, |fx, ch| {
                    fx.for_range(zero, hv, 1, |fx, r| {
                        // Input row `(ch, r)` goes to padded row `(ch, r + top)`, column `left`.
                        let row = fx.b.ins().imul_imm_s(ch, h as i64);
                        let row = fx.b.ins().iadd(row, r);
                        let from = fx.at(xb, row, 4 * w as i64);
                        let to = fx.b.ins().imul_imm_s(ch, hp as i64);
                        let to = fx.b.ins().iadd(to, r);
                        let to = fx.at(plane, to, 4 * wp as i64);
                        copy_run(fx, from, 0, to, 4 * (top * wp + left) as i64, w);
                    });
                });
                plane
            }
            None => xb,
        };
        let (sh_rows, sw_cols) = if padded { (hp, wp) } else { (h, w) };
        for g in 0..geo.groups {
            let dst_b = fx.b.ins().imul_imm_s(b, batch_bytes);
            let dst_b = fx.b.ins().iadd(base, dst_b);
            let dst_b = fx.b.ins().iadd_imm_s(dst_b, (g * group_bytes) as i64);
            let (lo, ohv) = (fx.i(0), fx.i(oh as i64));
            fx.for_range(lo, ohv, 1, |fx, i| {
                let owv = fx.i(ow as i64);
                fx.for_range(lo, owv, 1, |fx, j| {
                    let p = fx.b.ins().imul_imm_s(i, ow as i64);
                    let p = fx.b.ins().iadd(p, j);
                    let dst = fx.at(dst_b, p, 4 * geo.k as i64);
                    // The patch's corner: row i·sh, column j·sw of the (padded) plane.
                    let corner = fx.b.ins().imul_imm_s(i, (sh * sw_cols) as i64);
                    let col = fx.b.ins().imul_imm_s(j, sw as i64);
                    let corner = fx.b.ins().iadd(corner, col);
                    let corner = fx.at(src, corner, 4);
                    let mut at = 0;
                    for ch in 0..cg {
                        for u in 0..kh {
                            let from = (4 * (((g * cg + ch) * sh_rows + u) * sw_cols)) as i64;
                            copy_run(fx, corner, from, dst, 4 * at as i64, kw);
                            at += kw;
                        }
                    }
                });
            });
        }
    });
    let group_stride = fx.i(group_bytes as i64);
    Rows { base, group_stride }
}

/// Copies `n` f32 from `src + from` to `dst + to` (byte offsets), four at a time.
fn copy_run(fx: &mut Fx, src: Value, from: i64, dst: Value, to: i64, n: usize) {
    let mut e = 0;
    while e < n {
        let ty = if n - e >= 4 { F32X4 } else { F32 };
        let v = fx.ld(ty, src, from + 4 * e as i64);
        fx.st(v, dst, to + 4 * e as i64);
        e += if ty == F32X4 { 4 } else { 1 };
    }
}

/// Per sample, `max|x|·max|w|` into scratch (for σ in `fs`); its offset.
pub fn full_scale(layer: &mut Layer, geo: &Geometry, x: Value) -> Option<usize> {
    let node = layer.node();
    if !node.hw.noise.as_ref().is_some_and(uses_full_scale) {
        return None;
    }
    let w_max = node.param("weight").map_or(0.0, |w| quant::max_abs(&w.data));
    let off = layer.scratch.take(4 * MAX_BATCH);
    let fx = &mut layer.fx;
    let out = fx.scratch(off);
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let xb = fx.at(x, b, 4 * geo.in_size as i64);
        let (lo, hi) = (fx.i(0), fx.i(geo.in_size as i64));
        let m = fx.max_abs(xb, lo, hi);
        let wm = fx.f(w_max);
        let s = fx.b.ins().fmul(m, wm);
        let at = fx.at(out, b, 4);
        fx.st(s, at, 0);
    });
    Some(off)
}

/// The address of output `(row r, column o)` of `[batch][cols][positions]`
/// (`r = b·positions + p`).
pub fn out_addr(fx: &mut Fx, geo: &Geometry, out: Value, r: Value, o: Value) -> Value {
    if geo.positions == 1 {
        let idx = fx.b.ins().imul_imm_s(r, geo.cols as i64);
        let idx = fx.b.ins().iadd(idx, o);
        return fx.at(out, idx, 4);
    }
    let pos = fx.i(geo.positions as i64);
    let b = fx.b.ins().udiv(r, pos);
    let p = fx.b.ins().urem(r, pos);
    let idx = fx.b.ins().imul_imm_s(b, geo.out_size() as i64);
    let col = fx.b.ins().imul_imm_s(o, geo.positions as i64);
    let idx = fx.b.ins().iadd(idx, col);
    let idx = fx.b.ins().iadd(idx, p);
    fx.at(out, idx, 4)
}

/// Stores the first `lanes` lanes of `y` as outputs `(r, o..o+lanes)`: one
/// vector store where they are contiguous (dense), else lane by lane.
pub fn store_lanes(fx: &mut Fx, geo: &Geometry, out: Value, y: Value, r: Value, o: Value, lanes: usize) {
    let at = out_addr(fx, geo, out, r, o);
    store_at(fx, geo, at, y, lanes);
}

/// [`store_lanes`] for row `r = b·positions + p` given as `(b, p)` (no division).
#[allow(clippy::too_many_arguments)]
pub fn store_lanes_split(
    fx: &mut Fx,
    geo: &Geometry,
    out: Value,
    y: Value,
    b: Value,
    p: Value,
    o: Value,
    lanes: usize,
) {
    if geo.positions == 1 {
        return store_lanes(fx, geo, out, y, b, o, lanes);
    }
    let idx = fx.b.ins().imul_imm_s(b, geo.out_size() as i64);
    let col = fx.b.ins().imul_imm_s(o, geo.positions as i64);
    let idx = fx.b.ins().iadd(idx, col);
    let idx = fx.b.ins().iadd(idx, p);
    let at = fx.at(out, idx, 4);
    store_at(fx, geo, at, y, lanes);
}

fn store_at(fx: &mut Fx, geo: &Geometry, at: Value, y: Value, lanes: usize) {
    if geo.positions == 1 && lanes == 4 {
        fx.st(y, at, 0);
        return;
    }
    let stride = 4 * geo.positions as i64;
    for lane in 0..lanes {
        let v = fx.b.ins().extractlane(y, lane as u8);
        fx.st(v, at, stride * lane as i64);
    }
}

/// `body(fx, panel, valid)` for each panel of a group: the full ones in a
/// loop (`valid = 8`), then the partial one, if any.
pub fn for_each_panel(fx: &mut Fx, geo: &Geometry, body: impl Fn(&mut Fx, Value, usize)) {
    let (full, partial) = (geo.per_group() / PANEL, geo.per_group() % PANEL);
    if full > 0 {
        let (zero, n) = (fx.i(0), fx.i(full as i64));
        fx.for_range(zero, n, 1, |fx, panel| body(fx, panel, PANEL));
    }
    if partial > 0 {
        let panel = fx.i(full as i64);
        body(fx, panel, partial);
    }
}

/// `body(fx, r, (b, p))` for every row `r = b·positions + p` of the batch.
pub fn for_each_row(fx: &mut Fx, geo: &Geometry, body: impl Fn(&mut Fx, Value, (Value, Value))) {
    let (zero, batch) = (fx.i(0), fx.batch());
    if geo.positions == 1 {
        fx.for_range(zero, batch, 1, |fx, b| body(fx, b, (b, zero)));
        return;
    }
    let positions = fx.i(geo.positions as i64);
    fx.for_range(zero, batch, 1, |fx, b| {
        let first = fx.b.ins().imul_imm_s(b, geo.positions as i64);
        fx.for_range(zero, positions, 1, |fx, p| {
            let r = fx.b.ins().iadd(first, p);
            body(fx, r, (b, p));
        });
    });
}
