//! Running compiled code: the compiled model (code and constant weights),
//! a chip (one trial's static draws), and a thread's workspace.

use super::layout::{Ctx, MAX_BATCH};
use super::mac;
use super::module::CodeModule;
use analog_runtime::interp::noise::Ctx as DrawCtx;
use analog_runtime::interp::{noisy_weights, random_order, weights_redrawn, weights_vary};
use analog_runtime::ir::{Graph, Node, NodeId, NodeKind, Op, Param};
use cranelift_module::FuncId;
use std::sync::Arc;

/// A compiled layer or driver: `extern "C" fn(ctx, rep)`.
pub type Entry = unsafe extern "C" fn(*const Ctx, u32);

/// What compiling leaves for the executor.
pub struct Program {
    pub driver: FuncId,
    pub scratch_size: usize,
    /// Each computed node's function.
    pub layers: Vec<(NodeId, FuncId)>,
    /// Per node: its product table's entries, built once (`mac::tables`).
    pub tables: Vec<Option<Vec<i32>>>,
}

pub struct Compiled {
    /// Declared before `code`: dropped first (nothing here points into it,
    /// but keep the order obvious).
    entry: Entry,
    /// Each computed node's function (for per-layer timing).
    pub(super) layers: Vec<(NodeId, Entry)>,
    graph: Graph,
    sizes: Vec<usize>,
    scratch_size: usize,
    /// Per MAC node: its packed weights when they are the same for every
    /// chip. Chips hold it too: it keeps the weights a chip points to alive,
    /// and tells which model, with which weights, a chip belongs to.
    constant: Arc<[Option<Vec<f32>>]>,
    /// Tells which model a workspace belongs to (whatever its weights).
    token: Arc<()>,
    inputs: Vec<NodeId>,
    /// Per node: its product table's entries (`mac::tables`).
    tables: Vec<Option<Vec<i32>>>,
    _code: CodeModule,
}

// SAFETY: after `finalize` the module is never touched again until drop; the
// code is immutable and reentrant (all state is in the context and workspace).
unsafe impl Sync for Compiled {}
unsafe impl Send for Compiled {}

/// One simulated chip: its static draws, packed for the kernels.
pub struct Chip {
    pub seed: u64,
    pub trial: u32,
    /// Per node: slot 0 (weights), slot 1 (accumulation order).
    ptrs: Vec<*const u8>,
    /// The model's constant weights (some of `ptrs` point into them).
    model: Arc<[Option<Vec<f32>>]>,
    _owned: Vec<Vec<f32>>,
    _orders: Vec<Vec<u32>>,
}

// SAFETY: the pointers point into `Chip`'s own vectors or the model's
// constants it holds (`model`), all immutable.
unsafe impl Sync for Chip {}
unsafe impl Send for Chip {}

/// A thread's buffers: every node's activations for a batch, and scratch.
pub struct Workspace {
    /// The token of the model it was made for.
    model: Arc<()>,
    bufs: Vec<Vec<f32>>,
    ptrs: Vec<*mut f32>,
    scratch: Vec<u64>,
}

/// Node `node`'s packed weights when they are the same for every chip.
fn constant(graph: &Graph, node: &Node, table: Option<&[i32]>) -> Option<Vec<f32>> {
    match (node.param("weight"), &node.kind) {
        (Some(w), _) if is_mac(node) && !weights_vary(node) => Some(pack(graph, node, &w.data, table)),
        (_, NodeKind::Op { op: Op::Denoise { .. }, .. }) => Some(mac::denoise::pack(node)),
        _ => None,
    }
}

// SAFETY: its pointers point into its own buffers, which move with it.
unsafe impl Send for Workspace {}

fn is_mac(node: &Node) -> bool {
    matches!(node.kind, NodeKind::Op { op: Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. }, .. })
}

use mac::pack;

impl Compiled {
    pub(super) fn new(graph: &Graph, code: CodeModule, program: Program) -> Result<Compiled, String> {
        let ptr = code.module.get_finalized_function(program.driver);
        // SAFETY: the driver was defined with this signature (`layer_signature`).
        let entry: Entry = unsafe { std::mem::transmute::<*const u8, Entry>(ptr) };
        let constant = graph.nodes.iter().enumerate().map(|(i, n)| constant(graph, n, program.tables[i].as_deref()));
        let layers = program
            .layers
            .iter()
            .map(|(id, f)| {
                let ptr = code.module.get_finalized_function(*f);
                // SAFETY: every layer was defined with `layer_signature`.
                (*id, unsafe { std::mem::transmute::<*const u8, Entry>(ptr) })
            })
            .collect();
        Ok(Compiled {
            entry,
            layers,
            sizes: graph.nodes.iter().map(|n| n.shape.iter().product()).collect(),
            scratch_size: program.scratch_size,
            constant: constant.collect(),
            token: Arc::new(()),
            inputs: graph.ids().filter(|i| matches!(graph.node(*i).kind, NodeKind::Input { .. })).collect(),
            tables: program.tables,
            graph: graph.clone(),
            _code: code,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Node `i`'s product table entries, if it has any.
    pub fn table(&self, i: usize) -> Option<&[i32]> {
        self.tables[i].as_deref()
    }

    /// Elements of one sample of each node.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Gives node `id` the tensors `params` (those it has, in its order, of
    /// the same shapes: its weights after training steps, say) and packs its
    /// weights again. Chips made before belong to the old weights (running
    /// one panics); workspaces stay good. Fails if `params` do not match.
    pub fn set_params(&mut self, id: NodeId, params: &[Param]) -> Result<(), String> {
        let node = &mut self.graph.nodes[id.index()];
        let fits = node.params.len() == params.len()
            && node.params.iter().zip(params).all(|(a, b)| a.role == b.role && a.value.shape == b.value.shape);
        if !fits {
            return Err(format!("node `{}`: new tensors that are not its own", node.name));
        }
        node.params.clone_from_slice(params);
        let mut packed = self.constant.to_vec();
        packed[id.index()] = constant(&self.graph, self.graph.node(id), self.table(id.index()));
        self.constant = packed.into();
        Ok(())
    }

    /// Makes the static draws of chip `trial`, as `Interpreter::trial` does.
    pub fn chip(&self, seed: u64, trial: u32) -> Chip {
        let mut ptrs = vec![std::ptr::null(); 2 * self.graph.nodes.len()];
        let (mut owned, mut orders) = (vec![], vec![]);
        for (i, node) in self.graph.nodes.iter().enumerate() {
            if let Some(c) = &self.constant[i] {
                ptrs[2 * i] = c.as_ptr() as *const u8;
            } else if is_mac(node) && weights_vary(node) && !weights_redrawn(node) {
                let ctx = DrawCtx { seed, trial, sample: analog_runtime::rng::PER_CHIP, rep: 0 };
                let (w, _prepared) = noisy_weights(node, ctx);
                let packed = pack(&self.graph, node, &w, self.table(i));
                ptrs[2 * i] = packed.as_ptr() as *const u8;
                owned.push(packed);
            }
            if let Some(p) = random_order(node, seed, trial) {
                ptrs[2 * i + 1] = p.as_ptr() as *const u8;
                orders.push(p);
            }
        }
        Chip { seed, trial, ptrs, model: self.constant.clone(), _owned: owned, _orders: orders }
    }

    /// The preconditions of [`run`](Self::run).
    fn check_run(&self, chip: &Chip, ws: &Workspace, inputs: &[&[f32]], n: usize) {
        assert!(Arc::ptr_eq(&chip.model, &self.constant), "a chip of another model");
        assert!(Arc::ptr_eq(&ws.model, &self.token), "a workspace of another model");
        assert!(inputs.len() >= self.inputs.len(), "{} inputs for a model of {}", inputs.len(), self.inputs.len());
        for (input, id) in inputs.iter().zip(&self.inputs) {
            let need = n * self.sizes[id.index()];
            assert!(
                input.len() >= need,
                "input `{}`: {} values for {n} samples of {need}",
                self.graph.node(*id).name,
                input.len()
            );
        }
    }

    pub(super) fn context(&self, chip: &Chip, ws: &mut Workspace, first: u32, batch: usize) -> Ctx {
        Ctx {
            bufs: ws.ptrs.as_ptr(),
            chip: chip.ptrs.as_ptr(),
            scratch: ws.scratch.as_mut_ptr() as *mut u8,
            batch: batch as u64,
            first_sample: first,
            trial: chip.trial,
            key: analog_runtime::rng::key(chip.seed),
            seed: chip.seed,
            model: self as *const Compiled as *const std::ffi::c_void,
        }
    }

    pub fn workspace(&self) -> Workspace {
        let bufs: Vec<Vec<f32>> = self.sizes.iter().map(|s| vec![0.0; s * MAX_BATCH + 16]).collect();
        let scratch = vec![0; (self.scratch_size + 128).div_ceil(8)];
        let mut ws = Workspace { model: self.token.clone(), ptrs: vec![], bufs, scratch };
        ws.ptrs = ws.bufs.iter_mut().map(|b| b.as_mut_ptr()).collect();
        ws
    }

    /// Runs samples `first..first + n`: `inputs[i]` holds the raw values of
    /// the `i`-th input for the `n` samples, one after another. Returns each
    /// output's values, `n` samples one after another.
    ///
    /// # Panics
    /// If `chip` or `ws` was made by another model, or `inputs` has fewer
    /// slices than the graph has inputs, or a slice holds fewer than `n`
    /// samples (compiled code would read memory it does not own).
    pub fn run(&self, chip: &Chip, ws: &mut Workspace, first: u32, inputs: &[&[f32]], n: usize) -> Vec<Vec<f32>> {
        self.check_run(chip, ws, inputs, n);
        let mut outs: Vec<Vec<f32>> =
            self.graph.outputs.iter().map(|(_, id)| Vec::with_capacity(n * self.sizes[id.index()])).collect();
        let mut start = 0;
        while start < n {
            let batch = (n - start).min(MAX_BATCH);
            for (input, id) in inputs.iter().zip(&self.inputs) {
                let size = self.sizes[id.index()];
                ws.bufs[id.index()][..batch * size].copy_from_slice(&input[start * size..(start + batch) * size]);
            }
            let ctx = self.context(chip, ws, first.wrapping_add(start as u32), batch);
            // SAFETY: the context's buffers are sized for `MAX_BATCH` samples of
            // every node and the scratch for the largest layer (`Program`).
            unsafe { (self.entry)(&ctx, 0) };
            for (out, (_, id)) in outs.iter_mut().zip(&self.graph.outputs) {
                let size = self.sizes[id.index()];
                out.extend_from_slice(&ws.bufs[id.index()][..batch * size]);
            }
            start += batch;
        }
        outs
    }

    /// Runs `samples` on a model of one input and one output: `input` holds
    /// their raw values one after another, and `out` receives their outputs
    /// so. With `keyed`, each sample runs in a call of its own, its draws
    /// keyed by its number (where [`run`](Self::run) keys a batch's by
    /// consecutive numbers); without, in batches, for a model that draws
    /// nothing, whose values do not depend on the keys.
    ///
    /// # Panics
    /// As [`run`](Self::run), and if the model has other than one input and
    /// one output or `out` is not `samples.len()` outputs long.
    pub fn run_into(
        &self,
        chip: &Chip,
        ws: &mut Workspace,
        samples: &[u32],
        keyed: bool,
        input: &[f32],
        out: &mut [f32],
    ) {
        let n = samples.len();
        assert!(self.inputs.len() == 1 && self.graph.outputs.len() == 1, "a model of one input and one output");
        self.check_run(chip, ws, &[input], n);
        let (x, y) = (self.inputs[0].index(), self.graph.outputs[0].1.index());
        let (x_size, y_size) = (self.sizes[x], self.sizes[y]);
        assert_eq!(out.len(), n * y_size, "{} outputs for {n} samples of {y_size}", out.len());
        let per_call = if keyed { 1 } else { MAX_BATCH };
        for (i, keys) in samples.chunks(per_call).enumerate() {
            let (first, batch) = (i * per_call, keys.len());
            ws.bufs[x][..batch * x_size].copy_from_slice(&input[first * x_size..][..batch * x_size]);
            let ctx = self.context(chip, ws, keys[0], batch);
            // SAFETY: as in `run`.
            unsafe { (self.entry)(&ctx, 0) };
            out[first * y_size..][..batch * y_size].copy_from_slice(&ws.bufs[y][..batch * y_size]);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::jit::{compile, Kernels};
    use analog_runtime::ir::{Dtype, Graph, Node, NodeHardware, NodeId, NodeKind, Op};

    /// `relu(x)` of a `[n]` input; with `add`, `x + x` after it, its second operand missing.
    fn graph(n: usize, add: bool) -> Graph {
        let node = |uid: u32, kind: NodeKind| Node {
            uid,
            name: format!("n{uid}"),
            kind,
            shape: vec![n],
            hw: NodeHardware::default(),
            params: vec![],
            prepared: None,
        };
        let mut nodes = vec![
            node(0, NodeKind::Input { dtype: Dtype::F32, shape: vec![n], steps: vec![] }),
            node(1, NodeKind::Op { op: Op::Relu, inputs: vec![NodeId(0)] }),
        ];
        if add {
            nodes.push(node(2, NodeKind::Op { op: Op::Add, inputs: vec![NodeId(1)] }));
        }
        let out = NodeId(nodes.len() as u32 - 1);
        Graph { name: "g".into(), nodes, outputs: vec![("y".into(), out)] }
    }

    #[test]
    fn a_graph_the_backends_cannot_run_is_an_error() {
        let Err(e) = compile(&graph(3, true), Kernels::Native) else { panic!("compiled an add of one operand") };
        assert!(e.contains("node `n2`"), "{e}");
        assert!(crate::jit::clif(&graph(3, true), Kernels::Cranelift).is_err());
    }

    #[test]
    fn runs_with_its_own_chip_and_workspace() {
        let c = compile(&graph(3, false), Kernels::Native).expect("compiles");
        let (chip, mut ws) = (c.chip(0, 0), c.workspace());
        assert_eq!(c.run(&chip, &mut ws, 0, &[&[1.0, -2.0, 3.0]], 1), vec![vec![1.0, 0.0, 3.0]]);
    }

    #[test]
    #[should_panic(expected = "a chip of another model")]
    fn a_chip_of_another_model_panics() {
        let (a, b) = (
            compile(&graph(3, false), Kernels::Native).expect("a"),
            compile(&graph(3, false), Kernels::Native).expect("b"),
        );
        let mut ws = a.workspace();
        a.run(&b.chip(0, 0), &mut ws, 0, &[&[1.0, 2.0, 3.0]], 1);
    }

    #[test]
    #[should_panic(expected = "a workspace of another model")]
    fn a_workspace_of_another_model_panics() {
        let (a, b) = (
            compile(&graph(3, false), Kernels::Native).expect("a"),
            compile(&graph(64, false), Kernels::Native).expect("b"),
        );
        let mut ws = b.workspace();
        a.run(&a.chip(0, 0), &mut ws, 0, &[&[1.0, 2.0, 3.0]], 1);
    }

    #[test]
    #[should_panic(expected = "2 values for 1 samples of 3")]
    fn a_short_input_panics() {
        let c = compile(&graph(3, false), Kernels::Native).expect("compiles");
        let mut ws = c.workspace();
        c.run(&c.chip(0, 0), &mut ws, 0, &[&[1.0, 2.0]], 1);
    }
}
