//! Denoise blocks: `x + up(relu(down(x)))`, noise-free, as the interpreter's
//! `plain` computes them: dense layers for `[n]` inputs, convolutions with
//! same padding for `[c, h, w]` inputs, every sum from 0 in weight order
//! (`ops::dense`, `ops::conv`), then the bias. One sample at a time; the
//! hidden activations live in scratch. The node's output noise and fused
//! activation follow as a pass (`Post`).

use crate::jit::emit::Fx;
use crate::jit::layer::Layer;
use crate::jit::noise::Post;
use analog_runtime::derived::window::same_padding;
use analog_runtime::ir::{Node, NodeKind, Op};
use cranelift_codegen::ir::types::F32;
use cranelift_codegen::ir::{InstBuilder, Value};

const ROLES: [&str; 4] = ["down.weight", "down.bias", "up.weight", "up.bias"];

/// Word offsets of the four tensors in the packed data.
fn offsets(node: &Node) -> Result<[usize; 4], String> {
    let mut at = 0;
    let mut out = [0; 4];
    for (i, role) in ROLES.iter().enumerate() {
        out[i] = at;
        at += node.param(role).ok_or_else(|| format!("denoise `{}` has no `{role}`", node.name))?.len();
    }
    Ok(out)
}

/// The block's weights (chip slot 0): down weight, down bias, up weight, up bias.
pub fn pack(node: &Node) -> Vec<f32> {
    ROLES.iter().filter_map(|r| node.param(r)).flat_map(|t| t.data.iter().copied()).collect()
}

pub fn emit(layer: &mut Layer) -> Result<(), String> {
    let node = layer.node();
    let NodeKind::Op { op: Op::Denoise { hidden, kernel }, .. } = &node.kind else {
        return Err(format!("`{}` is not a denoise block", node.name));
    };
    let (hidden, kernel) = (*hidden, *kernel);
    let x_id = node.inputs()[0];
    let shape = layer.graph.node(x_id).shape.clone();
    let size: usize = shape.iter().product();
    let [dw, db, uw, ub] = offsets(node)?;
    if shape.len() != 1 && (shape.len() != 3 || kernel % 2 == 0) {
        return Err(format!("denoise `{}`: shape {shape:?} with kernel {kernel}", node.name));
    }
    let spatial = if shape.len() == 3 { shape[1] * shape[2] } else { 1 };
    let h_off = layer.scratch.take(4 * hidden * spatial);
    let fx = &mut layer.fx;
    let w = fx.chip(2 * layer.id.index());
    let x = fx.buf(x_id.index());
    let y = fx.buf(layer.dest.index());
    let hbuf = fx.scratch(h_off);
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let xr = fx.at(x, b, 4 * size as i64);
        let yr = fx.at(y, b, 4 * size as i64);
        let [wd, bd, wu, bu] = [dw, db, uw, ub].map(|o| fx.b.ins().iadd_imm_s(w, 4 * o as i64));
        if shape.len() == 1 {
            let n = shape[0];
            dense(fx, xr, n, wd, bd, hidden, |fx, o, v| {
                let v = fx.relu(v);
                let at = fx.at(hbuf, o, 4);
                fx.st(v, at, 0);
            });
            dense(fx, hbuf, hidden, wu, bu, n, |fx, o, v| residual(fx, xr, yr, o, v));
        } else {
            let [c, h, wd_] = [shape[0], shape[1], shape[2]];
            conv(fx, xr, [c, h, wd_], kernel, wd, bd, hidden, |fx, o, v| {
                let v = fx.relu(v);
                let at = fx.at(hbuf, o, 4);
                fx.st(v, at, 0);
            });
            conv(fx, hbuf, [hidden, h, wd_], kernel, wu, bu, c, |fx, o, v| residual(fx, xr, yr, o, v));
        }
    });
    let post = Post::new(layer, None);
    let y = layer.fx.buf(layer.dest.index());
    post.pass(&mut layer.fx, y, size);
    Ok(())
}

/// `y[o] = x[o] + v`
fn residual(fx: &mut Fx, xr: Value, yr: Value, o: Value, v: Value) {
    let xa = fx.at(xr, o, 4);
    let xv = fx.ld(F32, xa, 0);
    let s = fx.b.ins().fadd(xv, v);
    let ya = fx.at(yr, o, 4);
    fx.st(s, ya, 0);
}

/// `ops::dense` of one sample: for each of `out` outputs, `Σ_j w[o][j]·x[j]`
/// from 0, plus the bias, handed to `store(o, value)`.
fn dense(fx: &mut Fx, x: Value, n: usize, w: Value, bias: Value, out: usize, store: impl Fn(&mut Fx, Value, Value)) {
    let (zero, outs) = (fx.i(0), fx.i(out as i64));
    fx.for_range(zero, outs, 1, |fx, o| {
        let wo = fx.at(w, o, 4 * n as i64);
        let z = fx.f(0.0);
        let acc = fx.var(F32, z);
        let (lo, hi) = (fx.i(0), fx.i(n as i64));
        fx.for_range(lo, hi, 1, |fx, j| {
            let (wa, xa) = (fx.at(wo, j, 4), fx.at(x, j, 4));
            let (wv, xv) = (fx.ld_ro(F32, wa, 0), fx.ld(F32, xa, 0));
            let a = fx.b.use_var(acc);
            let a = fx.b.ins().fma(wv, xv, a);
            fx.b.def_var(acc, a);
        });
        let ba = fx.at(bias, o, 4);
        let bv = fx.ld_ro(F32, ba, 0);
        let a = fx.b.use_var(acc);
        let v = fx.b.ins().fadd(a, bv);
        store(fx, o, v);
    });
}

/// `ops::conv` of one sample `[c, h, w]`: stride 1, same padding, outputs
/// `[out][h][w]`; `store(index, value)`.
#[allow(clippy::too_many_arguments)]
fn conv(
    fx: &mut Fx,
    x: Value,
    [c, h, w]: [usize; 3],
    kernel: usize,
    wt: Value,
    bias: Value,
    out: usize,
    store: impl Fn(&mut Fx, Value, Value),
) {
    let pad = same_padding(kernel);
    let k = c * kernel * kernel;
    let (zero, outs) = (fx.i(0), fx.i(out as i64));
    fx.for_range(zero, outs, 1, |fx, o| {
        let wo = fx.at(wt, o, 4 * k as i64);
        let ba = fx.at(bias, o, 4);
        let hv = fx.i(h as i64);
        fx.for_range(zero, hv, 1, |fx, i| {
            let wv_ = fx.i(w as i64);
            fx.for_range(zero, wv_, 1, |fx, j| {
                let z = fx.f(0.0);
                let acc = fx.var(F32, z);
                let cv = fx.i(c as i64);
                fx.for_range(zero, cv, 1, |fx, ch| {
                    let xc = fx.at(x, ch, 4 * (h * w) as i64);
                    let wc = fx.at(wo, ch, 4 * (kernel * kernel) as i64);
                    for u in 0..kernel {
                        let r = fx.b.ins().iadd_imm_s(i, u as i64 - pad as i64);
                        for v in 0..kernel {
                            let s = fx.b.ins().iadd_imm_s(j, v as i64 - pad as i64);
                            let xv = fx.pixel(xc, r, s, h, w, Some(0.0));
                            let wv = fx.ld_ro(F32, wc, (4 * (u * kernel + v)) as i64);
                            let a = fx.b.use_var(acc);
                            let a = fx.b.ins().fma(wv, xv, a);
                            fx.b.def_var(acc, a);
                        }
                    }
                });
                let bv = fx.ld_ro(F32, ba, 0);
                let a = fx.b.use_var(acc);
                let v = fx.b.ins().fadd(a, bv);
                let idx = fx.b.ins().imul_imm_s(o, (h * w) as i64);
                let row = fx.b.ins().imul_imm_s(i, w as i64);
                let idx = fx.b.ins().iadd(idx, row);
                let idx = fx.b.ins().iadd(idx, j);
                store(fx, idx, v);
            });
        });
    });
}
