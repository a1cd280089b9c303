//! The JIT against the reference interpreter: for every `lower` and `jit`
//! fixture, every example and every benchmark model (`bench/`), both kernel
//! sets, the compiled code gives the interpreter's values (bit for bit; ±0
//! compare equal), whatever the batch split.

mod support;

use analog_runtime::interp::Interpreter;
use analog_runtime::ir::Graph;
use analogc::jit::{self, Kernels};
use analogc::passes::run_pipeline;
use std::path::Path;
use support::{inputs, lowered, repo};

const SEED: u64 = 7;

/// Held by tests that allocate much, so the memory-flat test measures only itself.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
const TRIAL: u32 = 1;

fn interp_outputs(g: &Graph, samples: usize) -> Vec<Vec<f32>> {
    let interp = Interpreter::new(g, |p| std::fs::read(p)).expect("tables load");
    let trial = interp.trial(SEED, TRIAL);
    let mut outs: Vec<Vec<f32>> = vec![vec![]; g.outputs.len()];
    for s in 0..samples {
        let x = inputs(g, s);
        let refs: Vec<&[f32]> = x.iter().map(|v| &v[..]).collect();
        for (o, y) in outs.iter_mut().zip(interp.run(&trial, s as u32, &refs)) {
            o.extend(y);
        }
    }
    outs
}

/// The JIT's outputs for samples `0..samples`, run in calls of `split` samples.
fn jit_outputs(g: &Graph, kernels: Kernels, samples: usize, split: usize) -> Result<Vec<Vec<f32>>, String> {
    let compiled = jit::compile(g, kernels)?;
    let chip = compiled.chip(SEED, TRIAL);
    let mut ws = compiled.workspace();
    let per_sample: Vec<Vec<Vec<f32>>> = (0..samples).map(|s| inputs(g, s)).collect();
    let mut outs: Vec<Vec<f32>> = vec![vec![]; g.outputs.len()];
    let mut first = 0;
    while first < samples {
        let n = split.min(samples - first);
        let joined: Vec<Vec<f32>> = (0..per_sample[0].len())
            .map(|i| (first..first + n).flat_map(|s| per_sample[s][i].iter().copied()).collect())
            .collect();
        let refs: Vec<&[f32]> = joined.iter().map(|v| &v[..]).collect();
        for (o, y) in outs.iter_mut().zip(compiled.run(&chip, &mut ws, first as u32, &refs, n)) {
            o.extend(y);
        }
        first += n;
    }
    Ok(outs)
}

fn same(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The first difference, if any.
fn compare(want: &[Vec<f32>], got: Result<Vec<Vec<f32>>, String>) -> Result<(), String> {
    let got = got?;
    for (o, (w, g)) in want.iter().zip(&got).enumerate() {
        if w.len() != g.len() {
            return Err(format!("output {o}: {} values, interpreter {}", g.len(), w.len()));
        }
        if let Some(i) = (0..w.len()).find(|i| !same(w[*i], g[*i])) {
            return Err(format!("output {o} element {i}: interpreter {:e}, jit {:e}", w[i], g[i]));
        }
    }
    Ok(())
}

#[test]
fn jit_agrees_with_the_interpreter() {
    const SAMPLES: usize = 11;
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = vec![];
    for (root, file) in support::models(&["examples", "bench"]) {
        let mut l = lowered(&root, &file);
        run_pipeline(&mut l);
        let want = interp_outputs(&l.graph, SAMPLES);
        for kernels in [Kernels::Native, Kernels::Cranelift] {
            for split in [SAMPLES, 4] {
                let got = jit_outputs(&l.graph, kernels, SAMPLES, split);
                if let Err(e) = compare(&want, got) {
                    failures.push(format!("{} ({kernels:?}, batches of {split}): {e}", file.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

/// The CLIF of the Walking-Noise MLP for the pinned x86-64 ISA, both kernel
/// sets (a review aid: every change to code generation shows up here).
#[test]
fn clif_of_the_walking_noise_mlp() {
    let mut l = lowered(&repo(), Path::new("examples/mnist_mlp_walking.anl"));
    run_pipeline(&mut l);
    for kernels in [Kernels::Native, Kernels::Cranelift] {
        let text = jit::clif(&l.graph, kernels).expect("compiles");
        insta::assert_snapshot!(format!("clif_mnist_mlp_walking_{kernels:?}").to_lowercase(), text);
    }
}

/// Compiling and dropping a model many times keeps memory flat: the JIT's
/// code memory is freed with the model.
#[test]
fn compile_and_drop_keeps_memory_flat() {
    // The MLP's input and one ReLU: a whole module, compiled in well under a millisecond.
    let mut l = lowered(&repo(), Path::new("examples/mnist_mlp_walking.anl"));
    run_pipeline(&mut l);
    let input = l.graph.nodes[0].clone();
    let relu = analog_runtime::ir::Node {
        uid: 1,
        name: "relu".into(),
        kind: analog_runtime::ir::NodeKind::Op {
            op: analog_runtime::ir::Op::Relu,
            inputs: vec![analog_runtime::ir::NodeId(0)],
        },
        shape: input.shape.clone(),
        hw: Default::default(),
        params: vec![],
        prepared: None,
    };
    l.graph.nodes = vec![input, relu];
    l.graph.outputs = vec![("y".into(), analog_runtime::ir::NodeId(1))];
    let rss = || {
        let status = std::fs::read_to_string("/proc/self/statm").expect("linux");
        status.split_whitespace().nth(1).and_then(|v| v.parse::<usize>().ok()).expect("resident pages") * 4096
    };
    let round = |n: usize| {
        for _ in 0..n {
            drop(jit::compile(&l.graph, Kernels::Native).expect("compiles"));
        }
    };
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    round(200);
    let before = rss();
    round(ITERATIONS);
    let grown = rss().saturating_sub(before);
    // A leaked module is ≥ 4 KiB of code pages each: 10,000 leaks would be ≥ 40 MB.
    assert!(grown < 8 << 20, "resident memory grew by {grown} bytes over {ITERATIONS} compilations");
}

const ITERATIONS: usize = 10_000;
