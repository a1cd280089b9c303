//! What a layer's code generator gets: its node, the function being built,
//! the scratch layout, and where its output goes.

use super::activation::Activation;
use super::emit::Fx;
use super::layout::Scratch;
use super::Kernels;
use analog_runtime::ir::{Graph, Node, NodeId};

/// What a layer's code generator gets.
pub struct Layer<'g, 'f> {
    pub fx: Fx<'f>,
    pub graph: &'g Graph,
    pub id: NodeId,
    pub kernels: Kernels,
    pub scratch: &'f mut Scratch,
    /// The node whose buffer receives this node's output (itself, or the
    /// activation fused into it).
    pub dest: NodeId,
    /// An activation applied in this node's epilogue (then skipped itself).
    pub fused: Option<Activation>,
    /// Per node: its product table's entries (int8 with a non-exact multiplier).
    pub tables: &'f [Option<Vec<i32>>],
}

impl<'g> Layer<'g, '_> {
    pub fn node(&self) -> &'g Node {
        self.graph.node(self.id)
    }
}
