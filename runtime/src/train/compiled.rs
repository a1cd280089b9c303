//! Compiled code for the training forward's MAC layers with effects (number
//! formats, approximate multipliers, weight noise, clamped or data-ordered
//! sums) and denoise blocks: the JIT's, which the compiler crate builds and gives the
//! [`Trainer`](super::trainer::Trainer) (this crate does not depend on it).
//! The code computes a layer's clean outputs, the interpreter's bits before
//! the layer's output noise; the forward adds that noise, as it does for
//! every layer, with each sample's own draws.

use super::forward::is_plain_mac;
use super::ordered;
use crate::derived::noise::repeat;
use crate::ir::{Graph, Node, NodeId, NodeKind, Op};

/// Whether the fast forward asks compiled code for `node`, evaluated once:
/// a denoise block, or a dense or convolution layer that neither the
/// matrix-product kernels (no effects) nor the ordered-sum path take.
pub fn takes(node: &Node) -> bool {
    let NodeKind::Op { op, .. } = &node.kind else { return false };
    let mac = matches!(op, Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. });
    let taken = match op {
        Op::Denoise { .. } => true,
        _ => mac && !is_plain_mac(node) && !ordered::takes(node),
    };
    taken && repeat(node) == 1
}

/// Compiled layers of a training graph.
pub trait LayerCode: Send + Sync {
    /// Whether it runs node `id`.
    fn runs(&self, id: NodeId) -> bool;

    /// Readies every layer it runs for a step: its weights and bias as
    /// `graph` holds them now, the static draws (weight noise, random orders)
    /// of chip `chip_trial` of `seed`, dynamic draws keyed by `trial`. A layer
    /// whose node no longer is the one it compiled (other hardware or
    /// shapes) is dropped: [`runs`](Self::runs) says no from then on.
    fn prepare(&mut self, graph: &Graph, seed: u64, chip_trial: u32, trial: u32);

    /// Node `id`'s clean outputs for `samples` (the keys of their draws)
    /// into `y`, one sample after another; `x` holds the samples' inputs so.
    ///
    /// # Panics
    /// If it does not run `id` or was not prepared, or the slices' lengths
    /// do not match.
    fn run(&self, id: NodeId, x: &[f32], samples: &[u32], y: &mut [f32]);
}
