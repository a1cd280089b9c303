//! (being written) Denoise blocks: `x + up(relu(down(x)))`, dense or conv.

use crate::jit::Layer;

pub fn emit(layer: &mut Layer) -> Result<(), String> {
    Err(format!("the JIT does not compile denoise block `{}` yet", layer.node().name))
}

/// The block's weights packed for its kernel (chip slot 0).
pub fn pack(g: &analog_runtime::ir::Graph, node: &analog_runtime::ir::Node) -> Vec<f32> {
    let _ = (g, node);
    vec![]
}
