//! (being written) Denoise blocks: `x + up(relu(down(x)))`, dense or conv.

use crate::jit::Layer;

pub fn emit(layer: &mut Layer) -> Result<(), String> {
    Err(format!("the JIT does not compile denoise block `{}` yet", layer.node().name))
}
