//! A thin layer over Cranelift's `FunctionBuilder` for the code every kernel
//! writes: loops, the context's fields, loads and stores, and the clamps and
//! maxima with exactly the semantics of the Rust the interpreter runs.

use super::layout;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I32, I64, I8};
use cranelift_codegen::ir::FuncRef;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_module::{FuncId, Module};
use std::collections::HashMap;

/// Host (and module) functions compiled code may call, by symbol name
/// (declared by `link::declare`).
pub struct Imports {
    pub ids: HashMap<&'static str, FuncId>,
}

/// Memory the kernels touch is always valid; no access traps.
pub fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Weights, tables and inputs of a layer: never written while it runs.
pub fn ro_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap().with_readonly().with_can_move()
}

pub struct Fx<'a> {
    pub b: FunctionBuilder<'a>,
    /// `*const layout::Ctx`
    pub ctx: Value,
    /// The repetition (`repeat = R`), an `i32`.
    pub rep: Value,
    pub module: &'a mut dyn Module,
    pub imports: &'a Imports,
    pub refs: HashMap<&'static str, FuncRef>,
}

impl<'a> Fx<'a> {
    pub fn new(
        b: FunctionBuilder<'a>,
        ctx: Value,
        rep: Value,
        module: &'a mut dyn Module,
        imports: &'a Imports,
    ) -> Self {
        Fx { b, ctx, rep, module, imports, refs: HashMap::new() }
    }

    /// A reference to host (or module) function `name` in this function.
    pub fn func(&mut self, name: &'static str) -> FuncRef {
        if let Some(r) = self.refs.get(name) {
            return *r;
        }
        let id = self.imports.ids[name];
        let r = self.module.declare_func_in_func(id, self.b.func);
        self.refs.insert(name, r);
        r
    }

    /// Calls function `name`; its results.
    pub fn call(&mut self, name: &'static str, args: &[Value]) -> Vec<Value> {
        let f = self.func(name);
        let inst = self.b.ins().call(f, args);
        self.b.inst_results(inst).to_vec()
    }

    pub fn i(&mut self, v: i64) -> Value {
        self.b.ins().iconst(I64, v)
    }

    pub fn i32(&mut self, v: i64) -> Value {
        self.b.ins().iconst(I32, v)
    }

    pub fn f(&mut self, v: f32) -> Value {
        self.b.ins().f32const(v)
    }

    /// A constant in every lane of `ty` (`F32` or `F32X4`).
    pub fn fc(&mut self, ty: Type, v: f32) -> Value {
        let s = self.f(v);
        if ty == F32 {
            s
        } else {
            self.b.ins().splat(ty, s)
        }
    }

    pub fn ld(&mut self, ty: Type, addr: Value, offset: i64) -> Value {
        self.b.ins().load(ty, flags(), addr, offset as i32)
    }

    pub fn ld_ro(&mut self, ty: Type, addr: Value, offset: i64) -> Value {
        self.b.ins().load(ty, ro_flags(), addr, offset as i32)
    }

    pub fn st(&mut self, v: Value, addr: Value, offset: i64) {
        self.b.ins().store(flags(), v, addr, offset as i32);
    }

    /// `base + index · scale`
    pub fn at(&mut self, base: Value, index: Value, scale: i64) -> Value {
        let off = if scale == 1 { index } else { self.b.ins().imul_imm_s(index, scale) };
        self.b.ins().iadd(base, off)
    }

    pub fn field(&mut self, ty: Type, offset: usize) -> Value {
        let ctx = self.ctx;
        self.ld(ty, ctx, offset as i64)
    }

    /// The activation buffer of node `node`: `[batch][size]` f32.
    pub fn buf(&mut self, node: usize) -> Value {
        let bufs = self.field(I64, layout::BUFS);
        self.ld(I64, bufs, 8 * node as i64)
    }

    /// This chip's data of node `node` (packed weights, orders…).
    pub fn chip(&mut self, node: usize) -> Value {
        let chip = self.field(I64, layout::CHIP);
        self.ld(I64, chip, 8 * node as i64)
    }

    /// The scratch region at byte `offset`.
    pub fn scratch(&mut self, offset: usize) -> Value {
        let s = self.field(I64, layout::SCRATCH);
        self.b.ins().iadd_imm_s(s, offset as i64)
    }

    pub fn batch(&mut self) -> Value {
        self.field(I64, layout::BATCH)
    }

    pub fn var(&mut self, ty: Type, init: Value) -> Variable {
        let v = self.b.declare_var(ty);
        self.b.def_var(v, init);
        v
    }

    /// `for i in (lo..hi).step_by(step)` with `i: i64`; `body` emits the loop body.
    pub fn for_range(&mut self, lo: Value, hi: Value, step: i64, body: impl FnOnce(&mut Self, Value)) {
        let header = self.b.create_block();
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, I64);
        self.b.ins().jump(header, &[lo.into()]);
        self.b.switch_to_block(header);
        let i = self.b.block_params(header)[0];
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, hi);
        self.b.ins().brif(more, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        body(self, i);
        let next = self.b.ins().iadd_imm_s(i, step);
        self.b.ins().jump(header, &[next.into()]);
        self.b.switch_to_block(exit);
    }

    /// `if a ⋚ b { x } else { y }` lane-wise, for scalars and vectors.
    pub fn select_cmp(&mut self, cc: FloatCC, a: Value, b: Value, x: Value, y: Value) -> Value {
        let c = self.b.ins().fcmp(cc, a, b);
        if self.b.func.dfg.value_type(c) == I8 {
            self.b.ins().select(c, x, y)
        } else {
            let ty = self.b.func.dfg.value_type(x);
            let flags = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
            let mask = self.b.ins().bitcast(ty, flags, c);
            self.b.ins().bitselect(mask, x, y)
        }
    }

    /// `v.clamp(lo, hi)` as Rust computes it: `lo` if `v < lo`, `hi` if
    /// `v > hi`, else `v` (NaN and the sign of zero pass through).
    pub fn clamp(&mut self, v: Value, lo: f32, hi: f32) -> Value {
        let ty = self.b.func.dfg.value_type(v);
        let (l, h) = (self.fc(ty, lo), self.fc(ty, hi));
        let v = self.select_cmp(FloatCC::LessThan, v, l, l, v);
        self.select_cmp(FloatCC::GreaterThan, v, h, h, v)
    }

    /// `acc.max(v)` as the interpreter's folds use it (`v` wins only when larger).
    pub fn max(&mut self, acc: Value, v: Value) -> Value {
        self.select_cmp(FloatCC::GreaterThan, v, acc, v, acc)
    }

    /// `v.max(0.0)`: ReLU, NaN → 0.
    pub fn relu(&mut self, v: Value) -> Value {
        let ty = self.b.func.dfg.value_type(v);
        let z = self.fc(ty, 0.0);
        self.select_cmp(FloatCC::GreaterThan, v, z, v, z)
    }

    /// `plane[r][s]` of an `h × w` f32 plane (`r`, `s`: i64), or `pad` outside
    /// it, as the interpreter's `ops::at`; `pad = None` when every index is inside.
    pub fn pixel(&mut self, plane: Value, r: Value, s: Value, h: usize, w: usize, pad: Option<f32>) -> Value {
        let Some(pad) = pad else {
            let idx = self.b.ins().imul_imm_s(r, w as i64);
            let idx = self.b.ins().iadd(idx, s);
            let at = self.at(plane, idx, 4);
            return self.ld(F32, at, 0);
        };
        // Unsigned compares reject negatives too.
        let in_r = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, r, h as i64);
        let in_s = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, s, w as i64);
        let inside = self.b.ins().band(in_r, in_s);
        let zero = self.i(0);
        let r = self.b.ins().select(inside, r, zero);
        let s = self.b.ins().select(inside, s, zero);
        let loaded = self.pixel(plane, r, s, h, w, None);
        let pad = self.f(pad);
        self.b.ins().select(inside, loaded, pad)
    }

    /// `max |base[i]|` over `i` in `lo..hi` (f32), folded from 0 in index
    /// order with [`Fx::max`], as the interpreter's `fold(0, max(|v|))`.
    pub fn max_abs(&mut self, base: Value, lo: Value, hi: Value) -> Value {
        let init = self.f(0.0);
        let m = self.var(F32, init);
        self.for_range(lo, hi, 1, |fx, i| {
            let at = fx.at(base, i, 4);
            let v = fx.ld(F32, at, 0);
            let a = fx.abs(v);
            let cur = fx.b.use_var(m);
            let new = fx.max(cur, a);
            fx.b.def_var(m, new);
        });
        self.b.use_var(m)
    }

    /// `|v|` (clears the sign bit).
    pub fn abs(&mut self, v: Value) -> Value {
        self.b.ins().fabs(v)
    }

    /// Lanes 0 and 2 of `a`, then of `b` (`F32X4`; `shufps` on x86).
    pub fn even_lanes(&mut self, a: Value, b: Value) -> Value {
        use cranelift_codegen::ir::types::I8X16;
        let flags = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
        let bytes: Vec<u8> = [0u8, 2, 4, 6].iter().flat_map(|lane| (0..4).map(move |i| 4 * lane + i)).collect();
        let mask = self.b.func.dfg.immediates.push(cranelift_codegen::ir::ConstantData::from(bytes));
        let (a, b) = (self.b.ins().bitcast(I8X16, flags, a), self.b.ins().bitcast(I8X16, flags, b));
        let s = self.b.ins().shuffle(a, b, mask);
        self.b.ins().bitcast(F32X4, flags, s)
    }

    /// The constant `c` of `v`'s type (`F32` or `F32X4`).
    pub fn like(&mut self, v: Value, c: f32) -> Value {
        let ty = self.b.func.dfg.value_type(v);
        self.fc(ty, c)
    }

    pub fn is_vector(&self, v: Value) -> bool {
        self.b.func.dfg.value_type(v) == F32X4
    }
}
