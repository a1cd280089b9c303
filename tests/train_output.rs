//! What training writes and starts from, without the training engine: a run
//! folder fed hand-made epochs (files, safetensors round trip, a model copy
//! that checks and evaluates like the original), models without weights, and
//! no partial files after a failed write.

mod support;

use analog_runtime::tensor::Tensor;
use analog_runtime::weights::WeightsFile;
use analogc::check;
use analogc::control::Control;
use analogc::train::output::{RunFolder, RunSettings};
use analogc::train::{EpochRecord, TrainOptions, Weights};
use analogc::{evaluate, Data, EvalOptions, Exec, Model};
use std::path::{Path, PathBuf};
use support::repo;

/// A fresh, empty folder under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("analogc-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn record(epoch: u32) -> EpochRecord {
    EpochRecord {
        epoch,
        loss: 1.0 / epoch as f64,
        train_accuracy: 0.9,
        val_accuracy_clean: 0.91,
        val_accuracy_hardware: 0.88,
        lr: 1e-3,
        seconds: 2.0,
        samples_per_second: 1000.0,
        layers: vec![],
    }
}

/// The model's weights of the layers `names`, as the graph holds them.
fn weights_of(model: &Model, names: &[&str]) -> Weights {
    let g = model.graph();
    g.nodes
        .iter()
        .filter(|n| names.contains(&n.name.as_str()))
        .flat_map(|n| n.params.iter().map(|p| (p.name.clone(), p.value.clone())))
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn settings(model: &Model) -> RunSettings {
    RunSettings::new(model, &TrainOptions::default())
}

fn accuracies(model: &Model) -> (f64, f64) {
    let data = Data::open(model, None, Some(200)).unwrap();
    let options = EvalOptions { trials: 2, batch: 64, exec: Exec { threads: 2, ..Exec::default() } };
    let r = evaluate(model, &data, &options, Control::none()).unwrap();
    (r.clean_accuracy, r.accuracy.mean)
}

#[test]
fn a_run_folder_holds_weights_a_model_copy_the_log_and_the_curves() {
    let out = scratch("folder");
    let model = Model::load(repo().join("examples/mnist_mlp.anl"), &[]).unwrap();
    let mut folder = RunFolder::create(&out, &model, settings(&model)).unwrap();
    assert_eq!(files_in(&out), [".analogc.lock"], "nothing is written before the first epoch");

    // Epoch 1: fc1 "trained" (scaled), the rest of the file carried over unchanged.
    let mut trained = weights_of(&model, &["fc1"]);
    trained[0].1.data.iter_mut().for_each(|v| *v *= 0.5);
    folder.epoch(&record(1), &trained).unwrap();
    // Epoch 2: fc1 as the file has it.
    let same = weights_of(&model, &["fc1"]);
    folder.epoch(&record(2), &same).unwrap();
    assert_eq!(
        files_in(&out),
        [
            ".analogc.lock",
            "layers.csv",
            "mnist_mlp.anl",
            "mnist_mlp.safetensors",
            "train.csv",
            "train.json",
            "train.png",
            "train.svg"
        ]
    );

    // Every tensor of the original file is there: fc1's as given, the others bit for bit.
    let written = WeightsFile::load(&out.join("mnist_mlp.safetensors")).unwrap();
    let original = WeightsFile::load(&repo().join("examples/weights/mnist_mlp.safetensors")).unwrap();
    let names = |w: &WeightsFile| w.tensors.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&written), names(&original));
    for (name, t) in &original.tensors {
        let w = &written.tensors[name];
        assert_eq!((&w.dtype, &w.shape), (&t.dtype, &t.shape), "{name}");
        let bits = |t: &Tensor| t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(w.values.as_ref().unwrap()), bits(t.values.as_ref().unwrap()), "{name}");
    }
    let bytes = std::fs::read(out.join("mnist_mlp.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["epoch"], "2");

    // The log: one row per epoch, the settings beside them.
    let csv = std::fs::read_to_string(out.join("train.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.lines().nth(2).unwrap().starts_with("2,0.5,0.9,0.91,0.88,0.001,2,1000"), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train.json")).unwrap()).unwrap();
    assert_eq!(json["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(json["epochs"][1]["val_accuracy_hardware"], 0.88);
    assert_eq!(json["settings"]["optimizer"], "adam");
    assert!(std::fs::read_to_string(out.join("train.svg")).unwrap().starts_with("<svg"));

    // The copy checks, finds its imports, tables and data from the new folder,
    // and evaluates exactly as the original does.
    let copy = Model::load(out.join("mnist_mlp.anl"), &[]).unwrap();
    assert!(copy.warnings().is_empty());
    assert_eq!(accuracies(&copy), accuracies(&model));
    drop(folder);
    let _ = std::fs::remove_dir_all(&out);
}

const UNTRAINED: &str = "model tiny {
  input x: f32[4]
  fc = dense(x, 3, weight = \"w1\")
  bn = batchnorm(fc)
  output y = bn
}
";

fn untrained() -> check::Options {
    check::Options { untrained: true, ..check::Options::default() }
}

#[test]
fn a_model_without_weights_checks_as_untrained_with_zero_tensors() {
    let dir = scratch("untrained");
    let file = dir.join("tiny.anl");
    std::fs::write(&file, UNTRAINED).unwrap();
    let err = Model::load(&file, &[]).err().expect("E0601 without the option");
    assert_eq!(err.diagnostics()[0].code.as_str(), "E0601");

    let model = Model::load_unoptimized(&file, &[], untrained()).unwrap();
    assert!(!model.has_weights_file());
    let params: Vec<(String, Vec<usize>, bool)> = model
        .graph()
        .nodes
        .iter()
        .flat_map(|n| &n.params)
        .map(|p| (p.name.clone(), p.value.shape.clone(), p.value.data.iter().all(|v| *v == 0.0)))
        .collect();
    let expected = [
        ("w1", vec![3, 4]),
        ("fc.bias", vec![3]),
        ("bn.weight", vec![3]),
        ("bn.bias", vec![3]),
        ("bn.running_mean", vec![3]),
        ("bn.running_var", vec![3]),
    ];
    assert_eq!(params, expected.map(|(n, s)| (n.to_string(), s, true)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_copy_of_a_model_without_weights_names_the_runs_and_checks_clean() {
    let dir = scratch("untrained-copy");
    let file = dir.join("tiny.anl");
    std::fs::write(&file, UNTRAINED).unwrap();
    let model = Model::load_unoptimized(&file, &[], untrained()).unwrap();
    let out = dir.join("run");
    let mut folder = RunFolder::create(&out, &model, settings(&model)).unwrap();
    let mut weights = weights_of(&model, &["fc", "bn"]);
    weights[0].1.data.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 / 10.0);
    folder.epoch(&record(1), &weights).unwrap();
    let copy = std::fs::read_to_string(out.join("tiny.anl")).unwrap();
    assert!(copy.starts_with("model tiny {\n  weights \"tiny.safetensors\"\n  input x: f32[4]\n"), "{copy}");
    let copy = Model::load_unoptimized(out.join("tiny.anl"), &[], check::Options::default()).unwrap();
    assert!(copy.has_weights_file());
    let w1 = &copy.graph().nodes[1].params[0];
    assert_eq!((w1.name.as_str(), w1.value.data[7]), ("w1", 0.7));
    drop(folder);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_folder_that_would_replace_the_model_is_refused() {
    let dir = scratch("refused");
    let file = dir.join("tiny.anl");
    std::fs::write(&file, UNTRAINED).unwrap();
    let model = Model::load_unoptimized(&file, &[], untrained()).unwrap();
    let err = RunFolder::create(&dir, &model, settings(&model)).err().expect("refused");
    assert_eq!(err.diagnostics()[0].code.as_str(), "E1001");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UNTRAINED);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_write_leaves_no_partial_file_and_no_later_file() {
    let dir = scratch("failed");
    let file = dir.join("tiny.anl");
    std::fs::write(&file, UNTRAINED).unwrap();
    let model = Model::load_unoptimized(&file, &[], untrained()).unwrap();
    let out = dir.join("run");
    let mut folder = RunFolder::create(&out, &model, settings(&model)).unwrap();
    // A folder where the weights file goes: the first write of the epoch fails.
    std::fs::create_dir(out.join("tiny.safetensors")).unwrap();
    let err = folder.epoch(&record(1), &weights_of(&model, &["fc", "bn"])).unwrap_err();
    assert_eq!(err.diagnostics()[0].code.as_str(), "E0705");
    assert_eq!(files_in(&out), [".analogc.lock", "tiny.safetensors"]);
    drop(folder);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_held_run_folder_is_busy() {
    let dir = scratch("busy");
    let file = dir.join("tiny.anl");
    std::fs::write(&file, UNTRAINED).unwrap();
    let model = Model::load_unoptimized(&file, &[], untrained()).unwrap();
    let out = dir.join("run");
    let held = RunFolder::create(&out, &model, settings(&model)).unwrap();
    let err = RunFolder::create(&out, &model, settings(&model)).err().expect("busy");
    assert_eq!(err.diagnostics()[0].code.as_str(), "E0708");
    drop(held);
    assert!(RunFolder::create(&out, &model, settings(&model)).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_layers_that_learn_are_chosen_by_name() {
    let model = Model::load(repo().join("examples/mnist_mlp.anl"), &[]).unwrap();
    let chosen = |train: &[&str], freeze: &[&str]| {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        TrainOptions { train: strings(train), freeze: strings(freeze), ..TrainOptions::default() }
            .trained_layers(&model)
    };
    assert_eq!(chosen(&[], &[]).unwrap(), ["fc1", "fc2", "fc3"]);
    assert_eq!(chosen(&["fc3", "fc2"], &["fc3"]).unwrap(), ["fc2"]);
    assert_eq!(chosen(&[], &["fc1"]).unwrap(), ["fc2", "fc3"]);
    let err = chosen(&["fc9"], &[]).unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(d.code.as_str(), "E1002");
    assert!(err.to_string().contains("did you mean `fc1`?"), "{err}");
    assert_eq!(chosen(&[], &["h1"]).unwrap_err().diagnostics()[0].code.as_str(), "E1002");
    assert_eq!(chosen(&["fc1"], &["fc1"]).unwrap_err().diagnostics()[0].code.as_str(), "E1003");
}
