//! Recipe 3 at a small scale (docs/training.md): Differential Noise Finetuning
//! of the MNIST MLP on a lossy ABFP chip, on a few hundred samples for one
//! epoch. Checked: the measured error is what calibration sees, the DNF
//! training graph has no ABFP in it, and the run folder keeps the ABFP model
//! with new weights. Whether the accuracy on the chip rises is not robust at
//! this scale (300 samples, 5 steps: 87.7% → 86.1% on 500 test images); the
//! recipe's table in docs/training.md measures it.

mod support;

use analog_runtime::dataset::{Dataset, Split};
use analog_runtime::files;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Format, NoiseKind, SigmaUnit};
use analog_runtime::ir::{Graph, Node, NodeHardware, NodeId, NodeKind, Op};
use analogc::analysis::calibrate::calibrate;
use analogc::analysis::layer_error::{layer_errors, LayerError};
use analogc::train::dnf::{self, Dnf};
use analogc::train::{train, TrainOptions};
use analogc::{Control, Model};
use support::repo;

const MODEL: &str = "examples/recipes/abfp_dnf/mnist_mlp_abfp_low.anl";
const SAMPLES: usize = 300;

fn model() -> Model {
    Model::load(repo().join(MODEL), &[]).expect("the recipe's model loads").unoptimized().expect("unoptimized")
}

fn training_split() -> Dataset {
    Dataset::open_split(&repo().join("data/mnist"), Split::Train).expect("MNIST's training split")
}

/// `graph` with, for each measured layer `l`, an FP32 twin of it with negated
/// weights and bias and a node `l + twin`: that node's output is
/// `y_hardware − y_fp32` of `l` (negation is exact), as calibration traces it.
fn with_differences(graph: &Graph, layers: &[&str]) -> (Graph, Vec<NodeId>) {
    let mut g = graph.clone();
    let mut uid = g.nodes.iter().map(|n| n.uid).max().unwrap() + 1;
    let mut differences = vec![];
    for name in layers {
        let at = g.nodes.iter().position(|n| n.name == *name).unwrap();
        let mut twin: Node = g.nodes[at].clone();
        twin.name = format!("{name}_negated");
        twin.uid = uid;
        twin.hw = NodeHardware::default();
        for p in &mut twin.params {
            p.value.data.iter_mut().for_each(|v| *v = -*v);
        }
        let shape = twin.shape.clone();
        g.nodes.push(twin);
        let inputs = vec![NodeId(at as u32), NodeId(g.nodes.len() as u32 - 1)];
        g.nodes.push(Node {
            uid: uid + 1,
            name: format!("{name}_error"),
            kind: NodeKind::Op { op: Op::Add, inputs },
            shape,
            hw: NodeHardware::default(),
            params: vec![],
            prepared: None,
        });
        uid += 2;
        differences.push(NodeId(g.nodes.len() as u32 - 1));
    }
    (g, differences)
}

#[test]
fn the_measured_error_is_the_one_calibration_traces() {
    let model = model();
    let set = training_split();
    let errors: Vec<LayerError> =
        layer_errors(model.graph(), &set, SAMPLES, 0, 2, Control::none()).unwrap().expect("not interrupted");
    assert_eq!(errors.iter().map(|e| e.layer.as_str()).collect::<Vec<_>>(), ["fc1", "fc2", "fc3"]);
    let (graph, differences) = with_differences(model.graph(), &["fc1", "fc2", "fc3"]);
    let interp = Interpreter::new(&graph, |p| files::read(p, files::TABLE)).expect("runs");
    let traced = calibrate(&interp, &graph, &set, SAMPLES, 0, 2, Control::none()).expect("not interrupted");
    for (e, d) in errors.iter().zip(&differences) {
        let rms = traced.activations[d.index()].rms;
        let measured = e.std.hypot(e.mean);
        let outputs = graph.nodes.iter().find(|n| n.name == e.layer).unwrap().shape[0] as u64;
        assert!(e.std > 0.0 && e.count == SAMPLES as u64 * outputs, "{e:?}");
        assert!((measured - rms).abs() <= 1e-5 * rms, "{}: σ and mean give rms {measured}, calibration {rms}", e.layer);
    }
    // The thread count changes nothing.
    let one = layer_errors(model.graph(), &set, SAMPLES, 0, 1, Control::none()).unwrap().unwrap();
    assert_eq!(one, errors);
}

#[test]
fn the_dnf_variant_has_no_abfp_and_the_measured_noise() {
    let model = model();
    let errors = layer_errors(model.graph(), &training_split(), 100, 0, 2, Control::none()).unwrap().unwrap();
    let variant = dnf::variant(model.graph(), &errors);
    assert!(variant.nodes.iter().all(|n| n.hw.format == Format::Fp32), "no ABFP in the training graph");
    let mut sites = vec![];
    for e in &errors {
        let node = variant.nodes.iter().find(|n| n.name == e.layer).unwrap();
        let site = node.hw.noise.as_ref().expect("the measured noise");
        let NoiseKind::Additive { sigma } = site.noise.kind else { panic!("{:?}", site.noise) };
        assert_eq!((sigma.value, sigma.unit), (e.std, SigmaUnit::Abs), "{}", e.layer);
        sites.push(site.site);
    }
    sites.sort();
    sites.dedup();
    assert_eq!(sites.len(), 3, "a site of its own per layer");
}

#[test]
fn dnf_fine_tuning_writes_the_abfp_model_with_new_weights() {
    let model = Model::load(repo().join(MODEL), &[]).unwrap();
    let out = std::env::temp_dir().join(format!("analogc-recipe-dnf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let options = TrainOptions {
        epochs: 1,
        limit: Some(SAMPLES),
        val: 200,
        threads: 2,
        dnf: Some(Dnf::default()),
        ..TrainOptions::default()
    };
    let mut folder = analogc::train::output::RunFolder::create(
        &out,
        &model,
        analogc::train::output::RunSettings::new(&model, &options),
    )
    .unwrap();
    let report = train(&model, None, &options, Control::none(), &mut |record, weights| folder.epoch(record, weights))
        .unwrap_or_else(|e| panic!("{e}"));
    let dnf = report.dnf.as_ref().expect("a DNF report");
    assert_eq!((dnf.samples, dnf.measurements.len()), (SAMPLES, 1));
    assert!(dnf.measurements[0].layers.iter().all(|l| l.std > 0.0));
    let text = report.text();
    assert!(text.contains("DNF: hardware error") && text.contains("fc3: σ "), "{text}");

    // The run folder's model copy is the ABFP model, with the trained weights.
    let copy = Model::load(out.join("mnist_mlp_abfp_low.anl"), &[]).unwrap();
    let copy = copy.unoptimized().unwrap();
    for name in ["fc1", "fc2", "fc3"] {
        let node = copy.graph().nodes.iter().find(|n| n.name == name).unwrap();
        assert!(matches!(node.hw.format, Format::Abfp { gain: 1.0, .. }), "{name}: {:?}", node.hw.format);
    }
    let before = model.unoptimized().unwrap();
    let moved = before.graph().nodes.iter().zip(&copy.graph().nodes).any(|(a, b)| a.params != b.params);
    assert!(moved, "fine-tuning changed the weights");
    std::fs::remove_dir_all(&out).unwrap();
}
