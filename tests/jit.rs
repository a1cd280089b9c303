//! The JIT against the reference interpreter: for every `lower` fixture and
//! every example, both kernel sets, the compiled code gives the interpreter's
//! values (bit for bit; ±0 compare equal), whatever the batch split.

mod support;

use analog_runtime::interp::Interpreter;
use analog_runtime::ir::Graph;
use analogc::check::check_file;
use analogc::jit::{self, Kernels};
use analogc::passes::run_pipeline;
use std::path::{Path, PathBuf};
use support::{anl_files, inputs, lowered, repo, Rooted};

const SEED: u64 = 7;
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
    let compiled = jit::compile(g, kernels, |p| std::fs::read(p))?;
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

fn cases() -> Vec<(PathBuf, PathBuf)> {
    let fixtures = repo().join("tests/fixtures");
    let mut out: Vec<(PathBuf, PathBuf)> = anl_files(&fixtures.join("lower"))
        .into_iter()
        .map(|f| (fixtures.clone(), Path::new("lower").join(f)))
        .collect();
    for file in anl_files(&repo().join("examples")) {
        let path = Path::new("examples").join(&file);
        if check_file(&path, &Rooted::new(repo())).model.is_some() {
            out.push((repo(), path));
        }
    }
    out
}

#[test]
fn jit_agrees_with_the_interpreter() {
    const SAMPLES: usize = 11;
    let mut failures = vec![];
    for (root, file) in cases() {
        let mut l = lowered(&root, &file);
        run_pipeline(&mut l);
        let want = interp_outputs(&l.graph, SAMPLES);
        for kernels in [Kernels::Native, Kernels::Cranelift] {
            for split in [SAMPLES, 4] {
                if let Err(e) = compare(&want, jit_outputs(&l.graph, kernels, SAMPLES, split)) {
                    failures.push(format!("{} ({kernels:?}, batches of {split}): {e}", file.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}
