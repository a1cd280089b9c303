//! The training forward pass over a batch: every node's value for every
//! sample, as the interpreter defines it, kept on a tape for the backward.
//! A batchnorm that learns normalizes with the batch's statistics (training
//! mode, `backward::batchnorm`); every other node computes what inference
//! computes. On the fast path, MAC layers without effects run as matrix
//! products ([`kernels`](super::kernels)), dense layers with ordered sums on
//! [`ordered`], and other MAC layers and denoise blocks on the caller's
//! compiled code ([`compiled`](super::compiled)), all with the interpreter's bits.

use super::backward::batchnorm::{normalize, Stats};
use super::compiled::LayerCode;
use super::spare::Spare;
use super::{conv_grad, kernels, maxpool, ordered, parallel};
use crate::derived::noise::{repeat, uses_full_scale};
use crate::derived::window::{plane, Window};
use crate::interp::noise::{self, Ctx};
use crate::interp::observe::Observer;
use crate::interp::{ops, preprocess_in_place, weights_vary, Interpreter, Trial};
use crate::ir::hardware::{Accumulate, Format, Multiplier};
use crate::ir::{Graph, Node, NodeId, NodeKind, Op};
use crate::kernels::conv;
use crate::kernels::gemm::pack;
use crate::quant;

/// One training step's forward and backward context.
pub struct Pass<'a, 'g> {
    pub graph: &'g Graph,
    pub interp: &'a Interpreter<'g>,
    /// The step's chip: its static draws (static weight noise, random orders).
    pub chip: &'a Trial,
    /// Per sample of the batch: the key of its dynamic draws.
    pub samples: &'a [u32],
    /// Parts a matrix product's rows are split into (the threads of the
    /// caller's rayon pool, which runs every parallel loop here).
    pub threads: usize,
    /// Matrix products for MAC layers without effects; otherwise the
    /// interpreter's kernels and the reference rules throughout.
    pub fast: bool,
    /// Per node: a batchnorm in training mode (batch statistics).
    pub batch_norm: &'a [bool],
    /// The gradient of an ordered sum.
    pub ordered_grad: OrderedGrad,
    /// Buffers left from earlier steps, for the matrix products' results.
    pub spare: &'a Spare,
    /// Compiled code for MAC layers with effects and denoise blocks, prepared
    /// for this step (on the fast path; the interpreter runs what it does not).
    pub code: Option<&'a dyn LayerCode>,
}

/// The gradient of an ordered, saturating, leaky sum (`docs/language.md` §10).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderedGrad {
    /// Through the running sum as the forward computed it: each step's
    /// saturation mask and the leak of the steps after it.
    Exact,
    /// As if the sum were exact (every product's gradient 1).
    Linear,
}

/// What the forward keeps: every node's values, `[batch][sample]`, the
/// batch statistics of each batchnorm in training mode, the im2col patches
/// of each convolution on the fast path that [`conv_grad`] does not take
/// (with [`kernels::TAIL`] zeros after them, for `dW`), and the signal of
/// each node with weights.
pub struct Tape {
    pub values: Vec<Vec<f32>>,
    pub stats: Vec<Option<Stats>>,
    pub patches: Vec<Option<Vec<f32>>>,
    /// Per max pooling on the fast path: the input each output took
    /// ([`maxpool::maxpool`]).
    pub taken: Vec<Option<Vec<u32>>>,
    /// Per node with weights: the sum over the batch, in sample order, of
    /// each sample's mean square output before the node's output noise (in
    /// f64; with `repeat`, the mean over its repeats).
    pub signal: Vec<Option<f64>>,
}

impl<'a> Pass<'a, '_> {
    /// The draw context of sample `b` of the batch.
    pub fn ctx(&self, b: usize, rep: u32) -> Ctx {
        Ctx { seed: self.chip.seed, trial: self.chip.trial, sample: self.samples[b], rep }
    }

    pub fn batch(&self) -> usize {
        self.samples.len()
    }

    /// The compiled code that runs node `id`, on the fast path.
    pub fn compiled(&self, id: NodeId) -> Option<&'a dyn LayerCode> {
        self.code.filter(|c| self.fast && c.runs(id))
    }

    /// Whether node `id` runs on the matrix-product kernels.
    pub fn is_fast(&self, node: &Node) -> bool {
        self.fast && is_plain_mac(node)
    }
}

/// A MAC layer without effects: FP32 exact sums of exact products of its own
/// weights, one group, evaluated once.
pub fn is_plain_mac(node: &Node) -> bool {
    let NodeKind::Op { op, .. } = &node.kind else { return false };
    let one_group = match op {
        Op::Dense { .. } => true,
        Op::Conv1d { groups, .. } | Op::Conv2d { groups, .. } => *groups == 1,
        _ => false,
    };
    one_group
        && node.hw.format == Format::Fp32
        && node.hw.accumulate == Accumulate::Exact
        && node.hw.multiplier == Multiplier::Exact
        && !weights_vary(node)
        && repeat(node) == 1
}

/// Why a forward stopped: the node, and what went wrong there.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeError {
    pub node: String,
    pub what: String,
}

/// Runs the batch: `inputs[i]` holds the raw values of the graph's `i`-th
/// input, sample after sample. Fails at the first node whose values are not
/// finite, or a batchnorm with a single value per channel.
pub fn forward(pass: &Pass, inputs: &[&[f32]]) -> Result<Tape, NodeError> {
    let g = pass.graph;
    let batch = pass.batch();
    let mut tape = Tape {
        values: Vec::with_capacity(g.nodes.len()),
        stats: vec![None; g.nodes.len()],
        patches: vec![None; g.nodes.len()],
        taken: vec![None; g.nodes.len()],
        signal: vec![None; g.nodes.len()],
    };
    let mut next_input = 0;
    for id in g.ids() {
        let node = g.node(id);
        let size: usize = node.shape.iter().product();
        // The node's values, and the first that is not finite when the tasks
        // that computed them scanned them already.
        let (value, scanned) = match &node.kind {
            NodeKind::Input { steps, shape, .. } if pass.fast && repeat(node) == 1 => {
                let mut x = pass.spare.take(inputs[next_input].len());
                x.copy_from_slice(inputs[next_input]);
                next_input += 1;
                let per = x.len() / batch;
                parallel::chunks_mut(&mut x, per.max(1), |_, xb| preprocess_in_place(xb, shape, steps));
                with_noise(pass, node, x, size, |_| 0.0)
            }
            NodeKind::Input { .. } => {
                let raw = inputs[next_input];
                next_input += 1;
                let per = raw.len() / batch;
                let values = per_sample(pass, |b| {
                    pass.interp.node_value(pass.chip, id, &[], Some(&raw[b * per..][..per]), pass.samples[b])
                });
                (values, None)
            }
            NodeKind::Op { op: Op::BatchNorm { eps }, inputs } if pass.batch_norm[id.index()] => {
                let x = &tape.values[inputs[0].index()];
                let stats = Stats::of_batch(x, &node.shape, *eps)
                    .map_err(|what| NodeError { node: node.name.clone(), what: format!("`{}`: {what}", node.name) })?;
                let p = |r: &str| &node.param(r).expect("checked tensor").data[..];
                let y = normalize(x, &node.shape, &stats, p("weight"), p("bias"));
                tape.stats[id.index()] = Some(stats);
                let (y, signal, found) = with_noise_signal(pass, node, y, size, |_| 0.0);
                tape.signal[id.index()] = Some(signal);
                (y, Some(found))
            }
            NodeKind::Op { op, inputs } if pass.fast && op.is_max_pool() => {
                let x = &tape.values[inputs[0].index()];
                let win = Window::of(op).expect("a pooling window");
                let (y, taken) = maxpool::maxpool(x, &plane(&g.node(inputs[0]).shape), &win, pass.spare);
                tape.taken[id.index()] = Some(taken);
                with_noise(pass, node, y, size, |_| 0.0)
            }
            // Element-wise ops over the whole batch at once, by the interpreter's function.
            NodeKind::Op { op, inputs } if pass.fast && ops::elementwise(op, &[]).is_some() => {
                let x = &tape.values[inputs[0].index()];
                let mut y = pass.spare.take(x.len());
                let found = parallel::chunks_map_mut(&mut y, parallel::PIECE, |i, part| {
                    let at = i * parallel::PIECE;
                    ops::elementwise_into(op, &x[at..at + part.len()], part);
                    kernels::first_non_finite(part).map(|j| at + j)
                });
                let (y, noisy) = with_noise(pass, node, y, size, |_| 0.0);
                (y, noisy.or(Some(found.into_iter().flatten().next())))
            }
            NodeKind::Op { op, inputs } if pass.is_fast(node) => {
                let x = &tape.values[inputs[0].index()];
                let x_plane = plane(&g.node(inputs[0]).shape);
                let window = Window::of(op);
                // Patches for the backward of a convolution whose
                // gradients `conv_grad` does not compute.
                let patches = window
                    .as_ref()
                    .filter(|win| !conv_grad::applies(win))
                    .map(|win| kernels::im2col(x, &x_plane, win, pass.spare));
                let y = match (&window, &patches) {
                    (Some(win), _) if win.stride == [1, 1] => direct_conv(pass, node, x, &x_plane, win),
                    // The patches without the zeros `im2col` leaves after them.
                    (_, Some(p)) => plain_mac(pass, node, &p[..p.len() - kernels::TAIL]),
                    _ => plain_mac(pass, node, x),
                };
                tape.patches[id.index()] = patches;
                mac_output(pass, id, x, y, &mut tape.signal[id.index()])
            }
            // A dense layer's ordered sums, all outputs at once.
            NodeKind::Op { inputs, .. } if pass.fast && ordered::takes(node) => {
                let x = &tape.values[inputs[0].index()];
                let layer = ordered::Layer::of(node, pass.interp.order(pass.chip, id)).expect("a layer it takes");
                let bias = node.param("bias").map(|b| &b.data[..]);
                let k = x.len() / batch;
                let mut y = pass.spare.take(batch * layer.rows());
                parallel::chunks_mut(&mut y, layer.rows(), |b, yb| layer.forward(&x[b * k..][..k], bias, yb));
                mac_output(pass, id, x, y, &mut tape.signal[id.index()])
            }
            // A MAC layer with effects or a denoise block on compiled code, a few samples a task.
            NodeKind::Op { inputs, .. } if pass.compiled(id).is_some() => {
                const SAMPLES: usize = 4;
                let code = pass.compiled(id).expect("the guard's");
                let x = &tape.values[inputs[0].index()];
                let k = x.len() / batch;
                let mut y = pass.spare.take(batch * size);
                parallel::chunks_mut(&mut y, size * SAMPLES, |c, part| {
                    let first = c * SAMPLES;
                    let n = part.len() / size;
                    code.run(id, &x[first * k..][..n * k], &pass.samples[first..][..n], part);
                });
                mac_output(pass, id, x, y, &mut tape.signal[id.index()])
            }
            NodeKind::Op { inputs, .. } => {
                let sizes: Vec<usize> = inputs.iter().map(|i| g.node(*i).shape.iter().product()).collect();
                let operands = |b: usize| -> Vec<&[f32]> {
                    inputs.iter().zip(&sizes).map(|(i, s)| &tape.values[i.index()][b * s..(b + 1) * s]).collect()
                };
                let values = if node.params.is_empty() {
                    per_sample(pass, |b| pass.interp.node_value(pass.chip, id, &operands(b), None, pass.samples[b]))
                } else {
                    let (values, signals): (Vec<Vec<f32>>, Vec<f64>) = parallel::map(batch, |b| {
                        let mut obs = Signal { id, squares: 0.0, count: 0 };
                        let y = pass.interp.node_value_observed(
                            pass.chip,
                            id,
                            &operands(b),
                            None,
                            pass.samples[b],
                            &mut obs,
                        );
                        (y, obs.squares / obs.count.max(1) as f64)
                    })
                    .into_iter()
                    .unzip();
                    tape.signal[id.index()] = Some(signals.iter().sum());
                    values.concat()
                };
                (values, None)
            }
        };
        let found = scanned.unwrap_or_else(|| kernels::first_non_finite_of(&[&value]).map(|(_, at)| at));
        if let Some(at) = found {
            let what = format!(
                "`{}` computed {} for sample {} (element {})",
                node.name,
                value[at],
                pass.samples[at / size.max(1)],
                at % size.max(1)
            );
            return Err(NodeError { node: node.name.clone(), what });
        }
        tape.values.push(value);
    }
    Ok(tape)
}

/// Sums the squares of one node's outputs before its output noise.
struct Signal {
    id: NodeId,
    squares: f64,
    count: usize,
}

impl Observer for Signal {
    fn wants_operands(&self) -> bool {
        false
    }

    fn clean(&mut self, id: NodeId, y: &[f32]) {
        if id == self.id {
            self.squares += sum_squares(y);
            self.count += y.len();
        }
    }
}

/// `Σ v²` in f64, in 8 partial sums (value `i` into sum `i mod 8`, each in
/// order from 0) then added pairwise: `((s0 + s1) + (s2 + s3)) +
/// ((s4 + s5) + (s6 + s7))`. A single chain of dependent additions, 4
/// cycles each, cost more than the rest of a layer's noise pass.
pub fn sum_squares(y: &[f32]) -> f64 {
    let mut s = [0.0f64; 8];
    let whole = y.chunks_exact(8);
    let rest = whole.remainder();
    for c in whole {
        for (s, v) in s.iter_mut().zip(c) {
            *s += f64::from(*v) * f64::from(*v);
        }
    }
    for (s, v) in s.iter_mut().zip(rest) {
        *s += f64::from(*v) * f64::from(*v);
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// `f(b)` for every sample of the batch, concatenated.
fn per_sample(pass: &Pass, f: impl Fn(usize) -> Vec<f32> + Sync + Send) -> Vec<f32> {
    parallel::map(pass.batch(), f).concat()
}

/// A MAC layer's clean outputs `y` for the batch of inputs `x`, with its
/// output noise (σ in `fs` of each sample's `max|x|·max|w|`, as the
/// interpreter's `mac`); its signal goes to `signal`. Returns what the
/// forward's arms return: the values, and the first that is not finite.
fn mac_output(
    pass: &Pass,
    id: NodeId,
    x: &[f32],
    y: Vec<f32>,
    signal: &mut Option<f64>,
) -> (Vec<f32>, Option<Option<usize>>) {
    let node = pass.graph.node(id);
    let w_max = pass.interp.weight_max(id);
    let k = x.len() / pass.batch();
    let full_scale = |b: usize| quant::max_abs(&x[b * k..(b + 1) * k]) * w_max;
    let size = node.shape.iter().product();
    let (y, s, found) = with_noise_signal(pass, node, y, size, full_scale);
    *signal = Some(s);
    (y, Some(found))
}

/// A batch of a node's clean outputs with its output noise, as the
/// interpreter adds it (`full_scale(b)`: sample `b`'s full scale for σ in `fs`);
/// with noise, also the first value that is not finite (see [`with_noise_signal`]).
fn with_noise(
    pass: &Pass,
    node: &Node,
    y: Vec<f32>,
    size: usize,
    full_scale: impl Fn(usize) -> f32 + Sync,
) -> (Vec<f32>, Option<Option<usize>>) {
    match node.hw.noise {
        Some(_) => {
            let (y, _, found) = with_noise_signal(pass, node, y, size, full_scale);
            (y, Some(found))
        }
        None => (y, None),
    }
}

/// [`with_noise`], the clean outputs' signal (the sum over the batch, in
/// sample order, of each sample's mean square, in f64) and the first of the
/// noisy outputs that is not finite: each sample's squares summed, its noise
/// added and its values scanned by one task, while they are in cache.
fn with_noise_signal(
    pass: &Pass,
    node: &Node,
    mut y: Vec<f32>,
    size: usize,
    full_scale: impl Fn(usize) -> f32 + Sync,
) -> (Vec<f32>, f64, Option<usize>) {
    let reps = repeat(node);
    let size = size.max(1);
    let samples = parallel::chunks_map_mut(&mut y, size, |b, yb| {
        let square = sum_squares(yb) / size as f64;
        if let Some(site) = &node.hw.noise {
            let fs = if uses_full_scale(site) { full_scale(b) } else { 0.0 };
            if reps <= 1 {
                noise::apply(site, yb, pass.ctx(b, 0), fs);
            } else {
                let mut sum = vec![0.0f64; yb.len()];
                for rep in 0..reps {
                    let mut v = yb.to_vec();
                    noise::apply(site, &mut v, pass.ctx(b, rep), fs);
                    sum.iter_mut().zip(v).for_each(|(s, v)| *s += v as f64);
                }
                yb.iter_mut().zip(sum).for_each(|(y, s)| *y = (s / reps as f64) as f32);
            }
        }
        (square, kernels::first_non_finite(yb).map(|j| b * size + j))
    });
    let signal = samples.iter().map(|(square, _)| square).sum();
    let found = samples.iter().find_map(|(_, bad)| *bad);
    (y, signal, found)
}

/// A plain convolution of stride 1 on the direct kernel (`kernels::conv`: the
/// interpreter's sums, no im2col), `[batch][rows, positions]`, sample by sample.
fn direct_conv(pass: &Pass, node: &Node, x: &[f32], x_plane: &[usize], win: &Window) -> Vec<f32> {
    let w = node.param("weight").expect("checked: a MAC layer has weights");
    let bias = node.param("bias").map(|b| &b.data[..]);
    let shape = conv::Shape::of(x_plane, win, w.shape[0]);
    let packed = pack(&w.data, shape.cols);
    let size = x.len() / pass.batch();
    let [oh, ow] = shape.out();
    let out = shape.cols * oh * ow;
    let mut y = pass.spare.take(pass.batch() * out);
    // Tasks of `SAMPLES` samples, each with its own scratch plane and tile.
    const SAMPLES: usize = 4;
    parallel::chunks_mut(&mut y, out.max(1) * SAMPLES, |c, part| {
        let (mut plane, mut tile) = (vec![0.0f32; shape.plane_len()], vec![0.0f32; shape.tile_len()]);
        for (i, yb) in part.chunks_mut(out.max(1)).enumerate() {
            let b = c * SAMPLES + i;
            conv::conv_into(&x[b * size..][..size], &shape, &packed, (&mut plane, &mut tile), yb);
            if let Some(bias) = bias {
                yb.chunks_mut(oh * ow).zip(bias).for_each(|(row, b)| row.iter_mut().for_each(|v| *v += b));
            }
        }
    });
    y
}

/// A plain MAC layer on the matrix-product kernels, `[batch][rows, positions]`,
/// from its patches (`[batch][positions][k]`; a dense layer's input).
fn plain_mac(pass: &Pass, node: &Node, patches: &[f32]) -> Vec<f32> {
    let w = node.param("weight").expect("checked: a MAC layer has weights");
    let bias = node.param("bias").map(|b| &b.data[..]);
    let rows = w.shape[0];
    let k = w.len() / rows;
    let positions = patches.len() / k / pass.batch();
    let y = kernels::forward(&w.data, rows, patches, k, bias, pass.threads, pass.spare);
    // `[batch][positions][rows]` to `[batch][rows][positions]`.
    let t = kernels::transpose_blocks(&y, positions, rows, pass.spare);
    pass.spare.give([y]);
    t
}
