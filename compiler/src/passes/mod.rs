//! Named passes over the graph IR, run in a fixed pipeline (`analogc passes`
//! lists them; `analogc emit --stage opt` shows the graph after them). A pass
//! never changes what a model means: the reference interpreter gives the
//! same outputs before and after, up to f32 rounding where a pass refolds
//! arithmetic (stated per pass), and leaves a graph that holds the IR's
//! invariants (`analog_runtime::ir::verify`, checked after every pass in
//! debug builds).

mod dead_nodes;
mod fold_batchnorm;
mod prepare_weights;

use crate::lower::Lowered;
use analog_runtime::ir::{NodeId, NodeKind};

pub trait Pass: Sync {
    /// kebab-case, as shown by `analogc passes`.
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// Runs the pass; returns how many nodes it changed.
    fn run(&self, l: &mut Lowered) -> usize;
}

pub const PIPELINE: &[&dyn Pass] =
    &[&dead_nodes::DeadNodes, &fold_batchnorm::FoldBatchNorm, &prepare_weights::PrepareWeights];

/// Runs every pass in order; returns each pass's name and change count. In
/// debug builds the graph is verified after each pass (a pass that breaks an
/// IR invariant panics, naming itself).
pub fn run_pipeline(l: &mut Lowered) -> Vec<(&'static str, usize)> {
    PIPELINE
        .iter()
        .map(|p| {
            let changed = p.run(l);
            l.assert_valid(&format!("pass `{}`", p.name()));
            (p.name(), changed)
        })
        .collect()
}

/// Keeps the nodes with `keep[i]`, renumbering ids (order is preserved, so
/// the graph stays topologically sorted). Kept nodes must only read kept ones.
fn retain(l: &mut Lowered, keep: &[bool]) {
    let mut new_id = vec![None; keep.len()];
    let mut next = 0u32;
    for (i, k) in keep.iter().enumerate() {
        if *k {
            new_id[i] = Some(NodeId(next));
            next += 1;
        }
    }
    let remap = |id: NodeId| new_id[id.index()].expect("a kept node reads only kept nodes");
    let nodes = std::mem::take(&mut l.graph.nodes);
    let spans = std::mem::take(&mut l.spans);
    for ((mut node, span), k) in nodes.into_iter().zip(spans).zip(keep) {
        if !k {
            continue;
        }
        if let NodeKind::Op { inputs, .. } = &mut node.kind {
            for i in inputs.iter_mut() {
                *i = remap(*i);
            }
        }
        l.graph.nodes.push(node);
        l.spans.push(span);
    }
    for (_, o) in &mut l.graph.outputs {
        *o = remap(*o);
    }
}
