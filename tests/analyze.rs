//! `analogc analyze --calibrate` and `analogc fit-ame`: every figure against
//! its definition in docs/analysis.md, on fixtures small enough to compute by
//! hand (`tests/fixtures/analyze/`), and against `eval` where a figure is an
//! accuracy.

mod support;

use analog_runtime::multiplier::{self, Design};
use serde_json::Value;
use std::process::{Command, Output};
use support::repo;

fn analogc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_analogc")).args(args).current_dir(repo()).output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(args: &[&str]) -> Value {
    let out = analogc(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn close(got: &Value, want: f64, rel: f64) {
    let g = got.as_f64().unwrap_or_else(|| panic!("not a number: {got}"));
    assert!((g - want).abs() <= rel * want.abs().max(1e-30), "{g} vs {want}");
}

fn layer<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["layers"].as_array().unwrap().iter().find(|l| l["name"] == name).expect(name)
}

#[test]
fn calibration_figures_match_hand_computed_values() {
    let r = json(&["analyze", "tests/fixtures/analyze/int8.anl", "--calibrate", "--json"]);
    let c = &r["calibration"];
    assert_eq!(c["samples"], 2);

    // Activations of the input: the 8 values of data/ds_ok, [0.5, −1, 2, 0] and [1, 1.5, −0.5, 3].
    let x = &c["activations"][0];
    assert_eq!((x["name"].as_str(), x["min"].as_f64(), x["max"].as_f64()), (Some("x"), Some(-1.0), Some(3.0)));
    close(&x["mean_abs"], 9.5 / 8.0, 1e-12);
    close(&x["rms"], ((0.25 + 1.0 + 4.0 + 1.0 + 2.25 + 0.25 + 9.0) / 8.0f64).sqrt(), 1e-12);
    // Nearest rank: the ⌈0.999·8⌉ = 8th smallest |x|.
    assert_eq!(x["p99_9_abs"].as_f64(), Some(3.0));
    // Of the layer: the values `analogc run` prints for the same two samples.
    let run = analogc(&["run", "tests/fixtures/analyze/int8.anl", "--input", "tests/fixtures/data/input_f32_2x4.npy"]);
    let y: Vec<f64> = text(&run.stdout)
        .lines()
        .flat_map(|l| {
            // `y[0] = [a, b, c]  argmax 1`
            let inside = &l[l.find("= [").unwrap() + 3..l.rfind(']').unwrap()];
            inside.split(", ").map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(y.len(), 6);
    let fc = &c["activations"][1];
    close(&fc["min"], y.iter().copied().fold(f64::INFINITY, f64::min), 1e-7);
    close(&fc["max"], y.iter().copied().fold(f64::NEG_INFINITY, f64::max), 1e-7);
    close(&fc["mean_abs"], y.iter().map(|v| v.abs()).sum::<f64>() / 6.0, 1e-6);

    // The operand pairs: x codes round(x / 0.02) clamped to ±127, weight codes
    // round(w / (0.3/127)) of tiny.safetensors' rows.
    let x_codes = [[25, -50, 100, 0], [50, 75, -25, 127]];
    let w_codes = [[-127, -85, -42, 0], [42, 85, 127, -127], [-85, -42, 0, 42]];
    let errors: Vec<f64> = x_codes
        .iter()
        .flat_map(|x| w_codes.iter().flat_map(move |w| x.iter().zip(w).map(|(a, b)| (*a, *b))))
        .map(|(a, b)| (multiplier::product(Design::Drum { k: 3 }, a, b, true) - a * b) as f64)
        .collect();
    assert_eq!(errors.len(), 24);
    let mu = errors.iter().sum::<f64>() / 24.0;
    let sigma = (errors.iter().map(|e| (e - mu).powi(2)).sum::<f64>() / 24.0).sqrt();
    let d = &layer(&r, "fc")["multiplier"]["data_weighted"];
    assert_eq!(d["pairs"], 24);
    close(&d["mean_error"], mu, 1e-12);
    close(&d["error_std"], sigma, 1e-12);
    close(&d["output_bias"], 4.0 * mu, 1e-12);
    close(&d["output_spread"], 2.0 * sigma, 1e-12);
    let (s_x, s_w) = ((2.54f32 / 127.0) as f64, (0.3f32 / 127.0) as f64);
    close(&d["s_x"], s_x, 1e-7);
    close(&d["s_w"], s_w, 1e-7);
    let error = s_x * s_w * ((4.0 * mu).powi(2) + 4.0 * sigma * sigma).sqrt();
    close(&d["output_error"], error, 1e-6);
    // The layer is the output: noise on it reaches the output unchanged, and
    // the AME is its error.
    close(&layer(&r, "fc")["sensitivity"], 1.0, 1e-6);
    close(&r["ame"], error, 1e-6);
}

#[test]
fn abfp_clipping_is_the_share_of_conversions_beyond_full_scale() {
    // Tiles of 2, gain 2: v = p. Of the 3 rows × 2 tiles × 2 samples, the tile
    // products of sample 1 in tile 0 (|p| = 1.34, 1.34, 1.17) and of row 1 in
    // tile 1 (p = −1.17) exceed 1; three others are exactly ±1 and do not clip.
    let r = json(&["analyze", "tests/fixtures/analyze/abfp.anl", "--calibrate", "--json"]);
    let clip = &layer(&r, "fc")["abfp"]["clipping"];
    assert_eq!((clip["conversions"].as_u64(), clip["clipped"].as_u64()), (Some(12), Some(4)));
    close(&clip["rate"], 1.0 / 3.0, 1e-12);
    // At gain 1 (v = p/2, |p| ≤ 2) nothing clips.
    let r = json(&["analyze", "tests/fixtures/analyze/abfp.anl", "--calibrate", "--set", "fc.format.gain=1", "--json"]);
    assert_eq!(layer(&r, "fc")["abfp"]["clipping"]["clipped"], 0);
}

#[test]
fn sensitivity_is_the_gain_from_a_layer_to_the_output() {
    // fc2's weight is 2 × a signed permutation: |fc2(δ)| = 2|δ| for every δ.
    let r = json(&["analyze", "tests/fixtures/analyze/two_layers.anl", "--calibrate", "--json"]);
    close(&layer(&r, "fc")["sensitivity"], 2.0, 1e-6);
    close(&layer(&r, "fc2")["sensitivity"], 1.0, 1e-6);
    let ranking: Vec<&str> =
        r["denoise"]["ranking"].as_array().unwrap().iter().map(|e| e["layer"].as_str().unwrap()).collect();
    assert_eq!(ranking, ["fc", "fc2"]);
}

#[test]
fn the_interpreter_calibrates_a_subset_and_denoise_gains_use_every_sample() {
    let m = "examples/mnist_mlp_walking.anl";
    let r = json(&["analyze", m, "--calibrate", "--limit", "90", "--calibrate-limit", "30", "--json"]);
    assert_eq!(r["calibration"]["samples"], 30);
    assert_eq!(r["denoise"]["samples"], 90);
    // The gains' baseline is eval's accuracy on all 90 samples.
    let eval = eval_accuracy(&[m, "--limit", "90", "--trials", "1"]);
    close(&r["denoise"]["accuracy"], eval, 1e-12);
    let r = json(&["analyze", m, "--calibrate", "--limit", "20", "--calibrate-limit", "30", "--json"]);
    assert_eq!((r["calibration"]["samples"].as_u64(), r["denoise"]["samples"].as_u64()), (Some(20), Some(20)));
}

/// `eval`'s mean accuracy over trials, as JSON.
fn eval_accuracy(args: &[&str]) -> f64 {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    all.push("--json");
    json(&all)["accuracy"]["mean"].as_f64().unwrap()
}

#[test]
fn denoise_gain_is_the_accuracy_eval_measures_without_the_layers_noise() {
    let file = "examples/mnist_mlp_walking.anl";
    let common = ["--limit", "150", "--trials", "2", "--seed", "7", "--set", "fc1.noise.sigma=4"];
    let mut args = vec!["analyze", file, "--calibrate", "--json"];
    args.extend_from_slice(&common);
    let r = json(&args);
    let d = &r["denoise"];
    let base = eval_accuracy(&[&[file][..], &common].concat());
    close(&d["accuracy"], base, 1e-12);
    let fc1 = d["ranking"].as_array().unwrap().iter().find(|e| e["layer"] == "fc1").unwrap();
    let quiet = eval_accuracy(&[&[file][..], &common, &["--set", "fc1.noise=none"]].concat());
    close(&fc1["gain"], quiet - base, 1e-9);
    assert!(fc1["gain"].as_f64().unwrap() > 0.0, "σ = 4 on fc1 costs accuracy: {fc1}");
}

#[test]
fn sweep_midpoints_rank_the_layers_when_given() {
    let dir = std::env::temp_dir().join(format!("analogc-analyze-sweep-{}", std::process::id()));
    let out = analogc(&[
        "sweep",
        "tests/fixtures/analyze/two_layers.anl",
        "--sigma",
        "0.01,1,100",
        "--trials",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = json(&[
        "analyze",
        "tests/fixtures/analyze/two_layers.anl",
        "--calibrate",
        "--sweep-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["denoise"]["ranked_by"], "midpoint");
    // The other model's sweep is refused.
    let out =
        analogc(&["analyze", "tests/fixtures/analyze/int8.anl", "--calibrate", "--sweep-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error[E0018]"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn calibration_does_not_depend_on_the_thread_count() {
    let run = |threads: &str| {
        let mut v = json(&[
            "analyze",
            "examples/mnist_mlp_approx.anl",
            "--calibrate",
            "--limit",
            "40",
            "--threads",
            threads,
            "--json",
        ]);
        v["calibration"]["seconds"] = Value::Null;
        v
    };
    assert_eq!(run("1"), run("3"));
}

#[test]
fn fit_ame_accuracies_are_evals_and_its_ames_are_analyzes() {
    let file = "tests/fixtures/analyze/int8.anl";
    let specs = ["exact", "drum(3)", "truncated(bits = 9)", "mitchell", "truncated(12)"];
    let r = json(&["fit-ame", file, "--multipliers", &specs.join(","), "--json"]);
    let rows = r["multipliers"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["ame"], 0.0);
    for (row, spec) in rows.iter().zip(specs) {
        assert_eq!(row["multiplier"], spec);
        let set = format!("fc.multiplier={spec}");
        close(&row["accuracy"], eval_accuracy(&[file, "--trials", "1", "--set", &set]), 1e-12);
        // One int8 layer, fed by the input: its operands do not depend on the
        // multiplier, so analyze's AME (traced with it) is fit-ame's (traced exact).
        let a = json(&["analyze", file, "--calibrate", "--set", &set, "--json"]);
        match spec {
            "exact" => assert!(a["ame"].as_f64().unwrap_or(0.0) == 0.0),
            _ => close(&row["ame"], a["ame"].as_f64().unwrap(), 1e-12),
        }
    }
    // The left-out deviation is the mean of the per-multiplier ones.
    let devs: Vec<f64> = rows.iter().map(|m| m["left_out_deviation"].as_f64().unwrap()).collect();
    close(&r["fit"]["left_out_mean_abs_deviation"], devs.iter().sum::<f64>() / 5.0, 1e-12);
    // The fit is the least-squares quadratic: its residuals are orthogonal to 1, AME, AME².
    let fit = &r["fit"];
    let (c0, c1, c2) = (fit["c0"].as_f64().unwrap(), fit["c1"].as_f64().unwrap(), fit["c2"].as_f64().unwrap());
    for power in 0..3 {
        let dot: f64 = rows
            .iter()
            .map(|m| {
                let (x, y) = (m["ame"].as_f64().unwrap(), m["accuracy"].as_f64().unwrap());
                (y - (c0 + c1 * x + c2 * x * x)) * x.powi(power)
            })
            .sum();
        assert!(dot.abs() < 1e-9, "residuals · AME^{power} = {dot}");
    }
}

#[test]
fn fit_ame_refuses_what_it_cannot_fit() {
    let err = |args: &[&str], code: &str| {
        let out = analogc(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let e = text(&out.stderr);
        assert!(e.contains(&format!("error[{code}]")), "{args:?}: {e}");
        assert!(out.stdout.is_empty());
    };
    let four = "exact,drum(3),drum(4),mitchell";
    // No int8 layer.
    err(&["fit-ame", "examples/mnist_mlp_walking.anl", "--multipliers", four], "E0019");
    // Too few multipliers for a checked quadratic; an empty one; no trial.
    err(&["fit-ame", "tests/fixtures/analyze/int8.anl", "--multipliers", "exact,drum(3),drum(4)"], "E0018");
    err(&["fit-ame", "tests/fixtures/analyze/int8.anl", "--multipliers", "exact,,drum(4),mitchell"], "E0018");
    err(&["fit-ame", "tests/fixtures/analyze/int8.anl", "--multipliers", four, "--trials", "0"], "E0020");
    // A multiplier that is not one: the front end's diagnostics, in the `--set` text.
    err(&["fit-ame", "tests/fixtures/analyze/int8.anl", "--multipliers", "exact,drum(3),drum(4),mitchel"], "E0111");
    err(&["fit-ame", "tests/fixtures/analyze/int8.anl", "--multipliers", "exact,drum(3),drum(4),drum(k = 2)"], "E0303");
    // A dataset that does not fit.
    err(
        &["fit-ame", "tests/fixtures/analyze/int8.anl", "--multipliers", four, "--data", "tests/fixtures/data/ds_wide"],
        "E0803",
    );
}

#[test]
fn analyze_calibrate_refuses_bad_options() {
    let err = |args: &[&str], code: &str| {
        let out = analogc(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(&format!("error[{code}]")), "{args:?}: {}", text(&out.stderr));
    };
    let f = "tests/fixtures/analyze/int8.anl";
    err(&["analyze", f, "--calibrate", "--trials", "0"], "E0020");
    err(&["analyze", f, "--calibrate", "--sweep-dir", "no/such/sweep"], "E0018");
    err(&["analyze", f, "--calibrate", "no/such/data"], "E0801");
    err(&["analyze", f, "--calibrate", "tests/fixtures/data/ds_wide"], "E0803");
    // A model without `data` and no DATA given.
    err(&["analyze", "tests/fixtures/cli-only/E0701-input-unreadable.anl", "--calibrate"], "E0801");
}

#[test]
fn calibrate_runs_on_every_example() {
    for file in support::anl_files(&repo().join("examples")).iter().filter(|f| !f.starts_with("profiles")) {
        let path = format!("examples/{}", file.display());
        let r = json(&["analyze", &path, "--calibrate", "--limit", "10", "--json"]);
        let int8 = r["layers"].as_array().unwrap().iter().any(|l| l["multiplier"].get("data_weighted").is_some());
        assert_eq!(r["ame"].is_number(), int8, "{path}: an AME exactly when there are int8 layers");
        assert!(r["denoise"]["ranking"].as_array().is_some_and(|a| !a.is_empty()), "{path}");
    }
}
