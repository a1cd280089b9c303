//! Compiling a graph: one Cranelift function per computed node, the driver,
//! and the module's own functions, in one module.

use super::activation::{fusion, Fusion};
use super::emit::{Fx, Imports};
use super::exec::{Compiled, Program};
use super::layer::Layer;
use super::layout::{layer_signature, Scratch};
use super::module::{define, CodeModule, Target};
use super::{driver, link, mac, ops, Kernels};
use analog_runtime::ir::{Graph, NodeId, NodeKind, Op};
use cranelift_codegen::ir::{InstBuilder, UserFuncName};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};

/// Compiles `graph` (after the pass pipeline). Multiplier tables are read
/// from their paths. Fails on a graph the backends cannot run
/// (`analog_runtime::interp::check`), an unreadable table, or a layer the
/// JIT does not compile.
pub fn compile(graph: &Graph, kernels: Kernels) -> Result<Compiled, String> {
    analog_runtime::interp::check(graph)?;
    let mut code = CodeModule::new(Target::Host, &link::symbols())?;
    let program = build(graph, kernels, &mut *code.module, None)?;
    code.finalize()?;
    Compiled::new(graph, code, program)
}

/// The CLIF of every function of `graph`, for the pinned x86-64 ISA.
pub fn clif(graph: &Graph, kernels: Kernels) -> Result<String, String> {
    analog_runtime::interp::check(graph)?;
    let mut code = CodeModule::new(Target::PinnedX86_64, &link::symbols())?;
    let mut text = String::new();
    build(graph, kernels, &mut *code.module, Some(&mut text))?;
    Ok(text)
}

/// What every layer's function is built with.
struct Shared<'g, 'a> {
    graph: &'g Graph,
    kernels: Kernels,
    imports: &'a Imports,
    fusion: &'a Fusion,
    /// Per node: its product table's entries (`mac::tables`).
    tables: &'a [Option<Vec<i32>>],
}

fn build(
    graph: &Graph,
    kernels: Kernels,
    module: &mut dyn Module,
    mut text: Option<&mut String>,
) -> Result<Program, String> {
    let imports = link::declare(module, kernels)?;
    let tables = mac::tables(graph)?;
    let fusion = fusion(graph);
    let shared = Shared { graph, kernels, imports: &imports, fusion: &fusion, tables: &tables };
    let mut scratch = Scratch::default();
    let mut fctx = FunctionBuilderContext::new();
    let mut layers = vec![];
    for id in graph.ids() {
        if fusion.fused_away[id.index()] {
            layers.push(None);
            continue;
        }
        let f = define_layer(&shared, id, module, &mut scratch, &mut fctx, text.as_deref_mut())?;
        layers.push(Some(f));
    }
    let driver = driver::define_driver(graph, module, &imports, &layers, &mut scratch, &mut fctx, text.as_deref_mut())?;
    link::define_module_functions(module, &imports, kernels, &mut fctx, text)?;
    let layers = graph.ids().zip(&layers).filter_map(|(id, f)| f.map(|f| (id, f))).collect();
    Ok(Program { driver, scratch_size: scratch.size(), layers, tables })
}

/// Declares and defines node `id`'s function.
fn define_layer(
    shared: &Shared,
    id: NodeId,
    module: &mut dyn Module,
    scratch: &mut Scratch,
    fctx: &mut FunctionBuilderContext,
    text: Option<&mut String>,
) -> Result<FuncId, String> {
    let name = format!("{}_{}", shared.graph.node(id).name.replace(['.', '/'], "_"), id.0);
    let sig = layer_signature(module);
    let fid = module.declare_function(&name, Linkage::Local, &sig).map_err(|e| e.to_string())?;
    let mut ctx = Context::new();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, fid.as_u32());
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (c, rep) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        scratch.begin_layer();
        let (dest, fused) = match shared.fusion.into[id.index()] {
            Some((act_node, act)) => (act_node, Some(act)),
            None => (id, None),
        };
        let mut layer = Layer {
            fx: Fx::new(b, c, rep, module, shared.imports),
            graph: shared.graph,
            id,
            kernels: shared.kernels,
            scratch,
            dest,
            fused,
            tables: shared.tables,
        };
        emit(&mut layer)?;
        layer.fx.b.ins().return_(&[]);
        layer.fx.b.seal_all_blocks();
        let config = layer.fx.module.target_config();
        layer.fx.b.finalize(config);
    }
    define(module, fid, &format!("layer {name}"), &mut ctx, text)?;
    Ok(fid)
}

/// Emits the body of `layer`'s function: a MAC layer's kernel, or a plain op.
fn emit(layer: &mut Layer) -> Result<(), String> {
    match &layer.node().kind {
        NodeKind::Op { op: Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. }, .. } => mac::emit(layer),
        NodeKind::Op { op: Op::Denoise { .. }, .. } => mac::denoise::emit(layer),
        _ => ops::emit(layer),
    }
}
