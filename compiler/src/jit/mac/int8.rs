//! (being written) The `int8` MAC kernel.

use super::{Geometry, Rows};
use crate::jit::noise::Post;
use crate::jit::Layer;
use cranelift_codegen::ir::Value;

/// Emits the layer; returns whether the epilogue (`post`) was fused.
pub fn emit(layer: &mut Layer, geo: &Geometry, rows: &Rows, out: Value, post: &Post) -> Result<bool, String> {
    let _ = (geo, rows, out, post);
    Err(format!("the JIT does not compile `{}` yet", layer.node().name))
}

/// The layer's weights packed for the kernel (as 32-bit words: f32 or i32 bits).
pub fn pack(geo: &Geometry, node: &analog_runtime::ir::Node, weights: &[f32]) -> Vec<f32> {
    let _ = (geo, node, weights);
    vec![]
}
