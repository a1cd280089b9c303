//! The library API as a client uses it: load, data, evaluate, sweep, analyze,
//! with progress and cancellation supplied by the caller, and errors as data.
//! Its results are the CLI's (the CLI is a door onto the same calls).

mod support;

use analogc::analysis::{analyze_calibrated, CalibrateOptions};
use analogc::control::{Cancel, Control, Progress, Silent};
use analogc::diag::Code;
use analogc::sweep::{Kind, Sites};
use analogc::{evaluate, sweep, Data, Error, EvalOptions, Exec, Model, SweepOptions};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use support::repo;

const WALKING: &str = "examples/mnist_mlp_walking.anl";

fn exec() -> Exec {
    Exec { threads: 2, ..Exec::default() }
}

/// Counts what a computation reports.
#[derive(Default)]
struct Counter {
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for Counter {
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self, units: u64) {
        self.done.fetch_add(units, Ordering::Relaxed);
    }
}

/// Cancels after being asked `after` times.
struct After {
    after: u64,
    asked: AtomicU64,
}

impl Cancel for After {
    fn cancelled(&self) -> bool {
        self.asked.fetch_add(1, Ordering::Relaxed) >= self.after
    }
}

#[test]
fn evaluate_gives_the_numbers_eval_prints_and_counts_its_progress() {
    let model = Model::load(repo().join(WALKING), &["fc1.noise.sigma=5".into()]).unwrap();
    let data = Data::open(&model, None, Some(300)).unwrap();
    let counter = Counter::default();
    let control = Control { progress: &counter, cancel: &analogc::control::Never };
    let report = evaluate(&model, &data, &EvalOptions { trials: 3, batch: 64, exec: exec() }, control).unwrap();
    assert_eq!(counter.total.load(Ordering::Relaxed), 4 * 300);
    assert_eq!(counter.done.load(Ordering::Relaxed), 4 * 300);
    let cli = Command::new(env!("CARGO_BIN_EXE_analogc"))
        .args(["eval", WALKING, "--set", "fc1.noise.sigma=5", "--limit", "300", "--trials", "3", "--json"])
        .current_dir(repo())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    // Correct samples, from accuracies (serde_json parses floats to within an ulp).
    let hits = |a: f64| (a * 300.0).round() as usize;
    assert_eq!(hits(v["clean_accuracy"].as_f64().unwrap()), hits(report.clean_accuracy));
    let trials: Vec<usize> = report.trials.iter().map(|t| hits(t.accuracy)).collect();
    let cli_trials: Vec<usize> =
        v["trials"].as_array().unwrap().iter().map(|t| hits(t["accuracy"].as_f64().unwrap())).collect();
    assert_eq!(trials, cli_trials);
    assert!(trials.iter().any(|h| *h != hits(report.clean_accuracy)), "the noise changes something");
}

#[test]
fn a_cancelled_run_is_an_interrupted_error() {
    let model = Model::load(repo().join(WALKING), &[]).unwrap();
    let data = Data::open(&model, None, Some(2000)).unwrap();
    let cancel = After { after: 3, asked: AtomicU64::new(0) };
    let control = Control { progress: &Silent, cancel: &cancel };
    let err = evaluate(&model, &data, &EvalOptions { trials: 5, batch: 16, exec: exec() }, control).unwrap_err();
    assert_eq!(err.diagnostics()[0].code, Code::Interrupted, "{err}");
    assert!(!err.is_internal());
}

#[test]
fn bad_input_is_an_error_with_diagnostics_never_a_panic() {
    let err = Model::load(repo().join(WALKING), &["fc9.noise.sigma=1".into()]).err().expect("no layer fc9");
    let Error::User { diagnostics, .. } = &err else { panic!("a user error: {err}") };
    assert!(!diagnostics.is_empty());
    assert!(err.to_string().contains("fc9"), "{err}");
    let err = Model::load(repo().join("examples/profiles/aihwkit.anl"), &[]).err().expect("no model");
    assert_eq!(err.diagnostics()[0].code, Code::NoModel);
    let model = Model::load(repo().join(WALKING), &[]).unwrap();
    let err = Data::open(&model, Some("no-such-dataset"), None).err().expect("no dataset");
    assert_eq!(err.diagnostics()[0].code, Code::DataUnreadable);
}

#[test]
fn a_sweep_from_the_library_isolates_its_sites_and_merges_its_shards() {
    let model = Model::load(repo().join(WALKING), &[]).unwrap();
    let data = Data::open(&model, None, Some(100)).unwrap();
    let options = |shard| SweepOptions {
        sites: Sites::Mac,
        kind: Kind::Additive,
        ratio: 0.5,
        sigma: "0,100".into(),
        global: false,
        sweep: None,
        trials: 1,
        shard,
        exec: exec(),
    };
    let whole = sweep(&model, &data, &options(None), Control::none()).unwrap();
    assert_eq!(whole.sites, ["fc1", "fc2", "fc3"]);
    for s in 0..3 {
        // σ = 0 on one site and every other noise off: the clean network.
        assert_eq!(whole.hits[s][0].as_deref(), Some(&[whole.clean_hits][..]));
    }
    let shards: Vec<_> = (0..2)
        .map(|i| (format!("shard {i}").into(), sweep(&model, &data, &options(Some((i, 2))), Control::none()).unwrap()))
        .collect();
    let merged = analogc::sweep::merge::join(shards).unwrap();
    assert_eq!(merged, whole);
    assert_eq!(merged.csv(), whole.csv());
}

#[test]
fn calibrated_analysis_ranks_the_layer_with_the_larger_gain_first() {
    // fc2's weight is 2 × a signed permutation: |fc2(δ)| = 2|δ| for every δ.
    let model = Model::load(repo().join("tests/fixtures/analyze/two_layers.anl"), &[]).unwrap();
    let data = Data::open(&model, None, None).unwrap();
    let options = CalibrateOptions { trials: 1, calibrate_limit: 1000, midpoints: None, exec: exec() };
    let report = analyze_calibrated(&model, &data, &options, Control::none()).unwrap();
    let sensitivity =
        |name: &str| report.layers.iter().find(|l| l.name == name).unwrap().sensitivity.flatten().unwrap();
    assert!((sensitivity("fc") - 2.0).abs() < 1e-6);
    assert!((sensitivity("fc2") - 1.0).abs() < 1e-6);
    let ranking: Vec<&str> = report.denoise.as_ref().unwrap().ranking.iter().map(|r| r.layer.as_str()).collect();
    assert_eq!(ranking, ["fc", "fc2"]);
}

#[test]
fn models_engines_and_results_can_be_shared_between_threads() {
    // What a binding that releases its interpreter lock (Python's GIL) relies on.
    fn shared<T: Send + Sync>() {}
    shared::<Model>();
    shared::<analogc::Engine>();
    shared::<analogc::EvalReport>();
    shared::<analogc::SweepResult>();
    shared::<Error>();
}
