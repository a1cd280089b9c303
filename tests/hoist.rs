//! Hoisting (`analogc::hoist`): a graph's suffix run on its prefix's values
//! gives the whole graph's bits, on both backends, wherever the first random
//! draw sits; and sweeps and trials give the same results hoisted or not.

mod support;

use analog_runtime::derived::noise::{draws, Draws};
use analog_runtime::ir::Graph;
use analogc::control::Control;
use analogc::engine::Backend;
use analogc::hoist::split;
use analogc::model::engine_for;
use analogc::passes::run_pipeline;
use analogc::sweep::{Kind, Sites};
use analogc::{evaluate, sweep, Data, EvalOptions, Exec, Kernels, Model, SweepOptions};
use support::{inputs, lowered, repo};

const SEED: u64 = 7;
const TRIAL: u32 = 1;
/// The dataset index of the first sample (dynamic draws are keyed by it).
const FIRST: u32 = 5;
const SAMPLES: usize = 6;

/// `g`'s outputs for `values` (each input's values for all samples).
fn run(g: &Graph, backend: Backend, values: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let engine = engine_for(g, backend, Kernels::Native).unwrap_or_else(|e| panic!("{}: {e}", g.name));
    let (chip, mut ws) = (engine.chip(SEED, TRIAL), engine.workspace());
    let refs: Vec<&[f32]> = values.iter().map(|v| &v[..]).collect();
    engine.run(&chip, &mut ws, FIRST, &refs, SAMPLES)
}

/// Every input's values for samples `0..SAMPLES`, one after another.
fn samples(g: &Graph) -> Vec<Vec<f32>> {
    let per_sample: Vec<Vec<Vec<f32>>> = (0..SAMPLES).map(|s| inputs(g, s)).collect();
    (0..per_sample[0].len()).map(|i| per_sample.iter().flat_map(|s| s[i].iter().copied()).collect()).collect()
}

fn same(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()))
}

/// `g` with the randomness of its nodes before node `k` switched off, so its
/// first random draw is at `k` or later.
fn clean_before(g: &Graph, k: usize) -> Graph {
    let clean = g.without_noise();
    let mut g = g.clone();
    for (node, clean) in g.nodes.iter_mut().zip(clean.nodes).take(k) {
        node.hw = clean.hw;
        if let analog_runtime::ir::hardware::Accumulate::Ordered { order, .. } = &mut node.hw.accumulate {
            if *order == analog_runtime::ir::hardware::Order::Random {
                *order = analog_runtime::ir::hardware::Order::Natural;
            }
        }
    }
    g
}

#[test]
fn the_suffix_on_the_prefix_values_gives_the_whole_graphs_bits() {
    let mut failures = vec![];
    let mut cut_inside = 0;
    for (root, file) in support::models(&["examples"]) {
        let mut l = lowered(&root, &file);
        run_pipeline(&mut l);
        // The first random draw at each node that draws, and nowhere (the clean graph).
        let mut variants: Vec<Graph> = (0..l.graph.nodes.len())
            .filter(|&k| draws(&l.graph.nodes[k]) != Draws::Nothing)
            .map(|k| clean_before(&l.graph, k))
            .collect();
        variants.push(l.graph.without_noise());
        for g in variants {
            let Some(s) = split(&g) else { continue };
            let last = s.prefix.nodes.len() - 1;
            cut_inside += usize::from(s.prefix.nodes[last].hw.noise != g.nodes[last].hw.noise);
            let x = samples(&g);
            for backend in [Backend::Interp, Backend::Jit] {
                let whole = run(&g, backend, &x);
                let hoisted = run(&s.suffix, backend, &run(&s.prefix, backend, &x));
                if !same(&whole, &hoisted) {
                    failures.push(format!(
                        "{} ({backend:?}), cut after {} nodes",
                        file.display(),
                        s.prefix.nodes.len()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} differ:\n{}", failures.len(), failures.join("\n"));
    assert!(cut_inside > 10, "nodes cut between their op and their noise: {cut_inside}");
}

#[test]
fn a_node_that_draws_in_its_op_ends_the_prefix_before_it() {
    // conv1 draws its static weight noise: only the input's preprocessing is the same for every chip.
    let file = repo().join("examples/mnist_lenet5_variation.anl");
    let prefix = |settings: &[&str]| {
        let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let s = split(Model::load(&file, &settings).unwrap().graph()).expect("a prefix");
        let names = |g: &Graph| g.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
        (names(&s.prefix), names(&s.suffix))
    };
    let (before, after) = prefix(&[]);
    assert_eq!(before, ["image"]);
    assert_eq!(after[..2], ["image", "conv1"]);
    // With conv1 clean, the prefix ends before conv2, whose weights vary, though its noise comes after them.
    let (before, after) = prefix(&["conv1.weight_noise=none", "conv1.noise=none"]);
    assert_eq!(before, ["image", "conv1", "a1", "p1"]);
    assert_eq!(after[..2], ["p1", "conv2"]);
    // An input with noise is cut between its preprocessing and its noise.
    let s = split(Model::load(repo().join("examples/mnist_mlp_walking.anl"), &[]).unwrap().graph()).unwrap();
    assert!(s.prefix.nodes[0].hw.noise.is_none() && s.suffix.nodes[0].hw.noise.is_some());
    assert_eq!(s.suffix.nodes[1].name, "fc1");
}

fn exec(hoist: bool, backend: Backend) -> Exec {
    Exec { threads: 2, hoist, backend, ..Exec::default() }
}

/// A sweep hoisted and not, as CSV and JSON (every count).
fn sweeps_agree(file: &str, settings: &[&str], options: impl Fn(Exec) -> SweepOptions, limit: usize) {
    let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    let model = Model::load(repo().join(file), &settings).unwrap();
    let data = Data::open(&model, None, Some(limit)).unwrap();
    let on = sweep(&model, &data, &options(exec(true, Backend::Jit)), Control::none()).unwrap();
    let off = sweep(&model, &data, &options(exec(false, Backend::Jit)), Control::none()).unwrap();
    assert_eq!(on, off, "{file}: hits differ");
    assert_eq!(on.csv(), off.csv());
}

fn walk(kind: Kind, sites: Sites, sigma: &str, sweep: Option<&str>) -> impl Fn(Exec) -> SweepOptions {
    let (sigma, sweep) = (sigma.to_string(), sweep.map(str::to_string));
    move |exec| SweepOptions {
        sites,
        kind,
        ratio: 0.5,
        sigma: sigma.clone(),
        global: sweep.is_none(),
        sweep: sweep.clone(),
        trials: 2,
        shard: None,
        exec,
    }
}

#[test]
fn a_hoisted_walk_equals_the_unhoisted_one_bit_for_bit() {
    // Noise mid-network: each site's prefix ends at its op, its noise in the suffix.
    sweeps_agree("examples/mnist_mlp_walking.anl", &[], walk(Kind::Mixed, Sites::All, "0.1,3", None), 300);
    // Convolutions, multiplicative noise.
    sweeps_agree("examples/mnist_lenet5.anl", &[], walk(Kind::Multiplicative, Sites::Mac, "0.2,2", None), 100);
}

#[test]
fn a_hoisted_sweep_stops_at_the_first_random_site() {
    // The model's own noise stays: conv2's static weight noise is the first draw
    // for every point, so every point shares the prefix before conv2.
    let sweep = Some("fc2.noise.sigma=0.05,1");
    sweeps_agree(
        "examples/mnist_lenet5_variation.anl",
        &["conv1.weight_noise=none", "conv1.noise=none"],
        walk(Kind::Additive, Sites::Mac, "1", sweep),
        100,
    );
    // ADC noise inside every ABFP layer: nothing to hoist past the first one.
    sweeps_agree("examples/mnist_mlp_abfp.anl", &[], walk(Kind::Additive, Sites::Mac, "0.5", None), 100);
}

#[test]
fn hoisted_trials_equal_the_unhoisted_ones_on_both_backends() {
    let settings: Vec<String> = ["image.noise=none", "fc1.noise=none", "h1.noise=none", "fc2.noise.sigma=2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let model = Model::load(repo().join("examples/mnist_mlp_walking.anl"), &settings).unwrap();
    let data = Data::open(&model, None, Some(200)).unwrap();
    let eval = |hoist, backend| {
        let options = EvalOptions { trials: 3, batch: 64, exec: exec(hoist, backend) };
        evaluate(&model, &data, &options, Control::none()).unwrap().trials
    };
    let hoisted = eval(true, Backend::Jit);
    assert_eq!(hoisted, eval(false, Backend::Jit));
    assert_eq!(hoisted, eval(true, Backend::Interp));
    assert!(hoisted.windows(2).any(|w| w[0].accuracy != w[1].accuracy), "the trials differ");
}
