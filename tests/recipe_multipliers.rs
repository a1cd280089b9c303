//! Recipe 5 (`docs/training.md`) at small scale: the int8 MNIST MLP with
//! every product through `truncated(10)`, the most aggressive multiplier of
//! the recipe, fine-tuned through it on 500 images. On the first 1,000 test
//! images it goes from 91.1% to 95.3% (at full scale, 90.3% to 96.8%); the
//! test asks for 2 points.

mod support;

use support::{analogc_ok, json_number};

const MODEL: &str = "examples/mnist_mlp_approx.anl";
const MULTIPLIER: [&str; 6] = [
    "--set",
    "fc1.multiplier=truncated(10)",
    "--set",
    "fc2.multiplier=truncated(10)",
    "--set",
    "fc3.multiplier=truncated(10)",
];

fn analogc(args: &[&str]) -> String {
    analogc_ok(env!("CARGO_BIN_EXE_analogc"), args)
}

fn accuracy(extra: &[&str]) -> f64 {
    let mut args = vec!["eval", MODEL, "--limit", "1000", "--trials", "1", "--json"];
    args.extend_from_slice(&MULTIPLIER);
    args.extend_from_slice(extra);
    json_number(&analogc(&args), "clean_accuracy")
}

#[test]
fn fine_tuning_through_an_aggressive_multiplier_recovers_accuracy() {
    let dir = std::env::temp_dir().join(format!("analogc-recipe-multipliers-{}", std::process::id()));
    let out = dir.to_str().expect("a utf-8 path");
    let mut args = vec!["train", MODEL, "--epochs", "1", "--limit", "600", "--val", "100", "--lr", "3e-4"];
    args.extend_from_slice(&["--seed", "1", "--threads", "2", "--out", out]);
    args.extend_from_slice(&MULTIPLIER);
    analogc(&args);
    let weights = format!("{out}/mnist_mlp_approx.safetensors");
    let (before, after) = (accuracy(&[]), accuracy(&["--weights", &weights]));
    std::fs::remove_dir_all(&dir).ok();
    assert!(after > before + 0.02, "before {before}, after fine-tuning {after}");
}
