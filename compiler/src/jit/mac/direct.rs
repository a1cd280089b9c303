//! FP32 convolutions through the host's direct kernel
//! (`analog_runtime::kernels::conv`, `--kernels native`): one sample at a
//! time, the kernel's sums of every output channel, then the epilogue in
//! generated code over that sample's outputs while they are in cache:
//! clamp, bias, `post` (noise and activation) and the store, four
//! consecutive positions at a time.

use super::geometry::{panel_words, Geometry};
use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::noise::Post;
use crate::jit::Kernels;
use analog_runtime::derived::format::clamp_bounds;
use analog_runtime::ir::hardware::{Accumulate, Format};
use analog_runtime::kernels::conv::{Shape, CONV};
use cranelift_codegen::ir::types::{F32, F32X4};
use cranelift_codegen::ir::{InstBuilder, Type, Value};

/// The direct kernel's shape of `geo`, when it takes the layer: an FP32
/// convolution with exact or clamped sums, native kernels, stride 1 and
/// one group (the kernel's reach), any number of output channels (measured
/// faster than im2col and the GEMM from 6 to 64 channels:
/// docs/performance.md).
pub fn shape(layer: &Layer, geo: &Geometry) -> Option<Shape> {
    let conv = geo.conv.as_ref()?;
    let hw = &layer.node().hw;
    let fp32 = hw.format == Format::Fp32 && matches!(hw.accumulate, Accumulate::Exact | Accumulate::Clamp { .. });
    let reach = geo.groups == 1 && conv.window.stride == [1, 1];
    if !fp32 || layer.kernels != Kernels::Native || !reach {
        return None;
    }
    let [channels, height, width] = conv.shape;
    let (padding, kernel, cols) = (conv.window.padding, conv.window.kernel, geo.cols);
    Some(Shape { channels, height, width, padding, kernel, cols })
}

/// Emits the layer (input `x`, output `out`); its epilogue runs `post`.
pub fn emit(layer: &mut Layer, geo: &Geometry, s: &Shape, x: Value, out: Value, post: &Post) {
    let clamp = clamp_bounds(&layer.node().hw.accumulate);
    let plane = layer.scratch.take(4 * s.plane_len());
    let tile = layer.scratch.take(4 * s.tile_len());
    let fx = &mut layer.fx;
    let w = fx.chip(2 * layer.id.index());
    let (plane, tile) = (fx.scratch(plane), fx.scratch(tile));
    let [[top, bottom], [left, right]] = s.padding;
    let dims = [s.channels, s.height, s.width, top, bottom, left, right, s.kernel[0], s.kernel[1], s.cols];
    let dims: Vec<Value> = dims.iter().map(|d| fx.i(*d as i64)).collect();
    let bias = fx.b.ins().iadd_imm_s(w, 4 * panel_words(geo, geo.k) as i64);
    let ([oh, ow], wp, stride) = (s.out(), s.padded()[1], s.tile_stride());
    let lanes = if post.vectorizes() { 4 } else { 1 };
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let xb = fx.at(x, b, 4 * geo.in_size as i64);
        let mut args = vec![xb];
        args.extend(&dims);
        args.extend([w, plane, tile]);
        fx.call(CONV, &args);
        let ob = fx.at(out, b, 4 * geo.out_size() as i64);
        let cols = fx.i(s.cols as i64);
        fx.for_range(zero, cols, 1, |fx, o| {
            let bo = fx.at(bias, o, 4);
            let bo = fx.ld_ro(F32, bo, 0);
            let rows = fx.i(oh as i64);
            fx.for_range(zero, rows, 1, |fx, i| {
                // Output row `i` of channel `o`: tile `o·stride + i·wp`, element `o·positions + i·ow`.
                let t = fx.b.ins().imul_imm_s(o, stride as i64);
                let src = fx.at(t, i, wp as i64);
                let src = fx.at(tile, src, 4);
                let e = fx.b.ins().imul_imm_s(o, geo.positions as i64);
                let e = fx.at(e, i, ow as i64);
                let element = |fx: &mut Fx, j: Value, ty: Type| {
                    let at = fx.at(src, j, 4);
                    let mut y = fx.ld(ty, at, 0);
                    if let Some((lo, hi)) = clamp {
                        y = fx.clamp(y, lo, hi);
                    }
                    let bv = if ty == F32 { bo } else { fx.b.ins().splat(ty, bo) };
                    y = fx.b.ins().fadd(y, bv);
                    let ej = fx.b.ins().iadd(e, j);
                    y = post.apply(fx, y, b, ej);
                    let at = fx.at(ob, ej, 4);
                    fx.st(y, at, 0);
                };
                let body = ow / lanes * lanes;
                if body > 0 {
                    let (lo, hi) = (fx.i(0), fx.i(body as i64));
                    let ty = if lanes == 4 { F32X4 } else { F32 };
                    fx.for_range(lo, hi, lanes as i64, |fx, j| element(fx, j, ty));
                }
                for j in body..ow {
                    let j = fx.i(j as i64);
                    element(fx, j, F32);
                }
            });
        });
    });
}
