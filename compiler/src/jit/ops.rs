//! The ops without multiply-accumulate hardware: input preprocessing,
//! activations, pooling (global pooling too), softmax, batch norm, residual
//! adds, concat, flatten.

use super::activation::Activation;
use super::emit::Fx;
use super::host;
use super::layer::Layer;
use super::noise::Post;
use analog_runtime::derived::window::{batchnorm_std, normalization, plane, Window};
use analog_runtime::ir::{NodeKind, Op, Step};
use cranelift_codegen::ir::types::{F32, F32X4};
use cranelift_codegen::ir::{InstBuilder, Type, Value};

/// Emits the body of a layer without MAC hardware. Element-wise ops
/// (preprocessing, activations, batch norm, adds) run their output noise in
/// the same pass, four lanes at a time where the noise allows.
pub fn emit(layer: &mut Layer) -> Result<(), String> {
    let node = layer.node();
    let size = node.shape.iter().product::<usize>();
    let post = Post::new(layer, None);
    let y = layer.fx.buf(layer.dest.index());
    let op = match &node.kind {
        NodeKind::Input { steps, shape, .. } => {
            preprocess(&mut layer.fx, y, shape, steps, &post);
            return Ok(());
        }
        NodeKind::Op { op, .. } => op,
    };
    let inputs: Vec<Value> = node.inputs().iter().map(|i| layer.fx.buf(i.index())).collect();
    let x_shape = &layer.graph.node(node.inputs()[0]).shape;
    let sizes: Vec<usize> = node.inputs().iter().map(|i| layer.graph.node(*i).shape.iter().product()).collect();
    let fx = &mut layer.fx;
    let mut each = |lo: usize, hi: usize, f: &dyn Fn(&mut Fx, &[Value]) -> Value| {
        per_element(fx, &inputs, y, size, lo, hi, post.vectorizes(), &|fx, v, b, e| {
            let v = f(fx, v);
            post.apply(fx, v, b, e)
        })
    };
    match op {
        Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } | Op::Denoise { .. } => {
            return Err(format!("`{}` is a MAC layer, not a plain op", node.name))
        }
        Op::Relu
        | Op::LeakyRelu { .. }
        | Op::Clip { .. }
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::Sigmoid
        | Op::Tanh
        | Op::Flatten => {
            let act = Activation::of(op);
            each(0, size, &|fx, v| act.map_or(v[0], |a| a.emit(fx, v[0])));
        }
        Op::Add => each(0, size, &|fx, v| fx.b.ins().fadd(v[0], v[1])),
        Op::Concat => concat(fx, &inputs, &sizes, y, size, &post),
        Op::GlobalAvgPool => {
            global_avg_pool(fx, inputs[0], y, size, sizes[0] / size);
            post.pass(fx, y, size);
        }
        Op::BatchNorm { eps } => {
            let p = |r: &str| &node.param(r).expect("checked tensor").data;
            let (gamma, beta, mean, var) = (p("weight"), p("bias"), p("running_mean"), p("running_var"));
            let per = size / x_shape[0];
            for c in 0..x_shape[0] {
                let d = batchnorm_std(var[c], *eps);
                let (m, g, bb) = (mean[c], gamma[c], beta[c]);
                each(c * per, (c + 1) * per, &|fx, v| {
                    let (m, d, g, bb) = (fx.like(v[0], m), fx.like(v[0], d), fx.like(v[0], g), fx.like(v[0], bb));
                    let t = fx.b.ins().fsub(v[0], m);
                    let t = fx.b.ins().fdiv(t, d);
                    let t = fx.b.ins().fmul(t, g);
                    fx.b.ins().fadd(t, bb)
                });
            }
        }
        Op::Softmax => {
            softmax(fx, inputs[0], y, size, *x_shape.last().expect("rank ≥ 1"));
            post.pass(fx, y, size);
        }
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. } => {
            let win = Window::of(op).expect("a pooling window");
            pool(fx, inputs[0], y, &plane(x_shape), win, op.is_max_pool());
            post.pass(fx, y, size);
        }
    }
    Ok(())
}

/// `f(fx, values, sample, element)`: an element's output from its inputs.
type ElementFn<'a> = dyn Fn(&mut Fx, &[Value], Value, Value) -> Value + 'a;

/// `y[b][e] = f(x₀[b][e], x₁[b][e], …, b, e)` for every sample and `e` in
/// `lo..hi` (rows of `size` elements): `F32X4` values four at a time when
/// `vector`, then `F32` for the rest.
#[allow(clippy::too_many_arguments)]
fn per_element(fx: &mut Fx, xs: &[Value], y: Value, size: usize, lo: usize, hi: usize, vector: bool, f: &ElementFn) {
    let body = if vector { lo + (hi - lo) / 4 * 4 } else { lo };
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let rows: Vec<Value> = xs.iter().map(|x| fx.at(*x, b, 4 * size as i64)).collect();
        let yr = fx.at(y, b, 4 * size as i64);
        let element = |fx: &mut Fx, e: Value, ty| {
            let v: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let at = fx.at(*r, e, 4);
                    fx.ld(ty, at, 0)
                })
                .collect();
            let v = f(fx, &v, b, e);
            let at = fx.at(yr, e, 4);
            fx.st(v, at, 0);
        };
        let vectorized = body > lo;
        let (lo, body, hi) = (fx.i(lo as i64), fx.i(body as i64), fx.i(hi as i64));
        // Emitted only when it runs: `f` may have no vector form (mixed noise).
        if vectorized {
            fx.for_range(lo, body, 4, |fx, e| element(fx, e, F32X4));
        }
        fx.for_range(body, hi, 1, |fx, e| element(fx, e, F32));
    });
}

/// Each operand's sample after the one before (`sizes` values each), the
/// epilogue applied at its place in the output: `F32X4` values four at a
/// time where `post` allows, then `F32` for the rest.
fn concat(fx: &mut Fx, xs: &[Value], sizes: &[usize], y: Value, size: usize, post: &Post) {
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let yr = fx.at(y, b, 4 * size as i64);
        let mut offset = 0;
        for (x, &n) in xs.iter().zip(sizes) {
            let xr = fx.at(*x, b, 4 * n as i64);
            let element = |fx: &mut Fx, e: Value, ty| {
                let at = fx.at(xr, e, 4);
                let v = fx.ld(ty, at, 0);
                let out = fx.b.ins().iadd_imm_s(e, offset as i64);
                let v = post.apply(fx, v, b, out);
                let at = fx.at(yr, out, 4);
                fx.st(v, at, 0);
            };
            let body = if post.vectorizes() { n / 4 * 4 } else { 0 };
            let (lo, mid, hi) = (fx.i(0), fx.i(body as i64), fx.i(n as i64));
            if body > 0 {
                fx.for_range(lo, mid, 4, |fx, e| element(fx, e, F32X4));
            }
            fx.for_range(mid, hi, 1, |fx, e| element(fx, e, F32));
            offset += n;
        }
    });
}

/// The mean of each of the batch's `channels` planes of `per` values, summed
/// from 0 in index order, as the interpreter's `global_avg_pool`.
fn global_avg_pool(fx: &mut Fx, x: Value, y: Value, channels: usize, per: usize) {
    let (zero, batch) = (fx.i(0), fx.batch());
    let planes = fx.b.ins().imul_imm_s(batch, channels as i64);
    fx.for_range(zero, planes, 1, |fx, p| {
        let plane = fx.at(x, p, 4 * per as i64);
        let init = fx.f(0.0);
        let acc = fx.var(F32, init);
        let (lo, hi) = (fx.i(0), fx.i(per as i64));
        fx.for_range(lo, hi, 1, |fx, e| {
            let at = fx.at(plane, e, 4);
            let v = fx.ld(F32, at, 0);
            let cur = fx.b.use_var(acc);
            let new = fx.b.ins().fadd(cur, v);
            fx.b.def_var(acc, new);
        });
        let sum = fx.b.use_var(acc);
        let n = fx.f(per as f32);
        let mean = fx.b.ins().fdiv(sum, n);
        let at = fx.at(y, p, 4);
        fx.st(mean, at, 0);
    });
}

/// The input's preprocessing steps and its noise, in place on raw values,
/// in one pass: the elements are split where a step's constants change
/// (one run per channel for a per-channel normalization).
fn preprocess(fx: &mut Fx, buf: Value, shape: &[usize], steps: &[Step], post: &Post) {
    let len: usize = shape.iter().product();
    let of = |i: usize| step_constants(shape, steps, i);
    let mut lo = 0;
    while lo < len {
        let consts = of(lo);
        let mut hi = lo + 1;
        while hi < len && of(hi) == consts {
            hi += 1;
        }
        per_element(fx, &[buf], buf, len, lo, hi, post.vectorizes(), &|fx, v, b, e| {
            let mut v = v[0];
            // The interpreter's operations, in its order: `v·f` for a scale, `(v − m) / s` for a normalization.
            for (step, (f, m, s)) in
                steps.iter().filter(|s| !matches!(s, Step::Reshape(_) | Step::Flatten)).zip(&consts)
            {
                v = match step {
                    Step::Scale(_) => {
                        let f = fx.like(v, *f);
                        fx.b.ins().fmul(v, f)
                    }
                    _ => {
                        let (m, s) = (fx.like(v, *m), fx.like(v, *s));
                        let t = fx.b.ins().fsub(v, m);
                        fx.b.ins().fdiv(t, s)
                    }
                };
            }
            post.apply(fx, v, b, e)
        });
        lo = hi;
    }
}

/// The constants of element `i` at each scale or normalization step:
/// `(factor, mean, std)` of `v·factor` or `(v − mean) / std`.
fn step_constants(shape: &[usize], steps: &[Step], i: usize) -> Vec<(f32, f32, f32)> {
    let (len, channels) = (shape.iter().product::<usize>(), shape[0]);
    let mut current = shape.to_vec();
    let mut out = vec![];
    for step in steps {
        match step {
            Step::Scale(f) => out.push((*f as f32, 0.0, 1.0)),
            Step::Normalize { mean, std } => {
                let (m, s) = normalization(mean, std, i, len, current[0], channels);
                out.push((1.0, m, s));
            }
            Step::Reshape(d) => current = d.clone(),
            Step::Flatten => current = vec![len],
        }
    }
    out
}

/// Softmax over rows of `n`: `exp(v − max) / Σ`, summed left to right.
fn softmax(fx: &mut Fx, x: Value, y: Value, size: usize, n: usize) {
    let (zero, batch) = (fx.i(0), fx.batch());
    let rows = fx.b.ins().imul_imm_s(batch, (size / n) as i64);
    fx.for_range(zero, rows, 1, |fx, r| {
        let (xr, yr) = (fx.at(x, r, 4 * n as i64), fx.at(y, r, 4 * n as i64));
        let init = fx.f(f32::NEG_INFINITY);
        let m = fx.var(F32, init);
        let (lo, hi) = (fx.i(0), fx.i(n as i64));
        fx.for_range(lo, hi, 1, |fx, i| {
            let at = fx.at(xr, i, 4);
            let v = fx.ld(F32, at, 0);
            let cur = fx.b.use_var(m);
            let new = fx.max(cur, v);
            fx.b.def_var(m, new);
        });
        let zero_f = fx.f(0.0);
        let s = fx.var(F32, zero_f);
        fx.for_range(lo, hi, 1, |fx, i| {
            let (xa, ya) = (fx.at(xr, i, 4), fx.at(yr, i, 4));
            let v = fx.ld(F32, xa, 0);
            let mv = fx.b.use_var(m);
            let d = fx.b.ins().fsub(v, mv);
            let e = fx.call(host::EXPF, &[d])[0];
            fx.st(e, ya, 0);
            let cur = fx.b.use_var(s);
            let new = fx.b.ins().fadd(cur, e);
            fx.b.def_var(s, new);
        });
        fx.for_range(lo, hi, 1, |fx, i| {
            let ya = fx.at(yr, i, 4);
            let e = fx.ld(F32, ya, 0);
            let sv = fx.b.use_var(s);
            let q = fx.b.ins().fdiv(e, sv);
            fx.st(q, ya, 0);
        });
    });
}

/// Max or average pooling of `[c, h, w]` rows; padding never wins a max and
/// counts as zero in an average.
fn pool(fx: &mut Fx, x: Value, y: Value, shape: &[usize], win: Window, max: bool) {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let [oh, ow] = win.out(h, w);
    let Window { kernel, stride, padding } = win;
    let (in_size, out_size) = (c * h * w, c * oh * ow);
    let pad_value = Window::pool_pad(max);
    let (zero, batch) = (fx.i(0), fx.batch());
    fx.for_range(zero, batch, 1, |fx, b| {
        let (xr, yr) = (fx.at(x, b, 4 * in_size as i64), fx.at(y, b, 4 * out_size as i64));
        let (lo, chans) = (fx.i(0), fx.i(c as i64));
        fx.for_range(lo, chans, 1, |fx, ch| {
            let xc = fx.at(xr, ch, 4 * (h * w) as i64);
            let yc = fx.at(yr, ch, 4 * (oh * ow) as i64);
            let ohv = fx.i(oh as i64);
            fx.for_range(lo, ohv, 1, |fx, i| {
                // Outputs `j..j + 4` at once where their windows are loads or
                // even lanes (stride 1 or 2, no padding): each lane folds its
                // own window in the interpreter's order.
                let lanes = if !win.is_padded() && stride[1] <= 2 { ow / 4 * 4 } else { 0 };
                let output = |fx: &mut Fx, j: Value, ty: Type| {
                    let mut acc = fx.fc(ty, pad_value);
                    // Without padding every window is inside: loads at constant offsets from its corner.
                    let corner = (!win.is_padded()).then(|| {
                        let r = fx.b.ins().imul_imm_s(i, (stride[0] * w) as i64);
                        let s = fx.b.ins().imul_imm_s(j, stride[1] as i64);
                        let at = fx.b.ins().iadd(r, s);
                        fx.at(xc, at, 4)
                    });
                    for u in 0..kernel[0] {
                        for v in 0..kernel[1] {
                            let value = match corner {
                                Some(corner) => {
                                    let off = (4 * (u * w + v)) as i64;
                                    match (ty == F32X4, stride[1]) {
                                        (false, _) => fx.ld(F32, corner, off),
                                        (true, 1) => fx.ld(F32X4, corner, off),
                                        // Columns 2j+v, 2j+v+2, …: the even lanes of two loads.
                                        (true, _) => {
                                            let (a, b) = (fx.ld(F32X4, corner, off), fx.ld(F32X4, corner, off + 16));
                                            fx.even_lanes(a, b)
                                        }
                                    }
                                }
                                None => {
                                    let r = fx.b.ins().imul_imm_s(i, stride[0] as i64);
                                    let r = fx.b.ins().iadd_imm_s(r, u as i64 - padding[0][0] as i64);
                                    let s = fx.b.ins().imul_imm_s(j, stride[1] as i64);
                                    let s = fx.b.ins().iadd_imm_s(s, v as i64 - padding[1][0] as i64);
                                    fx.pixel(xc, r, s, h, w, Some(pad_value))
                                }
                            };
                            acc = if max { fx.max(acc, value) } else { fx.b.ins().fadd(acc, value) };
                        }
                    }
                    if !max {
                        let k = fx.fc(ty, win.pool_divisor());
                        acc = fx.b.ins().fdiv(acc, k);
                    }
                    let idx = fx.b.ins().imul_imm_s(i, ow as i64);
                    let idx = fx.b.ins().iadd(idx, j);
                    let at = fx.at(yc, idx, 4);
                    fx.st(acc, at, 0);
                };
                let (body, owv) = (fx.i(lanes as i64), fx.i(ow as i64));
                if lanes > 0 {
                    fx.for_range(lo, body, 4, |fx, j| output(fx, j, F32X4));
                }
                fx.for_range(body, owv, 1, |fx, j| output(fx, j, F32));
            });
        });
    });
}
