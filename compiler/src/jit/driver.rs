//! The network's driver: calls each layer's function in order, and runs a
//! node `repeat = R` times, averaging in f64 as the interpreter does.

use super::dynamic::DYNAMIC_LAYER;
use super::emit::{Fx, Imports};
use super::layout::{self, layer_signature};
use super::module::define;
use analog_runtime::derived::noise::repeat;
use analog_runtime::interp::weights_redrawn;
use analog_runtime::ir::{Graph, NodeKind};
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{InstBuilder, UserFuncName, Value};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};

pub fn define_driver(
    graph: &Graph,
    module: &mut dyn Module,
    imports: &Imports,
    layers: &[Option<FuncId>],
    scratch: &mut layout::Scratch,
    fctx: &mut FunctionBuilderContext,
    text: Option<&mut String>,
) -> Result<FuncId, String> {
    let sig = layer_signature(module);
    let id = module.declare_function("network", Linkage::Local, &sig).map_err(|e| e.to_string())?;
    let mut ctx = Context::new();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    // The repeat sums live across calls of a layer, after every layer's scratch.
    let largest =
        graph.nodes.iter().filter(|n| repeat(n) > 1).map(|n| n.shape.iter().product::<usize>()).max().unwrap_or(0);
    let sums = scratch.max_layer + scratch.take_persistent(8 * largest * layout::MAX_BATCH);
    // An input preprocesses in place, so a repeated one restarts from a copy of its raw values.
    let largest_input = graph
        .nodes
        .iter()
        .filter(|n| repeat(n) > 1 && matches!(n.kind, NodeKind::Input { .. }))
        .map(|n| n.shape.iter().product::<usize>())
        .max()
        .unwrap_or(0);
    let raw = scratch.max_layer + scratch.take_persistent(4 * largest_input * layout::MAX_BATCH);
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (c, rep) = (b.block_params(entry)[0], b.block_params(entry)[1]); // the driver ignores `rep`
        let mut fx = Fx::new(b, c, rep, module, imports);
        for (index, (node, layer)) in graph.nodes.iter().zip(layers).enumerate() {
            let Some(layer) = layer else { continue };
            let f = fx.module.declare_func_in_func(*layer, fx.b.func);
            // A layer whose weights are redrawn per inference runs through the host, sample by sample.
            let call = |fx: &mut Fx, rep: Value| match weights_redrawn(node) {
                false => {
                    fx.b.ins().call(f, &[c, rep]);
                }
                true => {
                    let (node, addr) = (fx.i32(index as i64), fx.b.ins().func_addr(I64, f));
                    fx.call(DYNAMIC_LAYER, &[c, rep, node, addr]);
                }
            };
            let repeat = repeat(node);
            if repeat <= 1 {
                let zero = fx.i32(0);
                call(&mut fx, zero);
                continue;
            }
            let input = matches!(node.kind, NodeKind::Input { .. });
            let count = node.shape.iter().product::<usize>();
            let scratch = Repeats { sums, raw };
            repeated(&mut fx, &call, index, count, input, repeat, scratch);
        }
        fx.b.ins().return_(&[]);
        fx.b.seal_all_blocks();
        let config = fx.module.target_config();
        fx.b.finalize(config);
    }
    define(module, id, "the network's driver", &mut ctx, text)?;
    Ok(id)
}

/// Scratch of the repeats: the f64 sums, and a repeated input's raw values.
struct Repeats {
    sums: usize,
    raw: usize,
}

/// `call(rep)` for `rep < repeat` on node `index` (`count` values per
/// sample), its outputs summed in f64 and averaged; a repeated input
/// restarts from its raw values each time.
fn repeated(
    fx: &mut Fx,
    call: &dyn Fn(&mut Fx, Value),
    index: usize,
    count: usize,
    input: bool,
    repeat: u32,
    scratch: Repeats,
) {
    let batch = fx.batch();
    let n = fx.b.ins().imul_imm_s(batch, count as i64);
    let sum = fx.scratch(scratch.sums);
    let out = fx.buf(index);
    let zero = fx.i(0);
    fx.for_range(zero, n, 1, |fx, i| {
        let z = fx.b.ins().f64const(0.0);
        let at = fx.at(sum, i, 8);
        fx.st(z, at, 0);
    });
    let raw = fx.scratch(scratch.raw);
    if input {
        copy(fx, out, raw, n);
    }
    let reps = fx.i(repeat as i64);
    fx.for_range(zero, reps, 1, |fx, r| {
        if input {
            copy(fx, raw, out, n);
        }
        let r32 = fx.b.ins().ireduce(I32, r);
        call(fx, r32);
        fx.for_range(zero, n, 1, |fx, i| {
            let (s_at, y_at) = (fx.at(sum, i, 8), fx.at(out, i, 4));
            let s = fx.ld(F64, s_at, 0);
            let y = fx.ld(F32, y_at, 0);
            let y = fx.b.ins().fpromote(F64, y);
            let s = fx.b.ins().fadd(s, y);
            fx.st(s, s_at, 0);
        });
    });
    let div = fx.b.ins().f64const(repeat as f64);
    fx.for_range(zero, n, 1, |fx, i| {
        let (s_at, y_at) = (fx.at(sum, i, 8), fx.at(out, i, 4));
        let s = fx.ld(F64, s_at, 0);
        let m = fx.b.ins().fdiv(s, div);
        let y = fx.b.ins().fdemote(F32, m);
        fx.st(y, y_at, 0);
    });
}

/// Copies `n` f32 values from `src` to `dst`.
fn copy(fx: &mut Fx, src: Value, dst: Value, n: Value) {
    let zero = fx.i(0);
    fx.for_range(zero, n, 1, |fx, i| {
        let (s, d) = (fx.at(src, i, 4), fx.at(dst, i, 4));
        let v = fx.ld(F32, s, 0);
        fx.st(v, d, 0);
    });
}
