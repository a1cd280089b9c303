//! Multiply-accumulate layers (dense, conv1d, conv2d, and the convolutions and dense
//! layers inside denoise blocks): the kernel of each number format, the
//! packed weights, and the host functions the kernels call. `geometry` is
//! the GEMM view every kernel shares; `mod.rs` dispatches to the kernels.
//!
//! A MAC layer is a GEMM: row `r` is one input patch (a dense layer's whole
//! input, or one conv position), column `o` one output channel, each output
//! the dot product of a patch with a weight row. Weights are packed in
//! panels of 8 columns, `[group][panel][k][8]`, so a kernel reads 8 columns'
//! weights for one `k` with two 4-lane loads and keeps every sum in a lane of
//! its own: sums run over `k` in the interpreter's order.

mod abfp;
mod analog_int;
mod common;
pub mod denoise;
mod direct;
mod fold;
mod fp32;
mod geometry;
mod int8;
mod magnitude;
mod ordered;
mod table;

use super::layer::Layer;
use super::noise::Post;
use analog_runtime::ir::hardware::{Accumulate, Format};
use analog_runtime::ir::{Graph, Node, NodeKind, Op};
use analog_runtime::kernels::{conv, gemm};
use cranelift_codegen::ir::types::{F32, I32, I64};
use cranelift_codegen::ir::Type;
use geometry::Geometry;

/// Multiply-accumulates per sample of a node (0 for ops without weights).
pub fn mac_count(g: &Graph, node: &Node) -> usize {
    match &node.kind {
        NodeKind::Op { op: Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. }, .. } => {
            let geo = Geometry::of(g, node);
            geo.out_size() * geo.k
        }
        _ => 0,
    }
}

/// Host functions of the MAC kernels: `(name, pointer)`.
pub fn host_symbols() -> Vec<(&'static str, *const u8)> {
    vec![
        (magnitude::MAGNITUDE, magnitude::magnitude_f32 as *const u8),
        (gemm::GEMM, gemm::gemm_f32 as *const u8),
        (gemm::GEMM_TILES, gemm::gemm_f32_tiles as *const u8),
        (fold::FOLD, fold::fold_f32 as *const u8),
        (table::TABLE, table::table_i8 as *const u8),
        (conv::CONV, conv::conv_f32 as *const u8),
    ]
}

/// Their signatures: `(name, params, return)`.
pub fn host_signatures() -> Vec<(&'static str, Vec<Type>, Option<Type>)> {
    vec![
        (magnitude::MAGNITUDE, vec![I64, I64, I64, I64, I64, I64, I32, F32, F32, F32], None),
        (gemm::GEMM, vec![I64; 6], None),
        (gemm::GEMM_TILES, vec![I64; 7], None),
        (fold::FOLD, vec![I64, I64, I64, I64, I64, I64, I64, I32, F32, F32, F32], None),
        (table::TABLE, vec![I64, I64, I64, I64, I64, I64, I32, I64, I32], None),
        (conv::CONV, vec![I64; 14], None),
    ]
}

/// Emits a dense, conv1d or conv2d layer.
pub fn emit(layer: &mut Layer) -> Result<(), String> {
    let node = layer.node();
    let geo = Geometry::of(layer.graph, node);
    let x = layer.fx.buf(node.inputs()[0].index());
    let fs = geometry::full_scale(layer, &geo, x);
    let post = Post::new(layer, fs);
    if let Some(shape) = direct::shape(layer, &geo) {
        let out = layer.fx.buf(layer.dest.index());
        direct::emit(layer, &geo, &shape, x, out, &post);
        return Ok(());
    }
    let rows = geometry::rows(layer, &geo, x);
    let out = layer.fx.buf(layer.dest.index());
    let fused = match (&node.hw.format, &node.hw.accumulate) {
        (Format::Fp32, Accumulate::Exact | Accumulate::Clamp { .. }) => fp32::emit(layer, &geo, &rows, out, &post),
        (Format::Fp32, Accumulate::Ordered { .. }) => ordered::emit(layer, &geo, &rows, out, &post)?,
        (Format::Int8 { .. }, _) => int8::emit(layer, &geo, &rows, out, &post)?,
        (Format::Abfp { .. }, _) => abfp::emit(layer, &geo, &rows, out, &post)?,
        (Format::AnalogInt { .. }, _) => analog_int::emit(layer, &geo, &rows, out, &post)?,
    };
    if !fused {
        post.pass(&mut layer.fx, out, geo.out_size());
    }
    Ok(())
}

/// Every node's product table entries (`common::table_entries`): int8
/// nodes with a non-exact multiplier; read or tabulated once per compile.
pub fn tables(g: &Graph) -> Result<Vec<Option<Vec<i32>>>, String> {
    g.nodes
        .iter()
        .map(|node| match node.hw.format {
            Format::Int8 { .. } => Ok(common::product_table(node)?.map(|t| common::table_entries(&t))),
            _ => Ok(None),
        })
        .collect()
}

/// A MAC layer's weights (`[cols][k]`, after any weight noise) packed for
/// its kernel, bias included (`table`: its entry of [`tables`]).
pub fn pack(g: &Graph, node: &Node, weights: &[f32], table: Option<&[i32]>) -> Vec<f32> {
    let geo = Geometry::of(g, node);
    match (&node.hw.format, &node.hw.accumulate) {
        (Format::Fp32, Accumulate::Exact | Accumulate::Clamp { .. }) => {
            geometry::pack_f32(&geo, weights, node.param("bias").map(|b| &b.data[..]))
        }
        (Format::Fp32, Accumulate::Ordered { .. }) => ordered::pack(&geo, node, weights),
        (Format::Int8 { .. }, _) => int8::pack(&geo, node, weights, table),
        (Format::Abfp { .. }, _) => abfp::pack(&geo, node, weights),
        (Format::AnalogInt { .. }, _) => analog_int::pack(&geo, node, weights),
    }
}
