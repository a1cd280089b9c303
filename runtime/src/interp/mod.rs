//! The reference interpreter: the definition of what a graph computes.
//! Plain, scalar, one sample at a time; every backend must agree with it.
//!
//! A [`Trial`] is one simulated chip: its static draws (weights with static
//! noise, random accumulation orders) are made once. Dynamic draws are keyed
//! by the sample's index in the dataset, so a sample's result does not depend
//! on which batch or thread computes it.

mod check;
pub mod mac;
pub mod noise;
pub mod observe;
pub mod ops;

pub use check::check;

use crate::derived::noise::{lsb_noise, order_site, repeat, uses_full_scale};
use crate::derived::window::{normalization, plane, Window};
use crate::ir::hardware::{Accumulate, Draw, Format, Multiplier, Order, TableLayout};
use crate::ir::{Graph, Node, NodeId, NodeKind, Op, Step};
use crate::multiplier::{self, Design};
use crate::product_table::{Layout, ProductTable};
use crate::quant::{self, Prepared};
use noise::Ctx;
use observe::{Ignore, Observer};
use std::borrow::Cow;
use std::path::Path;

pub struct Interpreter<'g> {
    graph: &'g Graph,
    /// Per node: the product table of its multiplier (`None`: exact).
    tables: Vec<Option<ProductTable>>,
    /// Per node: prepared weights when the graph had none and no weight noise
    /// changes them (so an unoptimized graph runs too).
    prepared: Vec<Option<Prepared>>,
    /// Per node whose output noise is relative to its full scale: `max |w|`
    /// of its weights (0 for every other node).
    weight_max: Vec<f32>,
}

/// One simulated chip.
pub struct Trial {
    pub seed: u64,
    /// Keys the dynamic draws (with the sample's index); the static draws
    /// below were made for the trial the chip was made with.
    pub trial: u32,
    /// Per node: weights with static noise applied, and prepared.
    weights: Vec<Option<(Vec<f32>, Option<Prepared>)>>,
    /// Per node: the permutation of `order = random`.
    orders: Vec<Option<Vec<u32>>>,
}

impl<'g> Interpreter<'g> {
    /// Loads the graph's multiplier tables through `read` (a path → bytes).
    /// Fails, naming the node, if the graph is not one the interpreter can
    /// run ([`check`]: operands, tensors, prepared weights), or a table cannot
    /// be read.
    pub fn new(graph: &'g Graph, read: impl Fn(&Path) -> std::io::Result<Vec<u8>>) -> Result<Self, String> {
        check(graph)?;
        let tables = load_tables(graph, read)?;
        Ok(Interpreter::with_tables(graph, tables))
    }

    /// An interpreter of a checked graph ([`check`]) with its product tables
    /// already loaded ([`load_tables`]); training builds one per step, as the
    /// weights change, without reading the tables again.
    pub fn with_tables(graph: &'g Graph, tables: Vec<Option<ProductTable>>) -> Self {
        let prepared = graph
            .nodes
            .iter()
            .map(|node| match (&node.prepared, node.param("weight")) {
                (None, Some(w)) if !weights_vary(node) => quant::prepare(&node.hw.format, w),
                _ => None,
            })
            .collect();
        let weight_max = graph
            .nodes
            .iter()
            .map(|n| match (&n.hw.noise, n.param("weight")) {
                (Some(site), Some(w)) if uses_full_scale(site) => quant::max_abs(&w.data),
                _ => 0.0,
            })
            .collect();
        Interpreter { graph, tables, prepared, weight_max }
    }

    /// `max |w|` of node `id`'s weights where its output noise is relative
    /// to its full scale (0 elsewhere).
    pub fn weight_max(&self, id: NodeId) -> f32 {
        self.weight_max[id.index()]
    }

    /// The product tables, to build the next interpreter with ([`with_tables`](Self::with_tables)).
    pub fn into_tables(self) -> Vec<Option<ProductTable>> {
        self.tables
    }

    /// Node `id`'s product table (`None`: an exact multiplier).
    pub fn table(&self, id: NodeId) -> Option<&ProductTable> {
        self.tables[id.index()].as_ref()
    }

    /// The weights node `id` multiplies by in one inference (`ctx`) on chip
    /// `t`: with its weight noise, and prepared for its number format.
    pub fn mac_weights<'a>(
        &'a self,
        t: &'a Trial,
        id: NodeId,
        ctx: Ctx,
    ) -> (Cow<'a, [f32]>, Option<Cow<'a, Prepared>>) {
        let node = self.graph.node(id);
        let i = id.index();
        let w = node.param("weight").expect("checked: a MAC layer has weights");
        match (&t.weights[i], &node.hw.weight_noise) {
            (Some((w, p)), _) => (Cow::Borrowed(&w[..]), p.as_ref().map(Cow::Borrowed)),
            (None, Some(site)) if noise::active(&site.noise) => {
                let (w, p) = noisy_weights(node, ctx);
                (Cow::Owned(w), p.map(Cow::Owned))
            }
            _ => (Cow::Borrowed(&w.data[..]), node.prepared.as_ref().or(self.prepared[i].as_ref()).map(Cow::Borrowed)),
        }
    }

    /// The permutation of chip `t`'s `order = random` at node `id`.
    pub fn order<'t>(&self, t: &'t Trial, id: NodeId) -> Option<&'t [u32]> {
        t.orders[id.index()].as_deref()
    }

    /// One sample's value of node `id`, as [`run`](Self::run) computes it
    /// (noise and repeats included): `operands` are the values of its inputs
    /// (none for an input node, whose raw values are `raw`).
    ///
    /// # Panics
    /// As [`run`](Self::run), and if `operands` do not match the node's inputs.
    pub fn node_value(&self, t: &Trial, id: NodeId, operands: &[&[f32]], raw: Option<&[f32]>, sample: u32) -> Vec<f32> {
        self.node_value_observed(t, id, operands, raw, sample, &mut Ignore)
    }

    /// [`node_value`](Self::node_value), telling `obs` what it computes.
    pub fn node_value_observed<O: Observer + ?Sized>(
        &self,
        t: &Trial,
        id: NodeId,
        operands: &[&[f32]],
        raw: Option<&[f32]>,
        sample: u32,
        obs: &mut O,
    ) -> Vec<f32> {
        let node = self.graph.node(id);
        let repeat = repeat(node);
        if repeat <= 1 {
            return self.eval(t, id, operands, raw, Ctx { seed: t.seed, trial: t.trial, sample, rep: 0 }, obs);
        }
        // Averaged in f64: R equal values average back to themselves exactly.
        let mut sum = vec![0.0f64; node.shape.iter().product()];
        for rep in 0..repeat {
            let y = self.eval(t, id, operands, raw, Ctx { seed: t.seed, trial: t.trial, sample, rep }, obs);
            for (s, v) in sum.iter_mut().zip(y) {
                *s += v as f64;
            }
        }
        sum.iter().map(|s| (s / repeat as f64) as f32).collect()
    }

    /// Makes the static draws of chip `trial`.
    pub fn trial(&self, seed: u64, trial: u32) -> Trial {
        let mut t = Trial { seed, trial, weights: vec![], orders: vec![] };
        for node in &self.graph.nodes {
            let static_weights =
                node.hw.weight_noise.as_ref().filter(|s| s.noise.draw == Draw::Static && noise::active(&s.noise));
            t.weights.push(static_weights.map(|_| {
                let ctx = Ctx { seed, trial, sample: crate::rng::PER_CHIP, rep: 0 };
                noisy_weights(node, ctx)
            }));
            t.orders.push(random_order(node, seed, trial));
        }
        t
    }

    /// Runs one sample: `inputs[i]` holds the raw values (u8 inputs as their
    /// byte values) of the graph's `i`-th input node. Returns every output.
    ///
    /// # Panics
    /// If `inputs` has fewer slices than the graph has inputs, a slice is
    /// shorter than its input's size, or `t` is not a trial of this interpreter.
    pub fn run(&self, t: &Trial, sample: u32, inputs: &[&[f32]]) -> Vec<Vec<f32>> {
        self.run_observed(t, sample, inputs, &mut Ignore)
    }

    /// [`run`](Self::run), telling `obs` what it computes (see [`observe`]).
    ///
    /// # Panics
    /// As [`run`](Self::run).
    pub fn run_observed<O: Observer + ?Sized>(
        &self,
        t: &Trial,
        sample: u32,
        inputs: &[&[f32]],
        obs: &mut O,
    ) -> Vec<Vec<f32>> {
        let mut values: Vec<Vec<f32>> = Vec::with_capacity(self.graph.nodes.len());
        let mut next_input = 0;
        for id in self.graph.ids() {
            let node = self.graph.node(id);
            let raw = match node.kind {
                NodeKind::Input { .. } => {
                    next_input += 1;
                    Some(inputs[next_input - 1])
                }
                _ => None,
            };
            let operands: Vec<&[f32]> = node.inputs().iter().map(|i| &values[i.index()][..]).collect();
            let value = self.node_value_observed(t, id, &operands, raw, sample, obs);
            obs.node(id, &value);
            values.push(value);
        }
        self.graph.outputs.iter().map(|(_, id)| values[id.index()].clone()).collect()
    }

    /// One evaluation of node `id`, its output noise included.
    fn eval<O: Observer + ?Sized>(
        &self,
        t: &Trial,
        id: NodeId,
        operands: &[&[f32]],
        raw: Option<&[f32]>,
        ctx: Ctx,
        obs: &mut O,
    ) -> Vec<f32> {
        let node = self.graph.node(id);
        let (mut y, full_scale) = match &node.kind {
            NodeKind::Input { steps, shape, .. } => (preprocess(raw.expect("input values"), shape, steps), 0.0),
            NodeKind::Op { op, inputs } => {
                let x = operands[0];
                let x_shape = &self.graph.node(inputs[0]).shape;
                match op {
                    Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } => {
                        self.mac(t, id, op, x, x_shape, ctx, obs)
                    }
                    _ => (plain(node, op, operands, x_shape), 0.0),
                }
            }
        };
        obs.clean(id, &y);
        if let Some(site) = &node.hw.noise {
            noise::apply(site, &mut y, ctx, full_scale);
        }
        y
    }

    /// A MAC layer; also returns its full scale `max|x|·max|w|` for σ in `fs`.
    #[allow(clippy::too_many_arguments)]
    fn mac<O: Observer + ?Sized>(
        &self,
        t: &Trial,
        id: NodeId,
        op: &Op,
        x: &[f32],
        x_shape: &[usize],
        ctx: Ctx,
        obs: &mut O,
    ) -> (Vec<f32>, f32) {
        let node = self.graph.node(id);
        let i = id.index();
        let w = node.param("weight").expect("checked: a MAC layer has weights");
        let (weight, prepared) = self.mac_weights(t, id, ctx);
        let (patches, positions, k, groups) = match (op, Window::of(op)) {
            (Op::Conv1d { groups, .. } | Op::Conv2d { groups, .. }, Some(w)) => {
                let (p, positions, k) = ops::patches(x, &plane(x_shape), w.kernel, w.stride, w.padding, *groups);
                (p, positions, k, *groups)
            }
            _ => (x.to_vec(), 1, x.len(), 1),
        };
        let m = mac::Mac {
            rows: w.shape[0],
            k,
            groups,
            positions,
            patches: &patches,
            weight: &weight,
            prepared: prepared.as_deref(),
            bias: node.param("bias").map(|b| &b.data[..]),
            format: &node.hw.format,
            accumulate: &node.hw.accumulate,
            table: self.tables[i].as_ref(),
            order: t.orders[i].as_deref(),
            id,
            name: &node.name,
            uid: node.uid,
            lsb_noise: lsb_noise(node),
        };
        // Only σ in `fs` needs the full scale; max|w| is the same for every sample.
        let full_scale = match &node.hw.noise {
            Some(site) if uses_full_scale(site) => quant::max_abs(x) * self.weight_max[i],
            _ => 0.0,
        };
        (mac::run(&m, ctx, obs), full_scale)
    }
}

/// Every node's product table ([`node_table`]).
pub fn load_tables(
    graph: &Graph,
    read: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Vec<Option<ProductTable>>, String> {
    graph.nodes.iter().map(|node| node_table(node, &read)).collect()
}

/// A node's product table (`None` for an exact multiplier): a file read
/// through `read` and parsed, or a closed form tabulated. The error names
/// the file that cannot be read or parsed.
pub fn node_table(
    node: &Node,
    read: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Option<ProductTable>, String> {
    let signed = matches!(node.hw.format, Format::Int8 { signed: true, .. });
    let design = match &node.hw.multiplier {
        Multiplier::Exact => None,
        Multiplier::Truncated { bits } => Some(Design::Truncated { bits: *bits }),
        Multiplier::Mitchell => Some(Design::Mitchell),
        Multiplier::Drum { k } => Some(Design::Drum { k: *k }),
        Multiplier::Table { path, layout, signed } => {
            let bytes = read(path).map_err(|e| format!("cannot read multiplier table `{}`: {e}", path.display()))?;
            let layout = match layout {
                TableLayout::TorchApprox => Layout::TorchApprox,
                TableLayout::TfApprox => Layout::TfApprox,
            };
            let table =
                ProductTable::parse(&bytes, layout, *signed).map_err(|e| format!("`{}`: {e}", path.display()))?;
            return Ok(Some(table));
        }
    };
    Ok(design.map(|d| multiplier::table(d, signed)))
}

/// A MAC layer's weights with its weight noise applied (draws of `ctx`),
/// and prepared for its number format.
///
/// # Panics
/// If `node` has no `weight` tensor or no weight noise (see [`weights_vary`]).
pub fn noisy_weights(node: &Node, ctx: Ctx) -> (Vec<f32>, Option<Prepared>) {
    let w = node.param("weight").expect("a MAC layer has weights");
    let site = node.hw.weight_noise.as_ref().expect("weight noise");
    let mut data = w.data.clone();
    let full_scale = quant::max_abs(&w.data);
    noise::apply(site, &mut data, ctx, full_scale);
    let prepared = quant::prepare(&node.hw.format, &crate::tensor::Tensor::new(w.shape.clone(), data.clone()));
    (data, prepared)
}

/// The permutation of a chip's `order = random` accumulation over the
/// node's `k` products (`None` for other accumulations, or without weights).
///
/// # Panics
/// If the weight tensor has no rows (`check` rejects such a node).
pub fn random_order(node: &Node, seed: u64, trial: u32) -> Option<Vec<u32>> {
    match (&node.hw.accumulate, node.param("weight")) {
        (Accumulate::Ordered { order: Order::Random, .. }, Some(w)) => {
            let k = w.len() / w.shape[0];
            Some(crate::rng::permutation(seed, trial, order_site(node.uid), k))
        }
        _ => None,
    }
}

/// Whether a node's weights change per chip or per inference (active weight
/// noise), so they cannot be prepared once.
pub fn weights_vary(node: &Node) -> bool {
    node.hw.weight_noise.as_ref().is_some_and(|s| noise::active(&s.noise))
}

/// Whether a node's weights are redrawn for every inference (active dynamic
/// weight noise); otherwise varying weights are drawn once per chip.
pub fn weights_redrawn(node: &Node) -> bool {
    weights_vary(node) && node.hw.weight_noise.as_ref().is_some_and(|s| s.noise.draw == Draw::Dynamic)
}

fn preprocess(raw: &[f32], shape: &[usize], steps: &[Step]) -> Vec<f32> {
    let mut x = raw.to_vec();
    preprocess_in_place(&mut x, shape, steps);
    x
}

/// An input's steps (`docs/language.md`) applied to one sample's raw values
/// `x` of the input's declared `shape`, in place.
pub fn preprocess_in_place(x: &mut [f32], shape: &[usize], steps: &[Step]) {
    let (len, channels) = (x.len(), shape[0]);
    let mut shape = shape.to_vec();
    for step in steps {
        match step {
            Step::Scale(f) => x.iter_mut().for_each(|v| *v *= *f as f32),
            Step::Normalize { mean, std } => {
                // Every value of a row of `shape` has the same mean and std.
                let per = (len / shape[0].max(1)).max(1);
                for (row, values) in x.chunks_mut(per).enumerate() {
                    let (m, s) = normalization(mean, std, row * per, len, shape[0], channels);
                    values.iter_mut().for_each(|v| *v = (*v - m) / s);
                }
            }
            Step::Reshape(d) => shape = d.clone(),
            Step::Flatten => shape = vec![len],
        }
    }
}

/// An op without MAC hardware on its operands (`shape`: the first's).
fn plain(node: &Node, op: &Op, operands: &[&[f32]], shape: &[usize]) -> Vec<f32> {
    let p = |role: &str| &node.param(role).expect("checked tensor").data[..];
    let x = operands[0];
    if let Some(y) = ops::elementwise(op, x) {
        return y;
    }
    match (op, Window::of(op)) {
        (Op::MaxPool2d { .. } | Op::AvgPool2d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. }, Some(w)) => {
            ops::pool(x, &plane(shape), w.kernel, w.stride, w.padding, op.is_max_pool())
        }
        (Op::GlobalAvgPool, _) => ops::global_avg_pool(x, shape[0]),
        (Op::Concat, _) => operands.concat(),
        (Op::Softmax, _) => ops::softmax(x, shape),
        (Op::BatchNorm { eps }, _) => {
            ops::batchnorm(x, shape, *eps, p("weight"), p("bias"), p("running_mean"), p("running_var"))
        }
        (Op::Add, _) => x.iter().zip(operands[1]).map(|(a, b)| a + b).collect(),
        (Op::Denoise { hidden, kernel }, _) => {
            let up = if shape.len() == 1 {
                let h = ops::dense(x, p("down.weight"), Some(p("down.bias")));
                let h: Vec<f32> = h.iter().map(|v| ops::relu(*v)).collect();
                ops::dense(&h, p("up.weight"), Some(p("up.bias")))
            } else {
                let h = ops::conv(x, shape, p("down.weight"), *hidden, *kernel, p("down.bias"));
                let h: Vec<f32> = h.iter().map(|v| ops::relu(*v)).collect();
                ops::conv(&h, &[*hidden, shape[1], shape[2]], p("up.weight"), shape[0], *kernel, p("up.bias"))
            };
            x.iter().zip(up).map(|(a, b)| a + b).collect()
        }
        (
            Op::Dense { .. }
            | Op::Conv1d { .. }
            | Op::Conv2d { .. }
            | Op::MaxPool2d { .. }
            | Op::AvgPool2d { .. }
            | Op::MaxPool1d { .. }
            | Op::AvgPool1d { .. },
            _,
        ) => {
            unreachable!("MAC layers go through mac; a pooling op has a window")
        }
        (
            Op::Flatten
            | Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Clip { .. }
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Sigmoid
            | Op::Tanh,
            _,
        ) => {
            unreachable!("element-wise ops are computed above")
        }
    }
}
