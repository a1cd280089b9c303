//! The training engine's gradients through whole graphs with hardware
//! effects, against central finite differences of the engine's own loss.
//!
//! Each case is a small network `input[8] → dense(6) with the effect → relu →
//! dense(3)` (or a variant) with random weights; the loss is the batch's
//! cross-entropy. The forward is the interpreter's, in f32, so the
//! differences use a step of `h = 1e−3`, on effects that are piecewise
//! linear (sums, clamps, ordered sums) or smooth: every draw is keyed by the
//! step, so the noisy loss is a fixed function of the weights. The bound:
//!
//! ```text
//! |analytic − numeric| ≤ 2e−2 · max|numeric| + 1e−3      for every weight
//! ```
//!
//! Effects whose derivative does not exist (quantizers, approximate
//! multipliers) are checked against their stated rule: the straight-through
//! gradient equals the FP32 gradient at the dequantized operands.

use analog_runtime::interp::load_tables;
use analog_runtime::ir::hardware::{
    Accumulate, Draw, Format, MixOrder, Noise, NoiseKind, Order, Phase, Sigma, SigmaUnit, WeightScale,
};
use analog_runtime::ir::{Dtype, Graph, Node, NodeHardware, NodeId, NodeKind, NoiseSite, Op, Param};
use analog_runtime::rng;
use analog_runtime::tensor::Tensor;
use analog_runtime::train::forward::OrderedGrad;
use analog_runtime::train::network::training_graph;
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;
use analog_runtime::train::trainer::{Chip, Setup, Trainer};

const H: f32 = 1e-3;
const BATCH: usize = 4;

fn values(n: usize, case: u32, scale: f32) -> Vec<f32> {
    (0..n).map(|e| scale * (2.0 * rng::uniform(77, 0, 0, case, e as u32) - 1.0)).collect()
}

fn node(uid: u32, name: &str, kind: NodeKind, shape: Vec<usize>) -> Node {
    Node { uid, name: name.into(), kind, shape, hw: NodeHardware::default(), params: vec![], prepared: None }
}

fn param(role: &str, layer: &str, shape: Vec<usize>, data: Vec<f32>) -> Param {
    Param { role: role.into(), name: format!("{layer}.{role}"), value: Tensor::new(shape, data) }
}

/// `x[8] → fc1 = dense(6) (hw) → relu → fc2 = dense(3)`.
fn mlp(hw: NodeHardware) -> Graph {
    mlp_of(hw, 6)
}

/// [`mlp`] with `hidden` outputs in `fc1`.
fn mlp_of(hw: NodeHardware, hidden: usize) -> Graph {
    let h = hidden;
    let mut fc1 = node(1, "fc1", NodeKind::Op { op: Op::Dense { out: h }, inputs: vec![NodeId(0)] }, vec![h]);
    fc1.params = vec![
        param("weight", "fc1", vec![h, 8], values(8 * h, 1, 0.6)),
        param("bias", "fc1", vec![h], values(h, 2, 0.1)),
    ];
    fc1.hw = hw;
    let mut fc2 = node(3, "fc2", NodeKind::Op { op: Op::Dense { out: 3 }, inputs: vec![NodeId(2)] }, vec![3]);
    fc2.params = vec![
        param("weight", "fc2", vec![3, h], values(3 * h, 3, 0.6)),
        param("bias", "fc2", vec![3], values(3, 4, 0.1)),
    ];
    let nodes = vec![
        node(0, "x", NodeKind::Input { dtype: Dtype::F32, shape: vec![8], steps: vec![] }, vec![8]),
        fc1,
        node(2, "h", NodeKind::Op { op: Op::Relu, inputs: vec![NodeId(1)] }, vec![h]),
        fc2,
    ];
    Graph { name: "mlp".into(), nodes, outputs: vec![("y".into(), NodeId(3))] }
}

fn trainer(g: &Graph, fast: bool, ordered_grad: OrderedGrad) -> Trainer {
    let g = training_graph(g);
    let learns = g.nodes.iter().map(|n| !n.params.is_empty()).collect();
    let tables = load_tables(&g, |_| Err(std::io::Error::other("no tables"))).expect("closed-form tables");
    let setup = Setup {
        optimizer: Optimizer::SGD,
        lr: 0.1,
        schedule: Schedule::Constant,
        total_steps: 1,
        clip: None,
        seed: 5,
        threads: 2,
        fast,
        ordered_grad,
        chip: Chip::Fresh,
    };
    Trainer::new(g, learns, tables, setup).expect("a graph the interpreter runs")
}

fn batch() -> (Vec<f32>, Vec<u32>, Vec<u32>) {
    (values(8 * BATCH, 9, 1.0), vec![0, 2, 1, 2], vec![3, 1, 4, 1])
}

/// Checks every weight's gradient against central differences of the loss.
fn gradcheck(what: &str, g: &Graph, ordered_grad: OrderedGrad) {
    let (x, labels, samples) = batch();
    let mut t = trainer(g, true, ordered_grad);
    let grads = t.gradients(&[&x], &labels, &samples).expect("finite").params;
    for (n, node_grads) in grads.iter().enumerate() {
        for (p, grad) in node_grads.iter().enumerate() {
            let Some(grad) = grad else { continue };
            let mut numeric = vec![];
            for e in 0..grad.len() {
                let mut at = |delta: f32| {
                    let v = &mut t.graph_mut().nodes[n].params[p].value.data[e];
                    let old = *v;
                    *v = old + delta;
                    let l = t.loss(&[&x], &labels, &samples).expect("finite");
                    t.graph_mut().nodes[n].params[p].value.data[e] = old;
                    l
                };
                numeric.push((at(H) - at(-H)) / (2.0 * H as f64));
            }
            let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (e, (a, num)) in grad.iter().zip(&numeric).enumerate() {
                assert!(
                    (*a as f64 - num).abs() <= 2e-2 * scale + 1e-3,
                    "{what}: node {n} tensor {p} element {e}: analytic {a}, numeric {num}"
                );
            }
        }
    }
}

fn noise(kind: NoiseKind, draw: Draw) -> Option<NoiseSite> {
    Some(NoiseSite { site: 1, noise: Noise { kind, draw, repeat: 1, during: Phase::Both } })
}

fn abs(v: f64) -> Sigma {
    Sigma { value: v, unit: SigmaUnit::Abs }
}

#[test]
fn fp32_matches_finite_differences() {
    gradcheck("fp32", &mlp(NodeHardware::default()), OrderedGrad::Exact);
}

#[test]
fn output_noise_matches_finite_differences() {
    let cases = [
        ("additive", NoiseKind::Additive { sigma: abs(0.3) }),
        ("multiplicative", NoiseKind::Multiplicative { sigma: 0.3 }),
        ("mixed", NoiseKind::Mixed { add: abs(0.2), mul: 0.3, order: MixOrder::AddFirst }),
    ];
    for (what, kind) in cases {
        for draw in [Draw::Dynamic, Draw::Static] {
            gradcheck(
                what,
                &mlp(NodeHardware { noise: noise(kind.clone(), draw), ..NodeHardware::default() }),
                OrderedGrad::Exact,
            );
        }
    }
}

#[test]
fn additive_weight_noise_matches_finite_differences() {
    for draw in [Draw::Dynamic, Draw::Static] {
        let hw = NodeHardware {
            weight_noise: noise(NoiseKind::Additive { sigma: abs(0.1) }, draw),
            ..NodeHardware::default()
        };
        gradcheck("weight noise", &mlp(hw), OrderedGrad::Exact);
    }
}

#[test]
fn clamped_and_ordered_sums_match_finite_differences() {
    let clamp = Accumulate::Clamp { lo: -0.8, hi: 0.8 };
    gradcheck("clamp", &mlp(NodeHardware { accumulate: clamp, ..NodeHardware::default() }), OrderedGrad::Exact);
    // Data-dependent orders (ascending, positive_first…) are held fixed by the
    // rule; differences cross their reorderings, where the sum jumps.
    for order in [Order::Natural, Order::Reversed, Order::Random] {
        let acc = Accumulate::Ordered { order, lo: -0.5, hi: 0.5, leak: 0.9 };
        gradcheck(order.name(), &mlp(NodeHardware { accumulate: acc, ..NodeHardware::default() }), OrderedGrad::Exact);
    }
}

/// The linear shortcut differs from the exact gradient when sums saturate,
/// and equals the gradient of the same layer without saturation or leak.
#[test]
fn the_linear_shortcut_is_the_exact_sums_gradient() {
    let (x, labels, samples) = batch();
    let ordered = mlp(NodeHardware {
        accumulate: Accumulate::Ordered { order: Order::Natural, lo: -0.5, hi: 0.5, leak: 0.9 },
        ..NodeHardware::default()
    });
    let exact = trainer(&ordered, true, OrderedGrad::Exact).gradients(&[&x], &labels, &samples).expect("finite");
    let linear = trainer(&ordered, true, OrderedGrad::Linear).gradients(&[&x], &labels, &samples).expect("finite");
    assert_ne!(exact.params[1][0], linear.params[1][0], "saturation changes the exact gradient");
    assert_eq!(exact.loss, linear.loss, "the forward is the same");
}

/// Int8 is straight-through: its gradients are those of FP32 at the
/// dequantized weights and inputs (inputs inside the clipping range).
#[test]
fn int8_is_straight_through() {
    let int8 = Format::Int8 { signed: true, weight_scale: WeightScale::PerTensor, input_range: [-1.0, 1.0] };
    let g = mlp(NodeHardware { format: int8.clone(), ..NodeHardware::default() });
    let (x, labels, samples) = batch();
    let q = analog_runtime::quant::prepare(&int8, g.node(NodeId(1)).param("weight").expect("weights")).expect("int8");
    let analog_runtime::quant::Prepared::Int8 { codes, scales, .. } = q else { panic!("int8 codes") };
    let input = analog_runtime::derived::format::Int8Input::of(&int8).expect("int8 input");
    let xq: Vec<f32> = x.iter().map(|v| input.code(*v) as f32 * input.scale).collect();
    let mut fp = mlp(NodeHardware::default());
    fp.nodes[1].params[0].value.data = codes.iter().map(|c| *c as f32 * scales[0]).collect();
    let a = trainer(&g, true, OrderedGrad::Exact).gradients(&[&x], &labels, &samples).expect("finite");
    let b = trainer(&fp, true, OrderedGrad::Exact).gradients(&[&xq], &labels, &samples).expect("finite");
    for (ga, gb) in a.params.iter().flatten().zip(b.params.iter().flatten()) {
        let (Some(ga), Some(gb)) = (ga, gb) else { continue };
        for (u, v) in ga.iter().zip(gb) {
            assert!((u - v).abs() <= 1e-4 * (1.0 + v.abs()), "int8 {u} vs fp32 at the dequantized operands {v}");
        }
    }
}

/// The fast path (matrix products) and the reference rules agree.
#[test]
fn fast_path_equals_the_reference() {
    let g = mlp(NodeHardware {
        noise: noise(NoiseKind::Additive { sigma: abs(0.2) }, Draw::Dynamic),
        ..NodeHardware::default()
    });
    let (x, labels, samples) = batch();
    let fast = trainer(&g, true, OrderedGrad::Exact).gradients(&[&x], &labels, &samples).expect("finite");
    let reference = trainer(&g, false, OrderedGrad::Exact).gradients(&[&x], &labels, &samples).expect("finite");
    assert_eq!(fast, reference);
}

/// A value that is not finite stops the pass at its node, naming the sample
/// and element where it first appears, on both paths, with and without the
/// node's noise (whose task scans the noisy values).
#[test]
fn a_value_that_is_not_finite_is_reported_where_it_first_appears() {
    let (x, labels, samples) = batch();
    for site in [None, noise(NoiseKind::Additive { sigma: abs(0.1) }, Draw::Dynamic)] {
        let g = mlp(NodeHardware { noise: site.clone(), ..NodeHardware::default() });
        for fast in [true, false] {
            let mut t = trainer(&g, fast, OrderedGrad::Exact);
            t.graph_mut().nodes[1].params[1].value.data[4] = f32::INFINITY;
            let err = t.gradients(&[&x], &labels, &samples).expect_err("an infinite bias");
            assert_eq!(err.node, "fc1", "fast {fast}, noise {}", site.is_some());
            assert!(err.what.contains("computed inf for sample 3 (element 4)"), "{}", err.what);
        }
    }
}

/// Ordered sums on the fast path (all outputs' sums at once,
/// `train::ordered`) are the reference rules' bits: outputs, losses,
/// signals and gradients, exact and linear, in every order fixed before the
/// data, with rails tight enough that sums saturate, with and without a bias
/// and output noise.
#[test]
fn fast_ordered_sums_equal_the_reference() {
    let (x, labels, samples) = batch();
    for order in [Order::Natural, Order::Reversed, Order::Random] {
        // 6 outputs, fewer than a vector's lanes; 37, vectors and a remainder.
        for (lo, hi, leak, hidden) in [(-0.5, 0.5, 0.9, 6), (-0.3, 0.2, 1.0, 37), (-4.0, 4.0, 0.998, 37)] {
            let acc = Accumulate::Ordered { order, lo, hi, leak };
            let mut g = mlp_of(
                NodeHardware {
                    accumulate: acc,
                    noise: noise(NoiseKind::Additive { sigma: abs(0.05) }, Draw::Dynamic),
                    ..NodeHardware::default()
                },
                hidden,
            );
            assert!(analog_runtime::train::ordered::takes(g.node(NodeId(1))));
            for bias in [true, false] {
                if !bias {
                    g.nodes[1].params.truncate(1);
                }
                for grad in [OrderedGrad::Exact, OrderedGrad::Linear] {
                    let fast = trainer(&g, true, grad).gradients(&[&x], &labels, &samples).expect("finite");
                    let reference = trainer(&g, false, grad).gradients(&[&x], &labels, &samples).expect("finite");
                    assert_eq!(fast, reference, "{order:?} [{lo}, {hi}] leak {leak} bias {bias} {grad:?}");
                }
            }
        }
    }
}

/// `x[2, 10] → conv1d(3, 3, padding 1) → leaky_relu → clip, concat of both →
/// globalavgpool → dense(3)`: the ops of imported CNNs through the engine.
#[test]
fn cnn_ops_match_finite_differences() {
    let op = |uid: u32, name: &str, op: Op, inputs: Vec<u32>, shape: Vec<usize>| {
        node(uid, name, NodeKind::Op { op, inputs: inputs.into_iter().map(NodeId).collect() }, shape)
    };
    let mut conv =
        op(1, "conv", Op::Conv1d { out: 3, kernel: 3, stride: 1, padding: [1, 1], groups: 1 }, vec![0], vec![3, 10]);
    conv.params = vec![
        param("weight", "conv", vec![3, 2, 3], values(18, 11, 0.6)),
        param("bias", "conv", vec![3], values(3, 12, 0.1)),
    ];
    let mut fc = op(6, "fc", Op::Dense { out: 3 }, vec![5], vec![3]);
    fc.params =
        vec![param("weight", "fc", vec![3, 6], values(18, 13, 0.8)), param("bias", "fc", vec![3], values(3, 14, 0.1))];
    let g = Graph {
        name: "cnn".into(),
        nodes: vec![
            node(0, "x", NodeKind::Input { dtype: Dtype::F32, shape: vec![2, 10], steps: vec![] }, vec![2, 10]),
            conv,
            op(2, "leaky", Op::LeakyRelu { slope: 0.1 }, vec![1], vec![3, 10]),
            op(3, "clip", Op::Clip { min: -0.3, max: 0.3 }, vec![2], vec![3, 10]),
            op(4, "cat", Op::Concat, vec![2, 3], vec![6, 10]),
            op(5, "pool", Op::GlobalAvgPool, vec![4], vec![6]),
            fc,
        ],
        outputs: vec![("y".into(), NodeId(6))],
    };
    check_graph(&g, &values(20 * BATCH, 15, 1.0));
}

/// The fast path's gradients equal the reference path's (to 1e−6) and both
/// match central differences of the loss, for every tensor `g` learns, on
/// the batch `x`.
fn check_graph(g: &Graph, x: &[f32]) {
    let (_, labels, samples) = batch();
    let mut t = trainer(g, true, OrderedGrad::Exact);
    let grads = t.gradients(&[x], &labels, &samples).expect("finite").params;
    let reference = trainer(g, false, OrderedGrad::Exact).gradients(&[x], &labels, &samples).expect("finite").params;
    for (n, (node_grads, ref_grads)) in grads.iter().zip(&reference).enumerate() {
        for (p, (grad, ref_grad)) in node_grads.iter().zip(ref_grads).enumerate() {
            let (Some(grad), Some(ref_grad)) = (grad, ref_grad) else { continue };
            for (a, b) in grad.iter().zip(ref_grad) {
                assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "fast {a} vs reference {b}");
            }
            for (e, analytic) in grad.iter().enumerate() {
                let mut at = |delta: f32| {
                    let old = t.graph().nodes[n].params[p].value.data[e];
                    t.graph_mut().nodes[n].params[p].value.data[e] = old + delta;
                    let l = t.loss(&[x], &labels, &samples).expect("finite");
                    t.graph_mut().nodes[n].params[p].value.data[e] = old;
                    l
                };
                let numeric = (at(H) - at(-H)) / (2.0 * H as f64);
                assert!(
                    (*analytic as f64 - numeric).abs() <= 2e-2 * numeric.abs().max(1e-2) + 1e-3,
                    "node {n} tensor {p} element {e}: analytic {analytic}, numeric {numeric}"
                );
            }
        }
    }
}

/// `x[2, 10] → conv1d(4, 4, padding [1, 2]) → batchnorm (training mode) →
/// hard_swish → maxpool1d(3, stride 2, padding [1, 0]) → avgpool1d(2, stride 1,
/// padding [0, 1]) → hard_sigmoid(alpha 0.2) → globalavgpool → dense(3)`, and
/// `x[2, 5, 6] → conv2d(3, [2, 3], stride [1, 2], padding [0, 1, 2, 1]) →
/// hard_sigmoid → maxpool2d(2, stride [2, 1], padding [0, 1, 1, 0]) → flatten → dense(3)`.
#[test]
fn asymmetric_padding_hard_activations_and_1d_ops_match_finite_differences() {
    let op = |uid: u32, name: &str, op: Op, inputs: Vec<u32>, shape: Vec<usize>| {
        node(uid, name, NodeKind::Op { op, inputs: inputs.into_iter().map(NodeId).collect() }, shape)
    };
    let dense = |uid: u32, input: u32, n: usize, case: u32| {
        let mut fc = op(uid, "fc", Op::Dense { out: 3 }, vec![input], vec![3]);
        fc.params = vec![
            param("weight", "fc", vec![3, n], values(3 * n, case, 0.8)),
            param("bias", "fc", vec![3], values(3, case + 1, 0.1)),
        ];
        fc
    };
    let mut conv =
        op(1, "conv", Op::Conv1d { out: 4, kernel: 4, stride: 1, padding: [1, 2], groups: 1 }, vec![0], vec![4, 10]);
    conv.params = vec![
        param("weight", "conv", vec![4, 2, 4], values(32, 21, 0.6)),
        param("bias", "conv", vec![4], values(4, 22, 0.1)),
    ];
    let mut bn = op(2, "bn", Op::BatchNorm { eps: 1e-5 }, vec![1], vec![4, 10]);
    bn.params = vec![
        param("weight", "bn", vec![4], values(4, 23, 0.5).iter().map(|v| 1.0 + v).collect()),
        param("bias", "bn", vec![4], values(4, 24, 0.2)),
        param("running_mean", "bn", vec![4], vec![0.0; 4]),
        param("running_var", "bn", vec![4], vec![1.0; 4]),
    ];
    let one_d = Graph {
        name: "one_d".into(),
        nodes: vec![
            node(0, "x", NodeKind::Input { dtype: Dtype::F32, shape: vec![2, 10], steps: vec![] }, vec![2, 10]),
            conv,
            bn,
            op(3, "swish", Op::HardSwish, vec![2], vec![4, 10]),
            op(4, "max", Op::MaxPool1d { kernel: 3, stride: 2, padding: [1, 0] }, vec![3], vec![4, 5]),
            op(5, "avg", Op::AvgPool1d { kernel: 2, stride: 1, padding: [0, 1] }, vec![4], vec![4, 5]),
            op(6, "gate", Op::HardSigmoid { alpha: 0.2, beta: 0.5 }, vec![5], vec![4, 5]),
            op(7, "pool", Op::GlobalAvgPool, vec![6], vec![4]),
            dense(8, 7, 4, 25),
        ],
        outputs: vec![("y".into(), NodeId(8))],
    };
    check_graph(&one_d, &values(20 * BATCH, 26, 1.5));
    let conv2d = Op::Conv2d { out: 3, kernel: [2, 3], stride: [1, 2], padding: [[0, 1], [2, 1]], groups: 1 };
    let mut conv = op(1, "conv", conv2d, vec![0], vec![3, 5, 4]);
    conv.params = vec![
        param("weight", "conv", vec![3, 2, 2, 3], values(36, 31, 0.6)),
        param("bias", "conv", vec![3], values(3, 32, 0.1)),
    ];
    let pool = Op::MaxPool2d { kernel: [2, 2], stride: [2, 1], padding: [[0, 1], [1, 0]] };
    let two_d = Graph {
        name: "two_d".into(),
        nodes: vec![
            node(0, "x", NodeKind::Input { dtype: Dtype::F32, shape: vec![2, 5, 6], steps: vec![] }, vec![2, 5, 6]),
            conv,
            op(2, "gate", Op::HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 }, vec![1], vec![3, 5, 4]),
            op(3, "max", pool, vec![2], vec![3, 3, 4]),
            op(4, "flat", Op::Flatten, vec![3], vec![36]),
            dense(5, 4, 36, 33),
        ],
        outputs: vec![("y".into(), NodeId(5))],
    };
    check_graph(&two_d, &values(60 * BATCH, 35, 3.0));
}

/// ABFP is straight-through: with a fine ADC (no tile saturates, output
/// rounding below 1e−5), its weight gradients are those of FP32 at the
/// dequantized operands: `w̃ = s_w·mantissa` per tile, `x̃ = s_x·Q(x/s_x)`.
#[test]
fn abfp_is_straight_through() {
    use analog_runtime::ir::hardware::NoiseShape;
    let abfp = Format::Abfp {
        block: 4,
        input_bits: 6,
        weight_bits: 6,
        adc_bits: 24,
        gain: 1.0,
        adc_noise: 0.0,
        adc_noise_kind: NoiseShape::Gaussian,
    };
    let g = mlp(NodeHardware { format: abfp.clone(), ..NodeHardware::default() });
    let (x, labels, samples) = batch();
    let w = g.node(NodeId(1)).param("weight").expect("weights");
    let Some(analog_runtime::quant::Prepared::Abfp { mantissas, scales, tiles }) =
        analog_runtime::quant::prepare(&abfp, w)
    else {
        panic!("abfp weights")
    };
    let mut fp = mlp(NodeHardware::default());
    fp.nodes[1].params[0].value.data = (0..48).map(|i| scales[i / 8 * tiles + i % 8 / 4] * mantissas[i]).collect();
    let xq: Vec<f32> = x
        .chunks(4)
        .flat_map(|tile| {
            let s = analog_runtime::quant::max_abs(tile);
            tile.iter()
                .map(move |v| if s == 0.0 { 0.0 } else { s * analog_runtime::quant::q_bits(v / s, 6) })
                .collect::<Vec<_>>()
        })
        .collect();
    let a = trainer(&g, true, OrderedGrad::Exact).gradients(&[&x], &labels, &samples).expect("finite");
    let b = trainer(&fp, true, OrderedGrad::Exact).gradients(&[&xq], &labels, &samples).expect("finite");
    for (ga, gb) in a.params.iter().flatten().zip(b.params.iter().flatten()) {
        let (Some(ga), Some(gb)) = (ga, gb) else { continue };
        for (u, v) in ga.iter().zip(gb) {
            assert!((u - v).abs() <= 1e-4 * (1.0 + v.abs()), "abfp {u} vs fp32 at the dequantized operands {v}");
        }
    }
}

/// A denoise block between two dense layers (`x[8] → fc1 = dense(6) with
/// read noise → d = denoise(3) → fc2 = dense(3)`): its four tensors and the
/// layers around it against finite differences.
#[test]
fn denoise_blocks_match_finite_differences() {
    let mut g = mlp(NodeHardware {
        noise: noise(NoiseKind::Additive { sigma: abs(0.2) }, Draw::Dynamic),
        ..NodeHardware::default()
    });
    let mut d =
        node(2, "d", NodeKind::Op { op: Op::Denoise { hidden: 3, kernel: 3 }, inputs: vec![NodeId(1)] }, vec![6]);
    d.params = vec![
        param("down.weight", "d", vec![3, 6], values(18, 21, 0.7)),
        param("down.bias", "d", vec![3], values(3, 22, 0.2)),
        param("up.weight", "d", vec![6, 3], values(18, 23, 0.7)),
        param("up.bias", "d", vec![6], values(6, 24, 0.1)),
    ];
    g.nodes[2] = d;
    gradcheck("denoise", &g, OrderedGrad::Exact);
}

/// A batchnorm that learns normalizes with the batch's statistics, and the
/// gradient flows through them: `x[8] → fc1 = dense(6) → bn → fc2 = dense(3)`.
#[test]
fn batchnorm_in_training_mode_matches_finite_differences() {
    let mut g = mlp(NodeHardware::default());
    let mut bn = node(2, "bn", NodeKind::Op { op: Op::BatchNorm { eps: 1e-5 }, inputs: vec![NodeId(1)] }, vec![6]);
    bn.params = vec![
        param("weight", "bn", vec![6], values(6, 31, 1.0)),
        param("bias", "bn", vec![6], values(6, 32, 0.3)),
        param("running_mean", "bn", vec![6], vec![0.0; 6]),
        param("running_var", "bn", vec![6], vec![1.0; 6]),
    ];
    g.nodes[2] = bn;
    gradcheck("batchnorm", &g, OrderedGrad::Exact);
}

/// A dense layer's gradients computed output row by output row
/// (`mac_grad::dense_by_rows`) are the bits of each sample's
/// (`mac_grad::sample`) added in sample order: int8 with exact and
/// approximate products, FP32 with static and dynamic weight noise, and,
/// without the input's gradient, the formats whose products' gradients are
/// not all 1 (clamped int8, ABFP with ADC noise, analog_int); outputs with a
/// zero gradient among them.
#[test]
fn dense_gradients_by_rows_equal_the_samples_summed() {
    use analog_runtime::interp::{weights_redrawn, Interpreter};
    use analog_runtime::ir::hardware::{Multiplier, NoiseShape};
    use analog_runtime::train::forward::Pass;
    use analog_runtime::train::mac_grad;
    use analog_runtime::train::spare::Spare;
    let int8 = Format::Int8 { signed: true, weight_scale: WeightScale::PerChannel, input_range: [-0.8, 0.8] };
    let weight_noise = |draw| noise(NoiseKind::Multiplicative { sigma: 0.1 }, draw);
    let abfp = Format::Abfp {
        block: 3,
        input_bits: 6,
        weight_bits: 6,
        adc_bits: 6,
        gain: 2.0,
        adc_noise: 0.5,
        adc_noise_kind: NoiseShape::Gaussian,
    };
    let analog_int = Format::AnalogInt {
        block: 4,
        input_bits: 5,
        input_signed: false,
        weight_bits: 6,
        adc_bits: 8,
        gain: 0.5,
        input_scale: 1.0 / 31.0,
        adc_noise: 1.0,
    };
    let cases = [
        NodeHardware { format: int8.clone(), ..NodeHardware::default() },
        NodeHardware { format: int8.clone(), multiplier: Multiplier::Drum { k: 3 }, ..NodeHardware::default() },
        NodeHardware { weight_noise: weight_noise(Draw::Static), ..NodeHardware::default() },
        NodeHardware { weight_noise: weight_noise(Draw::Dynamic), ..NodeHardware::default() },
        NodeHardware { format: int8, accumulate: Accumulate::Clamp { lo: -0.4, hi: 0.4 }, ..NodeHardware::default() },
        NodeHardware { format: abfp, ..NodeHardware::default() },
        NodeHardware { format: analog_int, ..NodeHardware::default() },
    ];
    let batch = 7;
    let x = values(8 * batch, 11, 1.0).iter().map(|v| v.abs()).collect::<Vec<f32>>();
    for (case, hw) in cases.into_iter().enumerate() {
        let g = training_graph(&mlp_of(hw, 37));
        let node = g.node(NodeId(1));
        let tables = load_tables(&g, |_| Err(std::io::Error::other("no tables"))).expect("closed-form tables");
        let interp = Interpreter::with_tables(&g, tables);
        let chip = interp.trial(5, 2);
        let spare = Spare::default();
        let samples: Vec<u32> = (0..batch as u32).map(|b| 9 - b).collect();
        let pass = Pass {
            graph: &g,
            interp: &interp,
            chip: &chip,
            samples: &samples,
            threads: 2,
            fast: true,
            batch_norm: &[false; 4],
            ordered_grad: OrderedGrad::Exact,
            spare: &spare,
            code: None,
        };
        // Every third output gradient exactly zero.
        let dy: Vec<f32> =
            values(37 * batch, 12, 1.0).iter().enumerate().map(|(i, v)| if i % 3 == 0 { 0.0 } else { *v }).collect();
        let NodeKind::Op { op, .. } = &node.kind else { unreachable!("a dense layer") };
        for want_dx in [false, true] {
            if !mac_grad::by_rows(node, want_dx) {
                assert!(want_dx && case >= 4 || weights_redrawn(node), "case {case}: not taken");
                continue;
            }
            let (dx, dw) = mac_grad::dense_by_rows(&pass, NodeId(1), op, &x, &[8], &dy, 0, want_dx);
            let (mut want_w, mut want_x) = (vec![0.0f32; 37 * 8], vec![]);
            for b in 0..batch {
                let s = mac_grad::sample(
                    &pass,
                    NodeId(1),
                    op,
                    &x[b * 8..][..8],
                    &[8],
                    &dy[b * 37..][..37],
                    b,
                    0,
                    want_dx,
                    None,
                );
                want_w.iter_mut().zip(&s.dw).for_each(|(a, v)| *a += v);
                want_x.extend(s.dx.unwrap_or_default());
            }
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(&dw), bits(&want_w), "case {case}, dx {want_dx}: dW");
            assert_eq!(bits(&dx.unwrap_or_default()), bits(&want_x), "case {case}, dx {want_dx}: dx");
            assert!(dw.iter().any(|v| *v != 0.0), "case {case}: a gradient");
        }
    }
}

/// The trainer's threads flush subnormal numbers to zero (`docs/training.md`,
/// "Subnormal numbers"): a class whose probability is `e⁻⁹⁰ ≈ 8·10⁻⁴⁰`
/// (subnormal) gets a gradient of exactly 0, one at `e⁻⁸⁰ ≈ 2·10⁻³⁵` its own.
#[test]
fn training_flushes_subnormal_numbers_to_zero() {
    for (gap, flushed) in [(90.0, true), (80.0, false)] {
        let mut g = mlp(NodeHardware::default());
        // fc2's logits are its bias: [0, −gap, 0].
        g.nodes[3].params[0].value.data.iter_mut().for_each(|w| *w = 0.0);
        g.nodes[3].params[1].value.data = vec![0.0, -gap, 0.0];
        let (x, _, _) = batch();
        let grads = trainer(&g, true, OrderedGrad::Exact).gradients(&[&x[..8]], &[0], &[0]).expect("finite");
        let d_bias = grads.params[3][1].as_ref().expect("fc2's bias learns")[1];
        assert_eq!(d_bias == 0.0, flushed, "gap {gap}: the gradient {d_bias:e}");
    }
}
