//! Recipe 4 (denoise blocks) at a small scale: `denoise` places blocks where
//! the analysis ranks layers first, the written model checks clean and
//! computes the original's logits bit for bit (a block with `up` = 0 adds an
//! exact zero), and training the blocks alone leaves every backbone tensor
//! untouched and the noisy accuracy no worse.

mod support;

use analog_runtime::ir::Graph;
use analogc::analysis::{analyze_on_data, CalibrateOptions};
use analogc::denoise::{denoise, Budget, DenoiseOptions, DenoiseReport, Placement};
use analogc::train::{train, TrainOptions, Weights};
use analogc::{Backend, Control, Data, Exec, Kernels, Model};
use std::path::{Path, PathBuf};
use support::repo;

const MODEL: &str = "examples/recipes/denoise/mnist_mlp_deploy.anl";

/// A fresh, empty folder under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("analogc-denoise-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(place: Placement) -> DenoiseOptions {
    DenoiseOptions {
        budget: Budget::Percent(2.0),
        place,
        hidden: None,
        limit: 100,
        exec: Exec { threads: 2, ..Exec::default() },
    }
}

fn placed(model: &Model, place: Placement, out: Option<&Path>) -> DenoiseReport {
    denoise(model, None, &options(place), out, Control::none()).unwrap_or_else(|e| panic!("{e}"))
}

/// The first output of samples `0..n` on chip `trial` (noisy), or with every noise off.
fn logits(graph: &Graph, data: &Data, n: usize, backend: Backend, trial: Option<u32>) -> Vec<u32> {
    let quiet;
    let graph = match trial {
        Some(_) => graph,
        None => {
            quiet = graph.without_noise();
            &quiet
        }
    };
    let engine = analogc::model::engine_for(graph, backend, Kernels::Native).unwrap();
    let chip = engine.chip(0, trial.unwrap_or(0));
    let mut ws = engine.workspace();
    let ys = engine.run(&chip, &mut ws, 0, &[data.set.samples(0..n)], n);
    ys[0].iter().map(|y| y.to_bits()).collect()
}

/// Correct samples of `graph` among the first `n` of `model`'s data, summed over chips `0..trials`.
fn hits(graph: &Graph, model: &Model, n: usize, trials: u32) -> usize {
    let data = Data::open(model, None, Some(n)).unwrap();
    let exec = Exec { threads: 2, ..Exec::default() };
    analogc::evaluate::trial_hits(graph, &data, trials, &exec, Control::none()).unwrap().iter().sum()
}

#[test]
fn placement_follows_the_analysis_ranking() {
    let model = Model::load(repo().join(MODEL), &[]).unwrap();
    let calibrate =
        CalibrateOptions { trials: 1, calibrate_limit: 100, midpoints: None, exec: options(Placement::Sensitive).exec };
    let analysis = analyze_on_data(&model, None, Some(100), None, calibrate, Control::none()).unwrap();
    let ranked: Vec<String> = analysis.denoise.unwrap().ranking.into_iter().map(|r| r.layer).collect();
    assert_eq!(ranked, ["fc1", "fc2", "fc3"]);

    let sensitive = placed(&model, Placement::Sensitive, None);
    let after: Vec<&str> = sensitive.blocks.iter().map(|b| b.after.as_str()).collect();
    // 2% of 269,322 parameters pays for one block of width 10 after fc1 (5386).
    assert_eq!(after, ["fc1"]);
    assert_eq!((sensitive.blocks[0].hidden, sensitive.parameters_added), (10, 5386));
    assert_eq!(sensitive.ranking.iter().map(|r| r.layer.as_str()).collect::<Vec<_>>(), ranked);

    let insensitive = placed(&model, Placement::Insensitive, None);
    let after: Vec<&str> = insensitive.blocks.iter().map(|b| b.after.as_str()).collect();
    assert_eq!(after, ["fc3", "fc2"]);
    assert!(insensitive.parameters_added <= insensitive.budget_parameters);
    assert!(sensitive.model_file.is_none() && insensitive.train_command.is_none(), "nothing written");
}

#[test]
fn blocks_start_as_identities_and_train_alone() {
    let original = Model::load(repo().join(MODEL), &[]).unwrap();
    let out = scratch("mlp");
    let report = placed(&original, Placement::Sensitive, Some(&out));
    let copy = out.join("mnist_mlp_deploy.anl");
    let blocks: Vec<String> = report.blocks.iter().map(|b| b.name.clone()).collect();
    assert_eq!(blocks, ["fc1_denoise"]);
    assert_eq!(
        report.train_command.as_deref(),
        Some(
            format!("analogc train {} --train fc1_denoise --out {}", copy.display(), out.join("trained").display())
                .as_str()
        )
    );

    // The copy checks clean (its relative paths reach the weights' and data's
    // folders from `out`) and holds the block's parameters.
    let inserted = Model::load(&copy, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(inserted.warnings().is_empty());
    let block = inserted.graph().nodes.iter().find(|n| n.name == "fc1_denoise").expect("the block");
    assert_eq!(block.params.iter().map(|p| p.value.len()).sum::<usize>(), report.blocks[0].parameters);
    assert!(block.params[0].value.data.iter().any(|w| *w != 0.0), "`down` is drawn");
    assert!(block.params[2..].iter().all(|p| p.value.data.iter().all(|w| *w == 0.0)), "`up` is zero");

    // Identity blocks: the same logits, bit for bit, clean and on a noisy
    // chip (the block adds no noise site, so every draw is the same), on the
    // JIT and the interpreter.
    let data = Data::open(&original, None, Some(64)).unwrap();
    for (backend, n) in [(Backend::Jit, 64), (Backend::Interp, 8)] {
        for trial in [None, Some(0), Some(3)] {
            assert_eq!(
                logits(inserted.graph(), &data, n, backend, trial),
                logits(original.graph(), &data, n, backend, trial),
                "{backend:?}, chip {trial:?}"
            );
        }
    }

    // Training the block alone under the deployment noise.
    let options = TrainOptions {
        epochs: 1,
        limit: Some(640),
        val: 200,
        lr: 3e-3,
        train: blocks.clone(),
        threads: 2,
        ..TrainOptions::default()
    };
    let mut trained: Weights = vec![];
    train(&inserted, None, &options, Control::none(), &mut |_, w| {
        trained = w.clone();
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let backbone: Vec<_> =
        original.unoptimized().unwrap().graph().nodes.iter().flat_map(|n| n.params.clone()).collect();
    for p in &backbone {
        let (_, t) = trained.iter().find(|(name, _)| *name == p.name).expect("every tensor is in the weights");
        let bits = |d: &[f32]| d.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&t.data), bits(&p.value.data), "`{}` changed", p.name);
    }
    let up = &trained.iter().find(|(name, _)| name == "fc1_denoise.up.weight").unwrap().1;
    assert!(up.data.iter().any(|w| *w != 0.0), "the block learned");

    // The trained weights in the model's graph: no worse on noisy chips.
    let mut graph = inserted.graph().clone();
    for p in graph.nodes.iter_mut().flat_map(|n| &mut n.params) {
        p.value = trained.iter().find(|(name, _)| *name == p.name).expect("trained").1.clone();
    }
    let (before, after) = (hits(original.graph(), &original, 1000, 2), hits(&graph, &original, 1000, 2));
    assert!(after >= before, "noisy hits before {before}, after {after}");
    let _ = std::fs::remove_dir_all(&out);
}
