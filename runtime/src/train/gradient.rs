//! The backward pass over the graph: from the loss's gradient at the loss
//! node back through every node whose output's gradient is needed, each by
//! its op's rule (`backward`) after its output noise's rule (`docs/language.md`
//! §10). Gradients of a node read by several nodes are summed in the order
//! the readers come in the graph, last first.

use super::backward::batchnorm::{backward_eval, backward_train, Stats};
use super::backward::denoise::{denoise, Denoise};
use super::backward::elementwise;
use super::backward::mac::{self, Conv2d};
use super::backward::pool::{self, Pool2d};
use super::forward::{Pass, Tape};
use super::{conv_grad, kernels, mac_grad, maxpool, ordered, parallel};
use crate::derived::noise::repeat;
use crate::derived::window::{plane, Window};
use crate::interp::{noise, ops, weights_redrawn};
use crate::ir::{Graph, NodeId, NodeKind, Op};
use crate::kernels::conv;
use std::sync::OnceLock;

/// Per node, per tensor (in `Node::params` order): the loss's gradient,
/// for the tensors that learn.
pub type ParamGrads = Vec<Vec<Option<Vec<f32>>>>;

/// The gradients of the learning tensors (`learns[node]`: its learnable
/// tensors learn) for the loss gradient `dloss` at node `at`, `[batch][size]`.
pub fn backward(pass: &Pass, tape: &Tape, learns: &[bool], need: &[bool], at: NodeId, dloss: Vec<f32>) -> ParamGrads {
    let g = pass.graph;
    let mut dys: Vec<Option<Vec<f32>>> = vec![None; g.nodes.len()];
    let mut grads: ParamGrads = g.nodes.iter().map(|n| vec![None; n.params.len()]).collect();
    dys[at.index()] = Some(dloss);
    for id in (0..g.nodes.len() as u32).rev().map(NodeId) {
        let Some(dy) = dys[id.index()].take() else { continue };
        let node = g.node(id);
        let NodeKind::Op { op, inputs } = &node.kind else { continue };
        let reps = repeat(node);
        let size: usize = node.shape.iter().product();
        let want: Vec<bool> = inputs.iter().map(|i| need[i.index()]).collect();
        let mut dy = Some(dy);
        for rep in 0..reps {
            let mut dy_rep =
                if rep + 1 == reps { dy.take().expect("the last repetition") } else { dy.clone().expect("a gradient") };
            if let Some(site) = &node.hw.noise {
                parallel::chunks_mut(&mut dy_rep, size.max(1), |b, d| noise::backward(site, d, pass.ctx(b, rep)));
            }
            if reps > 1 {
                dy_rep.iter_mut().for_each(|d| *d /= reps as f32);
            }
            let (dxs, dps) = op_backward(pass, tape, g, id, op, inputs, &dy_rep, rep, &want, learns[id.index()]);
            for ((input, dx), w) in inputs.iter().zip(dxs).zip(&want) {
                let Some(dx) = dx.filter(|_| *w) else { continue };
                add_into(&mut dys[input.index()], dx);
            }
            for (slot, dp) in grads[id.index()].iter_mut().zip(dps) {
                if let Some(dp) = dp {
                    add_into(slot, dp);
                }
            }
            pass.spare.give([dy_rep]);
        }
    }
    grads
}

fn add_into(slot: &mut Option<Vec<f32>>, v: Vec<f32>) {
    match slot {
        Some(s) => s.iter_mut().zip(v).for_each(|(s, v)| *s += v),
        None => *slot = Some(v),
    }
}

type Backward = (Vec<Option<Vec<f32>>>, Vec<Option<Vec<f32>>>);

/// One op's rule on the batch: the gradients of its inputs and of its tensors.
#[allow(clippy::too_many_arguments)]
fn op_backward(
    pass: &Pass,
    tape: &Tape,
    g: &Graph,
    id: NodeId,
    op: &Op,
    inputs: &[NodeId],
    dy: &[f32],
    rep: u32,
    want: &[bool],
    learns: bool,
) -> Backward {
    let node = g.node(id);
    let x = &tape.values[inputs[0].index()];
    let x_shape = &g.node(inputs[0]).shape;
    let batch = pass.batch();
    let param = |role: &str| &node.param(role).expect("checked tensor").data[..];
    // The tensors' gradients in `params` order, from (role, gradient) pairs.
    let by_role = |pairs: Vec<(&str, Vec<f32>)>| -> Vec<Option<Vec<f32>>> {
        let mut pairs = pairs;
        node.params
            .iter()
            .map(|p| {
                let at = pairs.iter().position(|(r, _)| *r == p.role)?;
                learns.then(|| pairs.swap_remove(at).1)
            })
            .collect()
    };
    let none = || vec![None; node.params.len()];
    match op {
        Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } => {
            let patches = tape.patches[id.index()].as_deref();
            let (dx, dw, db) = mac_backward(pass, id, op, (x, patches), x_shape, dy, rep, want[0]);
            (vec![dx], by_role(vec![("weight", dw), ("bias", db)]))
        }
        Op::Flatten => (vec![Some(elementwise::flatten(dy))], none()),
        Op::Relu => {
            let mut dx = pass.spare.take(x.len());
            parallel::pieces_mut(&mut dx, |at, part| elementwise::relu_into(&x[at.clone()], &dy[at], part));
            (vec![Some(dx)], none())
        }
        Op::LeakyRelu { slope } => (vec![Some(elementwise::leaky_relu(x, *slope as f32, dy))], none()),
        Op::Clip { min, max } => (vec![Some(elementwise::clip(x, *min as f32, *max as f32, dy))], none()),
        Op::HardSigmoid { alpha, beta } => {
            (vec![Some(elementwise::hard_sigmoid(x, *alpha as f32, *beta as f32, dy))], none())
        }
        Op::HardSwish => (vec![Some(elementwise::hard_swish(x, dy))], none()),
        Op::GlobalAvgPool => {
            let per_channel = x_shape[1..].iter().product();
            (vec![Some(pool::globalavgpool(per_channel, dy))], none())
        }
        Op::Concat => {
            let sizes: Vec<usize> = inputs.iter().map(|i| g.node(*i).shape.iter().product()).collect();
            (elementwise::concat(&sizes, dy).into_iter().map(Some).collect(), none())
        }
        Op::Sigmoid => {
            let y: Vec<f32> = x.iter().map(|v| ops::sigmoid(*v)).collect();
            (vec![Some(elementwise::sigmoid(&y, dy))], none())
        }
        Op::Tanh => {
            let y: Vec<f32> = x.iter().map(|v| v.tanh()).collect();
            (vec![Some(elementwise::tanh(&y, dy))], none())
        }
        Op::Softmax => {
            let size: usize = x_shape.iter().product();
            let y: Vec<f32> = x.chunks(size).flat_map(|xb| ops::softmax(xb, x_shape)).collect();
            (vec![Some(elementwise::softmax(&y, dy, *x_shape.last().expect("a shape")))], none())
        }
        Op::Add => {
            let (a, b) = elementwise::add(dy);
            (vec![Some(a), Some(b)], none())
        }
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. } => {
            let w = Window::of(op).expect("a pooling window");
            let x_shape = plane(x_shape);
            let p = Pool2d {
                channels: x_shape[0],
                height: x_shape[1],
                width: x_shape[2],
                kernel: w.kernel,
                stride: w.stride,
                padding: w.padding,
            };
            let dx = if !op.is_max_pool() {
                pool::avgpool2d(&p, batch, dy)
            } else if let Some(taken) = &tape.taken[id.index()] {
                maxpool::maxpool_grad(taken, batch, x.len() / batch.max(1), dy, pass.spare)
            } else {
                pool::maxpool2d(&p, batch, x, dy)
            };
            (vec![Some(dx)], none())
        }
        Op::BatchNorm { eps } => {
            let r = match &tape.stats[id.index()] {
                Some(stats) => backward_train(x, x_shape, param("weight"), stats, dy),
                None => {
                    let stats = Stats::frozen(param("running_mean"), param("running_var"), *eps);
                    backward_eval(x, x_shape, param("weight"), &stats, dy)
                }
            };
            (vec![Some(r.dx)], by_role(vec![("weight", r.dgamma), ("bias", r.dbeta)]))
        }
        Op::Denoise { hidden, kernel } => {
            let block = Denoise { shape: x_shape, hidden: *hidden, kernel: *kernel };
            let size: usize = x_shape.iter().product();
            let a: Vec<f32> = parallel::map(batch, |b| {
                let xb = &x[b * size..(b + 1) * size];
                let h = if x_shape.len() == 1 {
                    ops::dense(xb, param("down.weight"), Some(param("down.bias")))
                } else {
                    ops::conv(xb, x_shape, param("down.weight"), *hidden, *kernel, param("down.bias"))
                };
                h.into_iter().map(ops::relu).collect::<Vec<f32>>()
            })
            .concat();
            let r = denoise(&block, x, &a, param("down.weight"), param("up.weight"), dy);
            let grads = vec![
                ("down.weight", r.down_weight),
                ("down.bias", r.down_bias),
                ("up.weight", r.up_weight),
                ("up.bias", r.up_bias),
            ];
            (vec![Some(r.dx)], by_role(grads))
        }
    }
}

/// A MAC layer's `(dx, dW, db)` on the batch: the matrix-product kernels on
/// the fast path for a layer without effects, the reference rules
/// (`backward::mac`) for one on the reference path, and the effects' rule
/// ([`mac_grad`]) sample by sample otherwise.
#[allow(clippy::too_many_arguments)]
fn mac_backward(
    pass: &Pass,
    id: NodeId,
    op: &Op,
    (x, patches): (&[f32], Option<&[f32]>),
    x_shape: &[usize],
    dy: &[f32],
    rep: u32,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let node = pass.graph.node(id);
    let w = node.param("weight").expect("checked: a MAC layer has weights");
    let rows = w.shape[0];
    let batch = pass.batch();
    let positions = dy.len() / batch / rows;
    // Each `db[o]` summed in sample, then position order; 8 outputs' sums
    // at a time, whose additions overlap (one output's sum at a time waited
    // on each addition in turn).
    let mut db = vec![0.0f32; rows];
    for dyb in dy.chunks(rows * positions) {
        if positions == 1 {
            db.iter_mut().zip(dyb).for_each(|(s, d)| *s += d);
            continue;
        }
        for (sums, runs) in db.chunks_mut(8).zip(dyb.chunks(8 * positions)) {
            let mut s = [0.0f32; 8];
            s[..sums.len()].copy_from_slice(sums);
            let run = |i: usize| &runs[(i.min(sums.len() - 1)) * positions..][..positions];
            let runs: [&[f32]; 8] = std::array::from_fn(run);
            for p in 0..positions {
                for (s, run) in s.iter_mut().zip(&runs) {
                    *s += run[p];
                }
            }
            sums.copy_from_slice(&s[..sums.len()]);
        }
    }
    if pass.is_fast(node) {
        if let Some(win) = Window::of(op).filter(conv_grad::applies) {
            let s = conv::Shape::of(&plane(x_shape), &win, rows);
            let dw = conv_grad::weight_grad(&s, x, dy, pass.spare);
            let dx = want_dx.then(|| conv_grad::input_grad(&s, &w.data, dy, pass.spare));
            return (dx, dw, db);
        }
        let k = w.len() / rows;
        let dyt = kernels::channels_first(dy, batch, rows, positions, pass.spare);
        let dw = kernels::weight_grad(&dyt, rows, patches.unwrap_or(x), k, pass.threads, pass.spare);
        pass.spare.give([dyt]);
        let dx = want_dx.then(|| {
            // `[batch][rows][positions]` to `[batch][positions][rows]`.
            let dy_rows = kernels::transpose_blocks(dy, rows, positions, pass.spare);
            let dp = kernels::input_grad(&dy_rows, rows, &w.data, k, pass.threads, pass.spare);
            pass.spare.give([dy_rows]);
            match (op, Window::of(op)) {
                (Op::Conv1d { .. } | Op::Conv2d { .. }, Some(win)) => kernels::col2im(&dp, &plane(x_shape), &win),
                _ => dp,
            }
        });
        return (dx, dw, db);
    }
    if !pass.fast && super::forward::is_plain_mac(node) {
        let r = match (op, Window::of(op)) {
            (Op::Conv1d { out, groups, .. } | Op::Conv2d { out, groups, .. }, Some(win)) => {
                let x_shape = plane(x_shape);
                let conv = Conv2d {
                    channels: x_shape[0],
                    height: x_shape[1],
                    width: x_shape[2],
                    out: *out,
                    kernel: win.kernel,
                    stride: win.stride,
                    padding: win.padding,
                    groups: *groups,
                };
                mac::conv2d(&conv, batch, x, &w.data, dy)
            }
            _ => mac::dense(batch, x, &w.data, dy),
        };
        return (want_dx.then_some(r.dx), r.dw, db);
    }
    let size = x.len() / batch;
    let per_out = dy.len() / batch;
    // Sample `b`'s input and output gradient.
    let of = |b: usize| (&x[b * size..(b + 1) * size], &dy[b * per_out..(b + 1) * per_out]);
    if pass.fast {
        if let Some(layer) = ordered::Layer::of(node, pass.interp.order(pass.chip, id)) {
            let (dx, dw) = sample_by_sample(batch, w.len(), want_dx, |b| {
                let (xb, dyb) = of(b);
                layer.sample(xb, dyb, want_dx, pass.ordered_grad)
            });
            return (dx, dw, db);
        }
    }
    if mac_grad::by_rows(node, want_dx) {
        let (dx, dw) = mac_grad::dense_by_rows(pass, id, op, x, x_shape, dy, rep, want_dx);
        return (dx, dw, db);
    }
    // The weights' operands, computed once for the batch unless redrawn per inference.
    let weight_operands = OnceLock::new();
    let shared = (!weights_redrawn(node)).then_some(&weight_operands);
    let (dx, dw) = sample_by_sample(batch, w.len(), want_dx, |b| {
        let (xb, dyb) = of(b);
        mac_grad::sample(pass, id, op, xb, x_shape, dyb, b, rep, want_dx, shared)
    });
    (dx, dw, db)
}

/// A MAC layer's `(dx, dW)` from each sample's gradients (`sample(b)`):
/// samples in groups computed in parallel, their weight gradients (`w_len`
/// values each) added in sample order, their input gradients concatenated.
/// At most a group's per-sample gradients are held at once.
fn sample_by_sample(
    batch: usize,
    w_len: usize,
    want_dx: bool,
    sample: impl Fn(usize) -> mac_grad::SampleGrads + Sync + Send,
) -> (Option<Vec<f32>>, Vec<f32>) {
    const GROUP: usize = 8;
    let mut dw = vec![0.0f32; w_len];
    let mut dx: Option<Vec<f32>> = want_dx.then(Vec::new);
    for first in (0..batch).step_by(GROUP) {
        for s in parallel::map(GROUP.min(batch - first), |i| sample(first + i)) {
            dw.iter_mut().zip(&s.dw).for_each(|(a, b)| *a += b);
            if let (Some(dx), Some(sdx)) = (&mut dx, s.dx) {
                dx.extend(sdx);
            }
        }
    }
    (dx, dw)
}
