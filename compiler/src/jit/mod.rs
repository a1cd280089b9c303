//! The Cranelift backend: the optimized graph compiled into native kernels,
//! one function per layer and a driver that calls them in order, with every
//! shape, σ and hardware constant an immediate.
//!
//! Compiled code agrees with the reference interpreter bit for bit: every
//! dot product is summed in the interpreter's order (kernels vectorize across
//! outputs and samples, never within a sum), every draw comes from the same
//! counter-based generator, and transcendental functions are the host's libm,
//! as in the interpreter. `docs/architecture.md` describes the kernels.

mod driver;
mod dynamic;
pub mod emit;
mod exec;
mod host;
pub mod layout;
mod mac;
pub mod module;
mod noise;
mod ops;
mod rng;

use analog_runtime::ir::{Graph, NodeId};
use cranelift_codegen::ir::types::{I32, I64};
use cranelift_codegen::ir::{AbiParam, InstBuilder, Signature, UserFuncName};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
pub use exec::{Chip, Compiled, Workspace};

/// Multiply-accumulates per sample of a node (0 for ops without weights).
pub fn mac_count(g: &Graph, node: &analog_runtime::ir::Node) -> usize {
    match &node.kind {
        analog_runtime::ir::NodeKind::Op {
            op: analog_runtime::ir::Op::Dense { .. } | analog_runtime::ir::Op::Conv2d { .. },
            ..
        } => {
            let geo = mac::Geometry::of(g, node);
            geo.out_size() * geo.k
        }
        _ => 0,
    }
}
use module::{CodeModule, Target};
use std::collections::HashMap;

/// Where the hot loops come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Cranelift code, calling precompiled Rust micro-kernels (with run-time
    /// CPU-feature dispatch) for the FP32 GEMM and the Gaussian generator.
    #[default]
    Native,
    /// Cranelift code only (slower; the same results).
    Cranelift,
}

/// Host functions compiled code may call, by symbol name.
pub struct Imports {
    ids: HashMap<&'static str, FuncId>,
}

/// What a layer's code generator gets.
pub struct Layer<'g, 'f> {
    pub fx: emit::Fx<'f>,
    pub graph: &'g Graph,
    pub id: NodeId,
    pub kernels: Kernels,
    pub scratch: &'f mut layout::Scratch,
    /// The node whose buffer receives this node's output (itself, or the
    /// activation fused into it).
    pub dest: NodeId,
    /// An activation applied in this node's epilogue (then skipped itself).
    pub fused: Option<ops::Activation>,
    /// Per node: its product table's entries (int8 with a non-exact multiplier).
    pub tables: &'f [Option<Vec<i32>>],
}

impl<'g> Layer<'g, '_> {
    pub fn node(&self) -> &'g analog_runtime::ir::Node {
        self.graph.node(self.id)
    }
}

/// `extern "C" fn(ctx: *const Ctx, rep: u32)`
fn layer_signature(module: &dyn Module) -> Signature {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(I64));
    sig.params.push(AbiParam::new(I32));
    sig
}

/// Compiles `graph` (after the pass pipeline). `read` loads multiplier tables.
/// Multiplier tables are read from their paths (the front end checked them).
pub fn compile(graph: &Graph, kernels: Kernels) -> Result<Compiled, String> {
    let mut code = CodeModule::new(Target::Host, &host::symbols())?;
    let program = build(graph, kernels, &mut *code.module, None)?;
    code.finalize()?;
    exec::Compiled::new(graph, kernels, code, program)
}

/// The CLIF of every function of `graph`, for the pinned x86-64 ISA.
pub fn clif(graph: &Graph, kernels: Kernels) -> Result<String, String> {
    let mut code = CodeModule::new(Target::PinnedX86_64, &host::symbols())?;
    let mut text = String::new();
    build(graph, kernels, &mut *code.module, Some(&mut text))?;
    Ok(text)
}

/// What compiling leaves for the executor.
pub struct Program {
    pub driver: FuncId,
    pub scratch_size: usize,
    /// Per node: whether its value is computed (false: fused into its input).
    pub computed: Vec<bool>,
    /// Each computed node's function.
    pub layers: Vec<(NodeId, FuncId)>,
    /// Per node: its product table's entries, built once (`mac::tables`).
    pub tables: Vec<Option<Vec<i32>>>,
}

fn build(
    graph: &Graph,
    kernels: Kernels,
    module: &mut dyn Module,
    mut text: Option<&mut String>,
) -> Result<Program, String> {
    let imports = host::declare(module, kernels)?;
    let tables = mac::tables(graph)?;
    let fusion = ops::fusion(graph);
    let mut scratch = layout::Scratch::default();
    let mut fctx = FunctionBuilderContext::new();
    let mut layers = vec![];
    let mut computed = vec![true; graph.nodes.len()];
    for id in graph.ids() {
        if fusion.fused_away[id.index()] {
            computed[id.index()] = false;
            layers.push(None);
            continue;
        }
        let name = format!("{}_{}", graph.node(id).name.replace(['.', '/'], "_"), id.0);
        let sig = layer_signature(module);
        let fid = module.declare_function(&name, Linkage::Local, &sig).map_err(|e| e.to_string())?;
        let mut ctx = Context::new();
        ctx.func.signature = sig;
        ctx.func.name = UserFuncName::user(0, fid.as_u32());
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let (c, rep) = (b.block_params(entry)[0], b.block_params(entry)[1]);
            scratch.begin_layer();
            let (dest, fused) = match fusion.into[id.index()] {
                Some((act_node, act)) => (act_node, Some(act)),
                None => (id, None),
            };
            let mut layer = Layer {
                fx: emit::Fx::new(b, c, rep, module, &imports),
                graph,
                id,
                kernels,
                scratch: &mut scratch,
                dest,
                fused,
                tables: &tables,
            };
            ops::emit(&mut layer)?;
            layer.fx.b.ins().return_(&[]);
            layer.fx.b.seal_all_blocks();
            let config = layer.fx.module.target_config();
            layer.fx.b.finalize(config);
        }
        define(module, fid, &format!("layer {name}"), &mut ctx, text.as_deref_mut())?;
        layers.push(Some(fid));
    }
    let driver = driver::define_driver(graph, module, &imports, &layers, &mut scratch, &mut fctx, text.as_deref_mut())?;
    host::define_module_functions(module, &imports, kernels, &mut fctx, text)?;
    let layers = graph.ids().zip(&layers).filter_map(|(id, f)| f.map(|f| (id, f))).collect();
    Ok(Program { driver, scratch_size: scratch.size(), computed, layers, tables })
}

fn define(
    module: &mut dyn Module,
    id: FuncId,
    label: &str,
    ctx: &mut Context,
    text: Option<&mut String>,
) -> Result<(), String> {
    if let Some(t) = text {
        t.push_str(&format!("; {label}\n"));
        t.push_str(&ctx.func.display().to_string());
        t.push('\n');
    }
    module.define_function(id, ctx).map_err(|e| format!("cranelift: {e:?}"))
}
