//! Helpers the quantized MAC kernels share: `Q_b`, multiplier tables,
//! building vectors from scalars, and the ordered (leaky, clamped) sum of a
//! products buffer exactly as the interpreter's `mac::accumulate` folds it.

use crate::jit::emit::Fx;
use analog_runtime::files;
use analog_runtime::ir::hardware::Order;
use analog_runtime::ir::Node;
use analog_runtime::product_table::ProductTable;
use analog_runtime::quant;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Value};

/// `quant::q_bits(v, bits)`: `round(clamp(v, −1, 1) · L) / L`, `L = 2^(bits−1) − 1`
/// (scalar `F32` or `F32X4`).
pub fn q_bits(fx: &mut Fx, v: Value, bits: u32) -> Value {
    let ty = fx.b.func.dfg.value_type(v);
    let c = fx.clamp(v, -1.0, 1.0);
    let l = fx.fc(ty, quant::levels(bits));
    let m = fx.b.ins().fmul(c, l);
    let r = fx.b.ins().nearest(m);
    fx.b.ins().fdiv(r, l)
}

/// The product table of `node`'s multiplier as the interpreter builds it
/// (`None`: exact products). Table files are read with `std::fs::read`.
pub fn product_table(node: &Node) -> Result<Option<ProductTable>, String> {
    analog_runtime::interp::node_table(node, |p| files::read(p, files::TABLE))
}

/// The 65,536 entries of `t`, index `byte(a)·256 + byte(b)`.
pub fn table_entries(t: &ProductTable) -> Vec<i32> {
    (0..65536).map(|i| t.product(i >> 8, i & 255)).collect()
}

/// An `F32X4` of `lanes` (missing lanes 0).
pub fn vector(fx: &mut Fx, lanes: &[Value]) -> Value {
    let mut v = fx.fc(F32X4, 0.0);
    for (i, l) in lanes.iter().enumerate() {
        v = fx.b.ins().insertlane(v, *l, i as u8);
    }
    v
}

/// Where an ordered sum finds its products and keeps its sort keys.
pub struct Products {
    /// Address of product 0; product `j` is `stride · j` bytes further.
    pub base: Value,
    pub stride: i64,
    pub k: usize,
    /// The chip's permutation (`u32`) for `order = random`.
    pub perm: Option<Value>,
    /// Scratch of `8 · k` bytes for the sorted orders.
    pub keys: Value,
}

/// `accumulate(Ordered { order, lo, hi, leak }, products, perm)`: the fold
/// `s = clamp(leak·s + p_i, lo, hi)` from `s = 0` over the order's indices.
pub fn ordered_sum(fx: &mut Fx, order: Order, lo: f32, hi: f32, leak: f32, p: &Products) -> Value {
    let init = fx.f(0.0);
    let s = fx.var(F32, init);
    let k = p.k as i64;
    // One fold step with product `j`; `when` (an `i8`) guards it.
    let step = |fx: &mut Fx, j: Value, when: Option<(FloatCC, bool)>| {
        let at = fx.at(p.base, j, p.stride);
        let v = fx.ld(F32, at, 0);
        let cur = fx.b.use_var(s);
        let l = fx.f(leak);
        let t = fx.b.ins().fmul(l, cur);
        let t = fx.b.ins().fadd(t, v);
        let t = fx.clamp(t, lo, hi);
        let new = match when {
            None => t,
            Some((cc, want)) => {
                let z = fx.f(0.0);
                let c = fx.b.ins().fcmp(cc, v, z);
                if want {
                    fx.b.ins().select(c, t, cur)
                } else {
                    fx.b.ins().select(c, cur, t)
                }
            }
        };
        fx.b.def_var(s, new);
    };
    let (zero, kv) = (fx.i(0), fx.i(k));
    match order {
        Order::Natural => fx.for_range(zero, kv, 1, |fx, j| step(fx, j, None)),
        Order::Reversed => fx.for_range(zero, kv, 1, |fx, i| {
            let last = fx.i(k - 1);
            let j = fx.b.ins().isub(last, i);
            step(fx, j, None)
        }),
        Order::Random => {
            let perm = p.perm.expect("order = random has a permutation");
            fx.for_range(zero, kv, 1, |fx, i| {
                let at = fx.at(perm, i, 4);
                let j = fx.ld(I32, at, 0);
                let j = fx.b.ins().uextend(I64, j);
                step(fx, j, None)
            })
        }
        // Stable partitions: first the products whose key is false.
        Order::PositiveFirst => {
            fx.for_range(zero, kv, 1, |fx, j| step(fx, j, Some((FloatCC::LessThan, false))));
            fx.for_range(zero, kv, 1, |fx, j| step(fx, j, Some((FloatCC::LessThan, true))));
        }
        Order::NegativeFirst => {
            fx.for_range(zero, kv, 1, |fx, j| step(fx, j, Some((FloatCC::GreaterThanOrEqual, false))));
            fx.for_range(zero, kv, 1, |fx, j| step(fx, j, Some((FloatCC::GreaterThanOrEqual, true))));
        }
        Order::Ascending | Order::Descending => {
            // `|p|.total_cmp` on non-negative floats is the order of their
            // bits; keys `bits << 32 | j` sort stably as plain u64.
            fx.for_range(zero, kv, 1, |fx, j| {
                let at = fx.at(p.base, j, p.stride);
                let v = fx.ld(I32, at, 0);
                let bits = fx.b.ins().band_imm_s(v, 0x7fff_ffff);
                let bits = if order == Order::Descending { fx.b.ins().bxor_imm_s(bits, -1) } else { bits };
                let bits = fx.b.ins().uextend(I64, bits);
                let hi = fx.b.ins().ishl_imm_u(bits, 32);
                let key = fx.b.ins().bor(hi, j);
                let dst = fx.at(p.keys, j, 8);
                fx.st(key, dst, 0);
            });
            insertion_sort(fx, p.keys, p.k);
            fx.for_range(zero, kv, 1, |fx, i| {
                let at = fx.at(p.keys, i, 8);
                let key = fx.ld(I64, at, 0);
                let j = fx.b.ins().band_imm_s(key, 0xffff_ffff);
                step(fx, j, None)
            });
        }
    }
    fx.b.use_var(s)
}

/// Sorts `n` u64 at `a` ascending.
fn insertion_sort(fx: &mut Fx, a: Value, n: usize) {
    let (one, nv) = (fx.i(1), fx.i(n as i64));
    fx.for_range(one, nv, 1, |fx, i| {
        let at = fx.at(a, i, 8);
        let v = fx.ld(I64, at, 0);
        let header = fx.b.create_block();
        let check = fx.b.create_block();
        let shift = fx.b.create_block();
        let exit = fx.b.create_block();
        fx.b.append_block_param(header, I64);
        fx.b.append_block_param(exit, I64);
        fx.b.ins().jump(header, &[i.into()]);
        fx.b.switch_to_block(header);
        let j = fx.b.block_params(header)[0];
        let positive = fx.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, j, 0);
        fx.b.ins().brif(positive, check, &[], exit, &[j.into()]);
        fx.b.switch_to_block(check);
        let at = fx.at(a, j, 8);
        let prev = fx.ld(I64, at, -8);
        let larger = fx.b.ins().icmp(IntCC::UnsignedGreaterThan, prev, v);
        fx.b.ins().brif(larger, shift, &[], exit, &[j.into()]);
        fx.b.switch_to_block(shift);
        fx.st(prev, at, 0);
        let jm = fx.b.ins().iadd_imm_s(j, -1);
        fx.b.ins().jump(header, &[jm.into()]);
        fx.b.switch_to_block(exit);
        let j = fx.b.block_params(exit)[0];
        let at = fx.at(a, j, 8);
        fx.st(v, at, 0);
    });
}
