//! What training runs on: the graph with the training phase's noise, and
//! which of its tensors learn.

use crate::ir::hardware::{NoiseKind, Phase};
use crate::ir::{Graph, Node, NodeId, NodeKind, Op};

/// `graph` as training sees it: noise with `during = train` or `both` on,
/// noise with `during = eval` off. Number formats, accumulation, multipliers
/// and ADC noise have no phase: they act in both. Cached prepared weights are
/// dropped, since training changes the weights.
pub fn training_graph(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for node in &mut g.nodes {
        for site in [&mut node.hw.noise, &mut node.hw.weight_noise].into_iter().flatten() {
            match site.noise.during {
                Phase::Eval => site.noise.kind = NoiseKind::Off,
                Phase::Train => site.noise.during = Phase::Both,
                Phase::Both => {}
            }
        }
        node.prepared = None;
    }
    g
}

/// The roles of a node's tensors that training changes by gradient (a
/// batchnorm's running statistics move by their own rule).
pub fn learnable_roles(node: &Node) -> &'static [&'static str] {
    match &node.kind {
        NodeKind::Op {
            op: Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } | Op::BatchNorm { .. }, ..
        } => &["weight", "bias"],
        NodeKind::Op { op: Op::Denoise { .. }, .. } => &["down.weight", "down.bias", "up.weight", "up.bias"],
        _ => &[],
    }
}

/// Per node: whether the loss's gradient with respect to its output is
/// needed, because it or a node before it learns.
pub fn needs_gradient(graph: &Graph, learns: &[bool]) -> Vec<bool> {
    let mut need = vec![false; graph.nodes.len()];
    for id in graph.ids() {
        let node = graph.node(id);
        need[id.index()] = learns[id.index()] || node.inputs().iter().any(|i| need[i.index()]);
    }
    need
}

/// The node the loss reads: the first output, or the input of a softmax
/// there (cross-entropy takes logits; that softmax and its noise are left out
/// of training).
pub fn loss_node(graph: &Graph) -> NodeId {
    let out = graph.outputs[0].1;
    match &graph.node(out).kind {
        NodeKind::Op { op: Op::Softmax, inputs } => inputs[0],
        _ => out,
    }
}
