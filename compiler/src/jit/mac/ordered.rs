//! FP32 MAC with ordered accumulation (`docs/language.md` §6.4): each dot
//! product folds its products `p = w·x` in the accumulation's order,
//! `s = clamp(leak·s + p, lo, hi)`, then adds the bias, as
//! `interp/mac.rs::accumulate` does.
//!
//! Orders that are the same for every output (natural, reversed, random) or
//! that only split the products by sign (positive/negative first: two passes
//! in natural order with masked updates, a skipped product leaving `s` as it
//! is) vectorize across the 8 columns of a panel: each lane folds its own
//! dot product. Orders by magnitude depend on each output's products: with
//! `--kernels native` the host kernel `magnitude` orders and folds them;
//! the Cranelift kernel computes them into scratch with the keys
//! `(|p| bits << 32) | index` (the magnitude bits inverted for descending),
//! heap-sorts the keys (any sort of these distinct keys gives the stable
//! order), and folds in key order.

use super::fold;
use super::geometry::{self, Geometry, Rows, PANEL};
use super::magnitude::MAGNITUDE;
use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::noise::Post;
use crate::jit::Kernels;
use analog_runtime::derived::format::Leaky;
use analog_runtime::ir::hardware::Order;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I32, I64};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};

/// One step of the fold, `clamp(leak·s + p, lo, hi)`.
fn step(fx: &mut Fx, fold: Leaky, s: Value, p: Value) -> Value {
    let ty = fx.b.func.dfg.value_type(s);
    let ls = if fold.leak == 1.0 {
        s
    } else {
        let l = fx.fc(ty, fold.leak);
        fx.b.ins().fmul(l, s)
    };
    let v = fx.b.ins().fadd(ls, p);
    fx.clamp(v, fold.lo, fold.hi)
}

/// Which products a pass over the natural order folds.
#[derive(Copy, Clone, PartialEq)]
enum Mask {
    All,
    /// `!(p < 0)` (positive first, first pass)
    NotNegative,
    /// `p < 0`
    Negative,
    /// `!(p >= 0)` (negative first, first pass)
    NotPositive,
    /// `p >= 0`
    Positive,
}

/// Emits the layer; returns whether the epilogue (`post`) was fused (only
/// with the host's fold; the Cranelift kernels leave it to the caller).
pub fn emit(layer: &mut Layer, geo: &Geometry, rows: &Rows, out: Value, post: &Post) -> Result<bool, String> {
    let node = layer.node();
    let Some(fold) = Leaky::of(&node.hw.accumulate) else {
        return Err(format!("`{}` is not ordered", node.name));
    };
    let order = fold.order;
    let id = layer.id.index();
    match order {
        Order::Ascending | Order::Descending if layer.kernels == Kernels::Native => {
            let call = |fx: &mut Fx, args: &[Value]| {
                let descending = fx.i32((order == Order::Descending) as i64);
                let (lo, hi, leak) = (fx.f(fold.lo), fx.f(fold.hi), fx.f(fold.leak));
                let mut all = args.to_vec();
                all.extend([descending, lo, hi, leak]);
                fx.call(MAGNITUDE, &all);
            };
            return Ok(super::fp32::emit_host(layer, geo, rows, out, post, &call));
        }
        Order::Ascending | Order::Descending => {
            let prod = layer.scratch.take(4 * geo.k);
            let keys = layer.scratch.take(8 * geo.k);
            let fx = &mut layer.fx;
            let w = fx.chip(2 * id);
            sorted(fx, geo, rows, out, w, fold, order == Order::Descending, prod, keys);
        }
        _ if layer.kernels == Kernels::Native => {
            let code = match order {
                Order::Reversed => fold::REVERSED,
                Order::Random => fold::RANDOM,
                Order::PositiveFirst => fold::POSITIVE_FIRST,
                Order::NegativeFirst => fold::NEGATIVE_FIRST,
                _ => fold::NATURAL,
            };
            let call = |fx: &mut Fx, args: &[Value]| {
                let perm = fx.chip(2 * id + 1);
                let code = fx.i32(code as i64);
                let (lo, hi, leak) = (fx.f(fold.lo), fx.f(fold.hi), fx.f(fold.leak));
                let mut all = args.to_vec();
                all.extend([perm, code, lo, hi, leak]);
                fx.call(fold::FOLD, &all);
            };
            return Ok(super::fp32::emit_host(layer, geo, rows, out, post, &call));
        }
        _ => {
            let fx = &mut layer.fx;
            let w = fx.chip(2 * id);
            let perm = if order == Order::Random { Some(fx.chip(2 * id + 1)) } else { None };
            let passes: &[Mask] = match order {
                Order::PositiveFirst => &[Mask::NotNegative, Mask::Negative],
                Order::NegativeFirst => &[Mask::NotPositive, Mask::Positive],
                _ => &[Mask::All],
            };
            for g in 0..geo.groups {
                let x = rows.group(fx, g);
                let k = Lanes { geo, fold, order, perm, passes, out, w, x, g };
                geometry::for_each_panel(fx, geo, |fx, panel, valid| k.panel(fx, panel, valid));
            }
        }
    }
    Ok(false)
}

/// The vectorized kernel of one group.
struct Lanes<'a> {
    geo: &'a Geometry,
    fold: Leaky,
    order: Order,
    perm: Option<Value>,
    passes: &'a [Mask],
    out: Value,
    w: Value,
    /// The group's rows.
    x: Value,
    g: usize,
}

impl Lanes<'_> {
    /// Every row against one panel of `valid` columns.
    fn panel(&self, fx: &mut Fx, panel: Value, valid: usize) {
        let (geo, k) = (self.geo, self.geo.k);
        let panels = geo.panels();
        let first = fx.b.ins().iadd_imm_s(panel, (self.g * panels) as i64);
        let wp = fx.at(self.w, first, (4 * k * PANEL) as i64);
        let bias = fx.b.ins().iadd_imm_s(first, (geo.groups * panels * k) as i64);
        let bias = fx.at(self.w, bias, (4 * PANEL) as i64);
        let rows = geo.rows(fx);
        let zero = fx.i(0);
        fx.for_range(zero, rows, 1, |fx, r| {
            let xr = fx.at(self.x, r, 4 * k as i64);
            let z = fx.fc(F32X4, 0.0);
            let acc = [fx.var(F32X4, z), fx.var(F32X4, z)];
            for &mask in self.passes {
                let (lo, hi) = (fx.i(0), fx.i(k as i64));
                fx.for_range(lo, hi, 1, |fx, t| {
                    let j = match (self.order, self.perm) {
                        (Order::Reversed, _) => {
                            let last = fx.i(k as i64 - 1);
                            fx.b.ins().isub(last, t)
                        }
                        (Order::Random, Some(perm)) => {
                            let at = fx.at(perm, t, 4);
                            let j = fx.ld_ro(I32, at, 0);
                            fx.b.ins().uextend(I64, j)
                        }
                        _ => t,
                    };
                    let wk = fx.at(wp, j, (4 * PANEL) as i64);
                    let xa = fx.at(xr, j, 4);
                    let xs = fx.ld_ro(F32, xa, 0);
                    let xs = fx.b.ins().splat(F32X4, xs);
                    for (v, acc) in acc.iter().enumerate() {
                        if 4 * v >= valid {
                            continue;
                        }
                        let w = fx.ld_ro(F32X4, wk, 16 * v as i64);
                        let p = fx.b.ins().fmul(w, xs);
                        let s = fx.b.use_var(*acc);
                        let new = step(fx, self.fold, s, p);
                        let zero = fx.fc(F32X4, 0.0);
                        let s = match mask {
                            Mask::All => new,
                            Mask::NotNegative => fx.select_cmp(FloatCC::LessThan, p, zero, s, new),
                            Mask::Negative => fx.select_cmp(FloatCC::LessThan, p, zero, new, s),
                            Mask::NotPositive => fx.select_cmp(FloatCC::GreaterThanOrEqual, p, zero, s, new),
                            Mask::Positive => fx.select_cmp(FloatCC::GreaterThanOrEqual, p, zero, new, s),
                        };
                        fx.b.def_var(*acc, s);
                    }
                });
            }
            for (v, acc) in acc.iter().enumerate() {
                let lanes = valid.saturating_sub(4 * v).min(4);
                if lanes == 0 {
                    continue;
                }
                let s = fx.b.use_var(*acc);
                let b = fx.ld_ro(F32X4, bias, 16 * v as i64);
                let y = fx.b.ins().fadd(s, b);
                let o = fx.b.ins().imul_imm_s(panel, PANEL as i64);
                let o = fx.b.ins().iadd_imm_s(o, (self.g * geo.per_group() + 4 * v) as i64);
                let at = geometry::out_addr(fx, geo, self.out, r, o);
                if geo.positions == 1 && lanes == 4 {
                    fx.st(y, at, 0);
                } else {
                    let stride = 4 * geo.positions as i64;
                    for lane in 0..lanes {
                        let e = fx.b.ins().extractlane(y, lane as u8);
                        fx.st(e, at, stride * lane as i64);
                    }
                }
            }
        });
    }
}

/// Orders by magnitude in generated code: per output, products and keys
/// into scratch, a sort, and the fold in key order.
#[allow(clippy::too_many_arguments)]
fn sorted(
    fx: &mut Fx,
    geo: &Geometry,
    rows: &Rows,
    out: Value,
    w: Value,
    fold: Leaky,
    descending: bool,
    prod_off: usize,
    keys_off: usize,
) {
    let (k, pg, panels) = (geo.k, geo.per_group(), geo.panels());
    let prod = fx.scratch(prod_off);
    let keys = fx.scratch(keys_off);
    for g in 0..geo.groups {
        let x = rows.group(fx, g);
        let nrows = geo.rows(fx);
        let zero = fx.i(0);
        fx.for_range(zero, nrows, 1, |fx, r| {
            let xr = fx.at(x, r, 4 * k as i64);
            let (lo, n) = (fx.i(0), fx.i(pg as i64));
            fx.for_range(lo, n, 1, |fx, o| {
                // Column `o`'s weights: panel `o / 8`, lane `o % 8`.
                let panel = fx.b.ins().ushr_imm_u(o, 3);
                let lane = fx.b.ins().band_imm_s(o, PANEL as i64 - 1);
                let wo = fx.b.ins().iadd_imm_s(panel, (g * panels) as i64);
                let wo = fx.b.ins().imul_imm_s(wo, (k * PANEL) as i64);
                let wo = fx.b.ins().iadd(wo, lane);
                let wo = fx.at(w, wo, 4);
                let (lo, hi) = (fx.i(0), fx.i(k as i64));
                fx.for_range(lo, hi, 1, |fx, j| {
                    let wa = fx.at(wo, j, (4 * PANEL) as i64);
                    let wv = fx.ld_ro(F32, wa, 0);
                    let xa = fx.at(xr, j, 4);
                    let xv = fx.ld_ro(F32, xa, 0);
                    let p = fx.b.ins().fmul(wv, xv);
                    let pa = fx.at(prod, j, 4);
                    fx.st(p, pa, 0);
                    let m = fx.abs(p);
                    let bits = fx.b.ins().bitcast(I32, MemFlagsData::new(), m);
                    let bits = if descending { fx.b.ins().bnot(bits) } else { bits };
                    let bits = fx.b.ins().uextend(I64, bits);
                    let hi_bits = fx.b.ins().ishl_imm_u(bits, 32);
                    let key = fx.b.ins().bor(hi_bits, j);
                    let ka = fx.at(keys, j, 8);
                    fx.st(key, ka, 0);
                });
                heap_sort(fx, keys, k);
                let z = fx.f(0.0);
                let s = fx.var(F32, z);
                fx.for_range(lo, hi, 1, |fx, t| {
                    let ka = fx.at(keys, t, 8);
                    let key = fx.ld(I64, ka, 0);
                    let j = fx.b.ins().band_imm_s(key, 0xffff_ffff);
                    let pa = fx.at(prod, j, 4);
                    let p = fx.ld(F32, pa, 0);
                    let cur = fx.b.use_var(s);
                    let new = step(fx, fold, cur, p);
                    fx.b.def_var(s, new);
                });
                let sv = fx.b.use_var(s);
                let col = fx.b.ins().iadd_imm_s(o, (g * pg) as i64);
                // The bias of lane `o % 8` of panel `o / 8`: `…[g·panels·8 + o]`.
                let ba = fx.b.ins().iadd_imm_s(o, (geo.groups * panels * k * PANEL + g * panels * PANEL) as i64);
                let ba = fx.at(w, ba, 4);
                let bias = fx.ld_ro(F32, ba, 0);
                let y = fx.b.ins().fadd(sv, bias);
                let at = geometry::out_addr(fx, geo, out, r, col);
                fx.st(y, at, 0);
            });
        });
    }
}

/// Sorts the `n` u64 keys at `a` ascending (heap sort, in CLIF).
fn heap_sort(fx: &mut Fx, a: Value, n: usize) {
    if n < 2 {
        return;
    }
    let half = n / 2;
    let (zero, h) = (fx.i(0), fx.i(half as i64));
    fx.for_range(zero, h, 1, |fx, t| {
        let last = fx.i(half as i64 - 1);
        let root = fx.b.ins().isub(last, t);
        let end = fx.i(n as i64);
        sift_down(fx, a, root, end);
    });
    let m = fx.i(n as i64 - 1);
    fx.for_range(zero, m, 1, |fx, t| {
        let last = fx.i(n as i64 - 1);
        let end = fx.b.ins().isub(last, t);
        let ea = fx.at(a, end, 8);
        let top = fx.ld(I64, a, 0);
        let v = fx.ld(I64, ea, 0);
        fx.st(v, a, 0);
        fx.st(top, ea, 0);
        let root = fx.i(0);
        sift_down(fx, a, root, end);
    });
}

/// Moves `a[root]` down the max-heap `a[..end]`.
fn sift_down(fx: &mut Fx, a: Value, root: Value, end: Value) {
    let header = fx.b.create_block();
    let body = fx.b.create_block();
    let swap = fx.b.create_block();
    let exit = fx.b.create_block();
    fx.b.append_block_param(header, I64);
    fx.b.ins().jump(header, &[root.into()]);
    fx.b.switch_to_block(header);
    let root = fx.b.block_params(header)[0];
    let child = fx.b.ins().ishl_imm_u(root, 1);
    let child = fx.b.ins().iadd_imm_s(child, 1);
    let more = fx.b.ins().icmp(IntCC::SignedLessThan, child, end);
    fx.b.ins().brif(more, body, &[], exit, &[]);
    fx.b.switch_to_block(body);
    let right = fx.b.ins().iadd_imm_s(child, 1);
    let has_right = fx.b.ins().icmp(IntCC::SignedLessThan, right, end);
    let right = fx.b.ins().select(has_right, right, child);
    let (la, ra) = (fx.at(a, child, 8), fx.at(a, right, 8));
    let (lv, rv) = (fx.ld(I64, la, 0), fx.ld(I64, ra, 0));
    let right_bigger = fx.b.ins().icmp(IntCC::UnsignedGreaterThan, rv, lv);
    let big = fx.b.ins().select(right_bigger, right, child);
    let bv = fx.b.ins().select(right_bigger, rv, lv);
    let root_at = fx.at(a, root, 8);
    let rootv = fx.ld(I64, root_at, 0);
    let done = fx.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, rootv, bv);
    fx.b.ins().brif(done, exit, &[], swap, &[]);
    fx.b.switch_to_block(swap);
    fx.st(bv, root_at, 0);
    let big_at = fx.at(a, big, 8);
    fx.st(rootv, big_at, 0);
    fx.b.ins().jump(header, &[big.into()]);
    fx.b.switch_to_block(exit);
}

/// FP32 weights in panels `[group][panel][k][8]`, then the bias (as `fp32`).
pub fn pack(geo: &Geometry, node: &analog_runtime::ir::Node, weights: &[f32]) -> Vec<f32> {
    geometry::pack_f32(geo, weights, node.param("bias").map(|b| &b.data[..]))
}
