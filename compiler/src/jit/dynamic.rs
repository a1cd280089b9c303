//! Per-inference (dynamic) weight noise: every sample sees weights with
//! fresh noise, so the host redraws and repacks a layer's weights for each
//! sample, with the interpreter's own `noisy_weights`, and runs the layer's
//! compiled function on that one sample. The draws are therefore the
//! interpreter's by construction, on both kernel sets (static weight noise
//! is drawn on the host too, once per chip, in `Compiled::chip`).

use super::exec::{Compiled, Entry};
use super::layout::Ctx;
use super::mac;
use analog_runtime::interp::noise::Ctx as DrawCtx;
use analog_runtime::interp::noisy_weights;

/// `dynamic_layer(ctx, rep, node, layer)`.
pub const DYNAMIC_LAYER: &str = "analogc_dynamic_layer";

/// Runs `layer` (node `node`'s function) on each sample of the batch with
/// that sample's noisy weights in the node's chip slot.
///
/// # Safety
/// `ctx` is a context built by `Compiled::context` (its `model` points to
/// the live `Compiled` whose code `layer` belongs to) and `node` is a MAC
/// node with dynamic weight noise.
pub unsafe extern "C" fn dynamic_layer(ctx: *const Ctx, rep: u32, node: u32, layer: Entry) {
    // SAFETY: the caller's contract.
    let ctx = unsafe { &*ctx };
    let model = unsafe { &*(ctx.model as *const Compiled) };
    let (graph, sizes) = (model.graph(), model.sizes());
    let n = graph.nodes.len();
    let node = node as usize;
    // SAFETY: `bufs` has a pointer per node and `chip` two per node (`Compiled::context`).
    let bufs = unsafe { std::slice::from_raw_parts(ctx.bufs, n) };
    let mut chip = unsafe { std::slice::from_raw_parts(ctx.chip, 2 * n) }.to_vec();
    let mut shifted = vec![std::ptr::null_mut(); n];
    for b in 0..ctx.batch as usize {
        let sample = ctx.first_sample.wrapping_add(b as u32);
        let draw = DrawCtx { seed: ctx.seed, trial: ctx.trial, sample, rep };
        let (w, _prepared) = noisy_weights(&graph.nodes[node], draw);
        let packed = mac::pack(graph, &graph.nodes[node], &w, model.table(node));
        chip[2 * node] = packed.as_ptr() as *const u8;
        for (s, (buf, size)) in shifted.iter_mut().zip(bufs.iter().zip(sizes)) {
            // SAFETY: every buffer holds `batch` samples of its node.
            *s = unsafe { buf.add(b * size) };
        }
        let one = Ctx { bufs: shifted.as_ptr(), chip: chip.as_ptr(), batch: 1, first_sample: sample, ..*ctx };
        // SAFETY: `one` is `ctx` narrowed to sample `b`; `packed` outlives the call.
        unsafe { layer(&one, rep) };
    }
}
