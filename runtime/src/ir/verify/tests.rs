//! One hand-broken graph per invariant, each from the same well-formed graph.

use super::*;
use crate::ir::hardware::{Draw, Noise, NoiseShape, Phase, Sigma, TableLayout};
use crate::ir::{Dtype, NodeHardware, Param};
use crate::quant;
use crate::tensor::Tensor;

fn noise(site: u32, unit: SigmaUnit) -> Option<NoiseSite> {
    let kind = NoiseKind::Additive { sigma: Sigma { value: 0.1, unit } };
    Some(NoiseSite { site, noise: Noise { kind, draw: Draw::Dynamic, repeat: 1, during: Phase::Eval } })
}

fn param(role: &str, shape: &[usize]) -> Param {
    let values = (0..shape.iter().product()).map(|i| (i % 7) as f32 - 3.0).collect();
    Param { role: role.into(), name: format!("t.{role}"), value: Tensor::new(shape.to_vec(), values) }
}

fn op(name: &str, op: Op, inputs: &[u32], shape: &[usize], params: Vec<Param>) -> Node {
    Node {
        uid: 0,
        name: name.into(),
        kind: NodeKind::Op { op, inputs: inputs.iter().map(|i| NodeId(*i)).collect() },
        shape: shape.to_vec(),
        hw: NodeHardware::default(),
        params,
        prepared: None,
    }
}

/// Every op and both quantized formats with prepared weights:
/// `x → conv (int8, truncated) → pool → flatten → fc (abfp) → bn; add(bn, fc) → denoise → softmax`.
fn graph() -> Graph {
    let x = Node {
        uid: 0,
        name: "x".into(),
        kind: NodeKind::Input { dtype: Dtype::F32, shape: vec![16], steps: vec![Step::Reshape(vec![1, 4, 4])] },
        shape: vec![1, 4, 4],
        hw: NodeHardware { noise: noise(0, SigmaUnit::Abs), ..NodeHardware::default() },
        params: vec![],
        prepared: None,
    };
    let conv = Op::Conv2d { out: 2, kernel: [3, 3], stride: [1, 1], padding: [[1, 1]; 2], groups: 1 };
    let mut conv = op("conv", conv, &[0], &[2, 4, 4], vec![param("weight", &[2, 1, 3, 3]), param("bias", &[2])]);
    conv.hw.format = Format::Int8 { signed: true, weight_scale: WeightScale::PerChannel, input_range: [-1.0, 1.0] };
    conv.hw.multiplier = Multiplier::Truncated { bits: 4 };
    let pool = Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [[1, 1]; 2] };
    let pool = op("pool", pool, &[1], &[2, 3, 3], vec![]);
    let flat = op("flat", Op::Flatten, &[2], &[18], vec![]);
    let mut fc = op("fc", Op::Dense { out: 3 }, &[3], &[3], vec![param("weight", &[3, 18])]);
    fc.hw.format = Format::Abfp {
        block: 4,
        input_bits: 8,
        weight_bits: 8,
        adc_bits: 8,
        gain: 1.0,
        adc_noise: 0.0,
        adc_noise_kind: NoiseShape::Gaussian,
    };
    fc.hw.noise = noise(1, SigmaUnit::Lsb);
    let bn_params = ["weight", "bias", "running_mean", "running_var"].map(|r| param(r, &[3])).to_vec();
    let bn = op("bn", Op::BatchNorm { eps: 1e-5 }, &[4], &[3], bn_params);
    let sum = op("sum", Op::Add, &[5, 4], &[3], vec![]);
    let denoise_params = vec![
        param("down.weight", &[2, 3]),
        param("down.bias", &[2]),
        param("up.weight", &[3, 2]),
        param("up.bias", &[3]),
    ];
    let den = op("den", Op::Denoise { hidden: 2, kernel: 3 }, &[6], &[3], denoise_params);
    let prob = op("prob", Op::Softmax, &[7], &[3], vec![]);
    let mut nodes = vec![x, conv, pool, flat, fc, bn, sum, den, prob];
    for (uid, n) in nodes.iter_mut().enumerate() {
        n.uid = uid as u32;
        if let Some(w) = n.param("weight").filter(|_| n.hw.format != Format::Fp32) {
            n.prepared = quant::prepare(&n.hw.format, w);
        }
    }
    Graph { name: "g".into(), nodes, outputs: vec![("prob".into(), NodeId(8))] }
}

/// The invariant `g` breaks, and at which node.
fn broken(g: &Graph) -> (Invariant, Option<u32>) {
    let e = verify(g).expect_err("the graph is broken");
    (e.invariant, e.node.map(|(id, _)| id.0))
}

#[test]
fn the_well_formed_graph_verifies() {
    assert_eq!(verify(&graph()), Ok(()));
}

#[test]
fn interface_needs_an_input_and_distinct_outputs() {
    let mut g = graph();
    g.outputs.clear();
    assert_eq!(broken(&g), (Invariant::Interface, None));
    let mut g = graph();
    g.outputs.push(("prob".into(), NodeId(7)));
    assert_eq!(broken(&g), (Invariant::Interface, None));
    let mut g = graph();
    g.nodes[0].kind = NodeKind::Op { op: Op::Relu, inputs: vec![] };
    assert_eq!(broken(&g), (Invariant::Interface, None));
}

#[test]
fn order_inputs_come_first_and_outputs_exist() {
    let mut g = graph();
    g.nodes[3].kind = NodeKind::Op { op: Op::Flatten, inputs: vec![NodeId(3)] };
    assert_eq!(broken(&g), (Invariant::Order, Some(3)));
    let mut g = graph();
    g.outputs[0].1 = NodeId(9);
    assert_eq!(broken(&g), (Invariant::Order, None));
}

#[test]
fn names_and_uids_are_unique() {
    let mut g = graph();
    g.nodes[5].name = "fc".into();
    assert_eq!(broken(&g), (Invariant::Names, Some(5)));
    let mut g = graph();
    g.nodes[6].uid = 2;
    assert_eq!(broken(&g), (Invariant::Names, Some(6)));
}

#[test]
fn arity_add_reads_two() {
    let mut g = graph();
    g.nodes[6].kind = NodeKind::Op { op: Op::Add, inputs: vec![NodeId(5)] };
    assert_eq!(broken(&g), (Invariant::Arity, Some(6)));
}

#[test]
fn arity_concat_reads_two_or_more() {
    let mut g = graph();
    g.nodes[6].kind = NodeKind::Op { op: Op::Concat, inputs: vec![NodeId(5)] };
    assert_eq!(broken(&g), (Invariant::Arity, Some(6)));
    let mut g = graph();
    g.nodes[6].kind = NodeKind::Op { op: Op::Concat, inputs: vec![NodeId(5), NodeId(4), NodeId(5)] };
    assert_eq!(broken(&g), (Invariant::Shapes, Some(6)));
}

#[test]
fn activation_attributes_are_finite_and_ordered() {
    for op in
        [Op::Clip { min: 1.0, max: 0.0 }, Op::Clip { min: 0.0, max: f64::INFINITY }, Op::LeakyRelu { slope: f64::NAN }]
    {
        let mut g = graph();
        g.nodes[6].kind = NodeKind::Op { op, inputs: vec![NodeId(5)] };
        assert_eq!(broken(&g), (Invariant::Attributes, Some(6)));
    }
    let mut g = graph();
    g.nodes[6].kind = NodeKind::Op { op: Op::Clip { min: -1.0, max: 6.0 }, inputs: vec![NodeId(5)] };
    assert_eq!(verify(&g), Ok(()));
}

#[test]
fn attributes_are_at_least_one() {
    let mut g = graph();
    g.nodes[2].kind = NodeKind::Op {
        op: Op::MaxPool2d { kernel: [2, 2], stride: [0, 2], padding: [[1, 1]; 2] },
        inputs: vec![NodeId(1)],
    };
    assert_eq!(broken(&g), (Invariant::Attributes, Some(2)));
    let mut g = graph();
    g.nodes[5].kind = NodeKind::Op { op: Op::BatchNorm { eps: 0.0 }, inputs: vec![NodeId(4)] };
    assert_eq!(broken(&g), (Invariant::Attributes, Some(5)));
}

#[test]
fn input_steps_give_the_node_its_shape() {
    let mut g = graph();
    g.nodes[0].shape = vec![16];
    assert_eq!(broken(&g), (Invariant::InputSteps, Some(0)));
    let mut g = graph();
    let NodeKind::Input { steps, .. } = &mut g.nodes[0].kind else { unreachable!() };
    steps.push(Step::Normalize { mean: vec![0.0, 0.5], std: vec![1.0] });
    assert_eq!(broken(&g), (Invariant::InputSteps, Some(0)));
    let mut g = graph();
    let NodeKind::Input { steps, .. } = &mut g.nodes[0].kind else { unreachable!() };
    steps[0] = Step::Reshape(vec![1, 4, 5]);
    assert_eq!(broken(&g), (Invariant::InputSteps, Some(0)));
}

#[test]
fn shapes_are_what_the_op_gives() {
    let mut g = graph();
    g.nodes[2].shape = vec![2, 2, 2]; // padding 1: (4 + 2 − 2)/2 + 1 = 3
    assert_eq!(broken(&g), (Invariant::Shapes, Some(2)));
    let mut g = graph();
    let conv = Op::Conv2d { out: 2, kernel: [3, 3], stride: [1, 1], padding: [[1, 1]; 2], groups: 2 };
    g.nodes[1].kind = NodeKind::Op { op: conv, inputs: vec![NodeId(0)] }; // 1 channel in 2 groups
    assert_eq!(broken(&g), (Invariant::Shapes, Some(1)));
    let mut g = graph();
    g.nodes[6].kind = NodeKind::Op { op: Op::Add, inputs: vec![NodeId(5), NodeId(3)] };
    assert_eq!(broken(&g), (Invariant::Shapes, Some(6)));
}

#[test]
fn params_are_the_ops_tensors() {
    let mut g = graph();
    g.nodes[5].params.pop();
    assert_eq!(broken(&g), (Invariant::Params, Some(5)));
    let mut g = graph();
    g.nodes[7].params[2] = param("up.weight", &[2, 3]);
    assert_eq!(broken(&g), (Invariant::Params, Some(7)));
    let mut g = graph();
    g.nodes[2].params.push(param("weight", &[2]));
    assert_eq!(broken(&g), (Invariant::Params, Some(2)));
    let mut g = graph();
    g.nodes[5].params[0].value.data.pop();
    assert_eq!(broken(&g), (Invariant::Params, Some(5)));
    // A MAC layer's bias is optional (`fc` has none), its weight is not.
    let mut g = graph();
    g.nodes[1].params.pop();
    g.nodes[1].params.swap_remove(0);
    g.nodes[1].prepared = None;
    assert_eq!(broken(&g), (Invariant::Params, Some(1)));
}

#[test]
fn noise_sites_are_unique() {
    let mut g = graph();
    g.nodes[1].hw.weight_noise = noise(1, SigmaUnit::Abs);
    g.nodes[1].prepared = None;
    assert_eq!(broken(&g), (Invariant::NoiseSites, Some(4)));
}

#[test]
fn hardware_only_where_the_op_takes_it() {
    let mut g = graph();
    g.nodes[7].hw.noise = noise(5, SigmaUnit::Abs); // a digital block
    assert_eq!(broken(&g), (Invariant::Hardware, Some(7)));
    let mut g = graph();
    g.nodes[2].hw.accumulate = Accumulate::Clamp { lo: -1.0, hi: 1.0 };
    assert_eq!(broken(&g), (Invariant::Hardware, Some(2)));
    let mut g = graph();
    g.nodes[0].hw.noise = noise(0, SigmaUnit::FullScale);
    assert_eq!(broken(&g), (Invariant::Hardware, Some(0)));
    let mut g = graph();
    g.nodes[1].hw.noise = noise(5, SigmaUnit::Lsb); // int8 has no ADC
    assert_eq!(broken(&g), (Invariant::Hardware, Some(1)));
    let mut g = graph();
    g.nodes[4].hw.accumulate = Accumulate::Clamp { lo: -1.0, hi: 1.0 }; // abfp sums inside its ADC
    assert_eq!(broken(&g), (Invariant::Hardware, Some(4)));
    let mut g = graph();
    g.nodes[4].hw.multiplier = Multiplier::Mitchell;
    assert_eq!(broken(&g), (Invariant::Hardware, Some(4)));
    let mut g = graph();
    let path = "t.npy".into();
    g.nodes[1].hw.multiplier = Multiplier::Table { path, layout: TableLayout::TorchApprox, signed: false };
    assert_eq!(broken(&g), (Invariant::Hardware, Some(1)));
}

#[test]
fn prepared_weights_match_the_format_and_weights() {
    let mut g = graph();
    g.nodes[1].prepared = g.nodes[4].prepared.clone();
    assert_eq!(broken(&g), (Invariant::Prepared, Some(1)));
    let mut g = graph();
    let Some(Prepared::Int8 { scales, .. }) = &mut g.nodes[1].prepared else { unreachable!() };
    scales.pop(); // per channel: one scale per output
    assert_eq!(broken(&g), (Invariant::Prepared, Some(1)));
    let mut g = graph();
    let Some(Prepared::Abfp { tiles, .. }) = &mut g.nodes[4].prepared else { unreachable!() };
    *tiles = 4; // ⌈18 / 4⌉ = 5
    assert_eq!(broken(&g), (Invariant::Prepared, Some(4)));
    let mut g = graph();
    g.nodes[5].prepared = g.nodes[4].prepared.clone();
    assert_eq!(broken(&g), (Invariant::Prepared, Some(5)));
}

#[test]
fn the_message_names_the_node_and_the_invariant() {
    let mut g = graph();
    g.nodes[3].shape = vec![17];
    let e = verify(&g).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node %3 `flat` breaks the shapes invariant: `flatten` gives [18] but the node has shape [17]"
    );
}
