//! Training through the library: determinism across threads, the fast path
//! against the reference (and its compiled layers against the interpreter),
//! and learning on real data.

mod support;

use analog_runtime::interp::{load_tables, Interpreter};
use analog_runtime::ir::Graph;
use analog_runtime::train::compiled::LayerCode;
use analog_runtime::train::forward::{forward, NodeError, OrderedGrad, Pass};
use analog_runtime::train::network::training_graph;
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;
use analog_runtime::train::spare::Spare;
use analog_runtime::train::trainer::{Chip, Setup, Trainer};
use analogc::jit::{JitLayers, Kernels};
use analogc::train::{train, EpochRecord, TrainOptions, Weights};
use analogc::{Backend, Control, Model};

fn run(file: &str, options: &TrainOptions) -> (Vec<EpochRecord>, Weights) {
    let model = Model::load(file, &[]).expect("model loads");
    let mut last = vec![];
    let report = train(&model, None, options, Control::none(), &mut |_, w| {
        last = w.clone();
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (report.epochs, last)
}

fn small(threads: usize, backend: Backend) -> TrainOptions {
    TrainOptions { epochs: 1, limit: Some(640), val: 500, threads, backend, ..TrainOptions::default() }
}

/// The same seed gives the same weights, bit for bit, for any thread count.
#[test]
fn training_is_the_same_for_any_thread_count() {
    for file in ["../examples/mnist_mlp_walking.anl", "../examples/mnist_lenet5.anl"] {
        let (e1, w1) = run(file, &small(1, Backend::Jit));
        let (e3, w3) = run(file, &small(3, Backend::Jit));
        assert_eq!(w1, w3, "{file}: weights");
        assert_eq!(e1[0].loss, e3[0].loss, "{file}: loss");
    }
}

/// The fast path (JIT-backed validation, matrix-product kernels) against
/// the reference (interpreter, reference rules): the forward is the same
/// bits, the backward sums differ only where a conv's input gradient adds
/// its patches back in another order. Bound on every trained weight after
/// two steps: `|fast − reference| ≤ 1e−5·(1 + |reference|)`.
#[test]
fn the_fast_path_trains_as_the_reference_does() {
    for file in ["../examples/mnist_lenet5.anl", "../examples/mnist_mlp.anl", "../examples/mnist_mlp_abfp.anl"] {
        let options = |backend| TrainOptions {
            epochs: 1,
            batch: 32,
            limit: Some(64),
            val: 100,
            threads: 2,
            backend,
            ..TrainOptions::default()
        };
        let (fast_epochs, fast) = run(file, &options(Backend::Jit));
        let (ref_epochs, reference) = run(file, &options(Backend::Interp));
        assert_eq!(fast.len(), reference.len());
        for ((name, f), (_, r)) in fast.iter().zip(&reference) {
            for (a, b) in f.data.iter().zip(&r.data) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{file}: `{name}`: fast {a}, reference {b}");
            }
        }
        assert!((fast_epochs[0].loss - ref_epochs[0].loss).abs() <= 1e-6, "{file}: loss");
    }
}

/// A training forward of every fixture and example, its MAC layers with
/// effects on the JIT's code (`JitLayers`, both kernel sets) against the
/// same forward with those layers on the interpreter: every node's values
/// and signal are the same bits, for samples keyed out of order (as a
/// shuffled batch is), a static chip other than the dynamic draws' trial,
/// and again after the weights change (as after an update).
#[test]
fn compiled_layers_give_the_interpreters_bits_in_training() {
    let samples = [5u32, 2, 9, 0, 7];
    let mut failures = vec![];
    let mut compiled_layers = 0;
    for (root, file) in support::models(&["examples", "bench"]) {
        let graph = training_graph(&support::lowered(&root, &file).graph);
        for kernels in [Kernels::Native, Kernels::Cranelift] {
            let mut code = JitLayers::compile(&graph, kernels).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if code.is_empty() {
                break;
            }
            compiled_layers += code.len();
            let mut graph = graph.clone();
            for round in 0..2 {
                if round == 1 {
                    // Other weights, as after an update.
                    for p in graph.nodes.iter_mut().flat_map(|n| &mut n.params) {
                        p.value.data.iter_mut().enumerate().for_each(|(i, v)| *v *= 1.0 + 0.01 * (i % 7) as f32);
                    }
                }
                let layers = code.len();
                code.prepare(&graph, 7, 1, 4);
                assert_eq!(code.len(), layers, "{}: layers dropped", file.display());
                let (with, without) = (tape(&graph, &samples, Some(&code)), tape(&graph, &samples, None));
                if with != without {
                    failures.push(format!(
                        "{} ({kernels:?}, round {round}): {}",
                        file.display(),
                        first_difference(&with, &without)
                    ));
                }
            }
        }
    }
    assert!(compiled_layers >= 40, "only {compiled_layers} layers compiled");
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

/// Every node's values and signal after a forward, or where it stopped.
type Forward = Result<(Vec<Vec<f32>>, Vec<Option<f64>>), NodeError>;

/// Every node's values and signal after the fast forward of `samples`
/// (inputs as `support::inputs` makes them), or where it stopped.
fn tape(graph: &Graph, samples: &[u32], code: Option<&dyn LayerCode>) -> Forward {
    let interp = Interpreter::new(graph, |p| std::fs::read(p)).expect("tables load");
    let mut chip = interp.trial(7, 1);
    chip.trial = 4;
    let inputs = batch_inputs(graph, samples);
    let inputs: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
    let spare = Spare::default();
    let pass = Pass {
        graph,
        interp: &interp,
        chip: &chip,
        samples,
        threads: 2,
        fast: true,
        batch_norm: &vec![false; graph.nodes.len()],
        ordered_grad: OrderedGrad::Exact,
        spare: &spare,
        code,
    };
    forward(&pass, &inputs).map(|t| (t.values, t.signal))
}

/// Each input of `graph` for `samples` (as `support::inputs` makes a
/// sample's), the samples one after another.
fn batch_inputs(graph: &Graph, samples: &[u32]) -> Vec<Vec<f32>> {
    let per_sample: Vec<Vec<Vec<f32>>> = samples.iter().map(|s| support::inputs(graph, *s as usize)).collect();
    (0..per_sample[0].len()).map(|i| per_sample.iter().flat_map(|s| s[i].iter().copied()).collect()).collect()
}

fn first_difference(a: &Forward, b: &Forward) -> String {
    let (Ok((va, sa)), Ok((vb, sb))) = (a, b) else {
        return format!("compiled {:?}, interpreter {:?}", a.as_ref().err(), b.as_ref().err());
    };
    for (n, (x, y)) in va.iter().zip(vb).enumerate() {
        if let Some(i) = (0..x.len()).find(|i| x[*i].to_bits() != y[*i].to_bits()) {
            return format!("node {n} element {i}: compiled {:e}, interpreter {:e}", x[i], y[i]);
        }
    }
    format!("signals: compiled {sa:?}, interpreter {sb:?}")
}

/// The gradients of every fixture, example and bench model: the fast path
/// (matrix products, its layers with effects on the JIT's code) against the
/// reference (the interpreter forward, the reference rules), at the same
/// weights, on samples keyed out of order. Bound on every gradient:
/// `|fast − reference| ≤ 1e−5·max|reference|` over its node's tensors (sums
/// added in other orders, a convolution's patches); the loss is the same bits
/// (the forward is).
#[test]
fn every_models_gradients_on_the_fast_path_are_the_references() {
    let samples = [5u32, 2, 9, 0, 7];
    let labels = [0u32; 5];
    let (mut failures, mut tensors) = (vec![], 0);
    for (root, file) in support::models(&["examples", "bench"]) {
        let graph = training_graph(&support::lowered(&root, &file).graph);
        let inputs = batch_inputs(&graph, &samples);
        let inputs: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
        let gradients = |fast: bool| {
            let learns = graph.nodes.iter().map(|n| !n.params.is_empty()).collect();
            let tables = load_tables(&graph, |p| std::fs::read(p)).expect("tables load");
            let setup = Setup {
                optimizer: Optimizer::SGD,
                lr: 0.01,
                schedule: Schedule::Constant,
                total_steps: 1,
                clip: None,
                seed: 7,
                threads: 2,
                fast,
                ordered_grad: OrderedGrad::Exact,
                chip: Chip::Fresh,
            };
            let mut t = Trainer::new(graph.clone(), learns, tables, setup).expect("a graph the interpreter runs");
            if fast {
                t.set_code(Box::new(JitLayers::compile(&graph, Kernels::Native).expect("compiles")));
            }
            t.gradients(&inputs, &labels, &samples)
        };
        let (fast, reference) = (gradients(true), gradients(false));
        let (fast, reference) = match (fast, reference) {
            (Ok(f), Ok(r)) => (f, r),
            (Err(f), Err(r)) if f == r => continue,
            (f, r) => {
                failures.push(format!("{}: fast {:?}, reference {:?}", file.display(), f.err(), r.err()));
                continue;
            }
        };
        if fast.loss != reference.loss {
            failures.push(format!("{}: loss {} against {}", file.display(), fast.loss, reference.loss));
        }
        for (n, (f, r)) in fast.params.iter().zip(&reference.params).enumerate() {
            // The node's largest gradient: a bias's may be a sum that cancels
            // (before a batchnorm), its rounding of the size of its terms.
            let largest = r.iter().flatten().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
            for (t, (f, r)) in f.iter().zip(r).enumerate() {
                let (Some(f), Some(r)) = (f, r) else { continue };
                tensors += 1;
                let bound = 1e-5 * largest + 1e-30;
                if let Some(i) = (0..r.len()).find(|i| (f[*i] - r[*i]).abs() > bound) {
                    let node = &graph.nodes[n].name;
                    failures.push(format!(
                        "{}: `{node}` tensor {t} element {i}: fast {}, reference {}",
                        file.display(),
                        f[i],
                        r[i]
                    ));
                }
            }
        }
    }
    assert!(tensors >= 100, "only {tensors} tensors compared");
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}
