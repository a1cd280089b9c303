//! A training run's folder (`analogc train --out DIR`), rewritten after every
//! epoch: the weights as `<model stem>.safetensors`, a copy of the model file
//! that points at them, the per-epoch log `train.csv` and `train.json`, and
//! the per-layer log `layers.csv`, and the curves `train.svg` and `train.png`.
//!
//! Each file is written atomically (a temporary file renamed over it), in this
//! order: the weights, the model copy, the log, the plots. The weights file is
//! the checkpoint and says which epoch it holds (its safetensors metadata
//! `epoch`); the log follows it. An interruption or a failure between two files
//! leaves every file whole, with the weights at most one epoch ahead of the
//! log, never behind it.

pub(crate) mod model_copy;
mod plot;

use super::dnf::Dnf;
use super::{Chip, EpochRecord, Init, TrainOptions, TrainReport, Weights};
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::files::{write_atomic, Lock};
use crate::json::to_sorted_json;
use crate::model::Model;
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A run's settings as `train.json` records them.
#[derive(Clone, Debug, Serialize)]
pub struct RunSettings {
    /// The model file, as given.
    pub model: String,
    /// Its `--set` overrides (the model copy is the file as written, without them).
    pub set: Vec<String>,
    pub epochs: u32,
    pub batch: usize,
    pub lr: f64,
    /// `sgd`, `adam` or `adamw`.
    pub optimizer: &'static str,
    pub momentum: Option<f64>,
    pub nesterov: Option<bool>,
    pub betas: Option<[f64; 2]>,
    pub eps: Option<f64>,
    pub weight_decay: f64,
    /// `constant`, `cosine` or `step`.
    pub schedule: &'static str,
    pub step_every: Option<u64>,
    pub step_factor: Option<f64>,
    pub clip: Option<f64>,
    pub init: Init,
    pub train: Vec<String>,
    pub freeze: Vec<String>,
    pub val: usize,
    pub limit: Option<usize>,
    pub seed: u64,
    /// `fresh` or `fixed`.
    pub chip: &'static str,
    /// `--dnf`: how often the error is measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnf: Option<Dnf>,
}

impl RunSettings {
    pub fn new(model: &Model, options: &TrainOptions) -> RunSettings {
        let (optimizer, momentum, nesterov, betas, eps, weight_decay) = match options.optimizer {
            Optimizer::Sgd { momentum, nesterov, weight_decay } => {
                ("sgd", Some(momentum), Some(nesterov), None, None, weight_decay)
            }
            Optimizer::Adam { beta1, beta2, eps, weight_decay } => {
                ("adam", None, None, Some([beta1, beta2]), Some(eps), weight_decay)
            }
            Optimizer::AdamW { beta1, beta2, eps, weight_decay } => {
                ("adamw", None, None, Some([beta1, beta2]), Some(eps), weight_decay)
            }
        };
        let (schedule, step_every, step_factor) = match options.schedule {
            Schedule::Constant => ("constant", None, None),
            Schedule::Cosine => ("cosine", None, None),
            Schedule::Step { factor, period } => ("step", Some(period), Some(factor)),
        };
        RunSettings {
            model: model.file().display().to_string(),
            set: model.settings().to_vec(),
            epochs: options.epochs,
            batch: options.batch,
            lr: options.lr,
            optimizer,
            momentum,
            nesterov,
            betas,
            eps,
            weight_decay,
            schedule,
            step_every,
            step_factor,
            clip: options.clip,
            init: options.init,
            train: options.train.clone(),
            freeze: options.freeze.clone(),
            val: options.val,
            limit: options.limit,
            seed: options.seed,
            chip: match options.chip {
                Chip::Fresh => "fresh",
                Chip::Fixed => "fixed",
            },
            dnf: options.dnf,
        }
    }
}

/// `train.json`: the settings and every epoch so far.
#[derive(Serialize)]
struct Log<'a> {
    settings: &'a RunSettings,
    epochs: &'a [EpochRecord],
}

/// A tensor of the model's own weights file, as stored.
pub(crate) struct Stored {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// The folder of one run, held (locked) while it is written.
pub struct RunFolder {
    lock: Lock,
    weights_path: PathBuf,
    model_path: PathBuf,
    /// The model copy's text: the same for every epoch.
    model_text: String,
    /// The plots' title.
    title: String,
    /// The tensors of the model's weights file, carried over when training does
    /// not produce them (a PyTorch state dict's `num_batches_tracked`…).
    original: Vec<Stored>,
    settings: RunSettings,
    epochs: Vec<EpochRecord>,
}

fn unwritable(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::user(Code::OutputUnwritable, format!("cannot write `{}`: {e}", path.display()))
}

impl RunFolder {
    /// Takes the folder `out` (created if need be; E0708 if another run holds
    /// it) for a run of `model`. Nothing is written before the first epoch.
    /// A folder where the run's files would replace the model file or its
    /// weights file is refused (E1001).
    pub fn create(out: &Path, model: &Model, settings: RunSettings) -> Result<RunFolder> {
        let lock = Lock::take(out)?;
        let (name, stem) = file_names(model);
        let dir = std::fs::canonicalize(out).map_err(|e| unwritable(out, e))?;
        let model_path = dir.join(&name);
        let weights_path = dir.join(format!("{stem}.safetensors"));
        refuse_replacing(model, out, &model_path, &weights_path, Code::BadTrainOption)?;
        let model_dir = model_dir(model).map_err(|e| unwritable(out, e))?;
        let model_text = model_copy::text(model.source_text(), &model_dir, &dir, &format!("{stem}.safetensors"));
        let original = match model.weights_file() {
            Some(path) => read_original(path)?,
            None => vec![],
        };
        let title = format!("{}: loss and accuracy per epoch", model.name());
        Ok(RunFolder { lock, weights_path, model_path, model_text, title, original, settings, epochs: vec![] })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.lock.dir()
    }

    /// Records an epoch: writes its weights, the model copy, the log and the plots.
    pub fn epoch(&mut self, record: &EpochRecord, weights: &Weights) -> Result<()> {
        let bytes = self.safetensors(record.epoch, weights)?;
        write_atomic(&self.weights_path, &bytes).map_err(|e| unwritable(&self.weights_path, e))?;
        write_atomic(&self.model_path, self.model_text.as_bytes()).map_err(|e| unwritable(&self.model_path, e))?;
        self.epochs.push(record.clone());
        let dir = self.lock.dir();
        let log = Log { settings: &self.settings, epochs: &self.epochs };
        let svg = plot::svg(&self.epochs, &self.title).map_err(|e| unwritable(&dir.join("train.svg"), e))?;
        for (name, bytes) in [
            ("train.csv", csv(&self.epochs).into_bytes()),
            ("layers.csv", layers_csv(&self.epochs).into_bytes()),
            ("train.json", format!("{}\n", to_sorted_json(&log, true)).into_bytes()),
            ("train.svg", svg.into_bytes()),
        ] {
            let path = dir.join(name);
            write_atomic(&path, &bytes).map_err(|e| unwritable(&path, e))?;
        }
        let png = dir.join("train.png");
        plot::png(&self.epochs, &self.title, &png).map_err(|e| unwritable(&png, e))
    }

    /// Writes the finished run's report as `report.json`.
    pub fn finish(&self, report: &TrainReport) -> Result<()> {
        let path = self.lock.dir().join("report.json");
        write_atomic(&path, format!("{}\n", to_sorted_json(report, true)).as_bytes()).map_err(|e| unwritable(&path, e))
    }

    /// The weights file: every tensor of `weights` (f32), then the original
    /// file's others unchanged; the epoch in the metadata.
    fn safetensors(&self, epoch: u32, weights: &Weights) -> Result<Vec<u8>> {
        let metadata = HashMap::from([("epoch".to_string(), epoch.to_string())]);
        safetensors_file(weights, &self.original, metadata)
    }
}

/// A safetensors file: every tensor of `weights` (f32), then those of
/// `original` that `weights` does not hold, unchanged; with `metadata`.
pub(crate) fn safetensors_file(
    weights: &Weights,
    original: &[Stored],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let trained: Vec<Vec<u8>> =
        weights.iter().map(|(_, t)| t.data.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = vec![];
    let internal = |name: &str, e: safetensors::SafeTensorError| Error::Internal(format!("tensor `{name}`: {e}"));
    for ((name, t), bytes) in weights.iter().zip(&trained) {
        let view =
            safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), bytes).map_err(|e| internal(name, e))?;
        views.push((name.clone(), view));
    }
    for s in original.iter().filter(|s| !weights.iter().any(|(n, _)| *n == s.name)) {
        let view = safetensors::tensor::TensorView::new(s.dtype, s.shape.clone(), &s.bytes)
            .map_err(|e| internal(&s.name, e))?;
        views.push((s.name.clone(), view));
    }
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Internal(format!("safetensors: {e}")))
}

/// The model file's name in a folder of the model's copy (`mnist_mlp.anl`),
/// and the stem its weights are named by there (`mnist_mlp`).
pub(crate) fn file_names(model: &Model) -> (String, String) {
    let name = model.file().file_name().map_or("model.anl".into(), |n| n.to_string_lossy().into_owned());
    let stem = Path::new(&name).file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    (name, stem)
}

/// The folder of the model file, absolute (its links resolved when it exists).
pub(crate) fn model_dir(model: &Model) -> std::io::Result<PathBuf> {
    let file = std::path::absolute(model.file())?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    Ok(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()))
}

/// Refuses (with `code`) a folder `out` where the files `model_path` and
/// `weights_path` would replace the model file or its weights file.
pub(crate) fn refuse_replacing(
    model: &Model,
    out: &Path,
    model_path: &Path,
    weights_path: &Path,
    code: Code,
) -> Result<()> {
    for (ours, theirs, what) in [
        (model_path, Some(model.file()), "the model file"),
        (weights_path, model.weights_file(), "the model's weights"),
    ] {
        let same = theirs.and_then(|t| std::fs::canonicalize(t).ok()).is_some_and(|t| t == *ours);
        if same {
            return Err(Error::user(
                code,
                format!("`--out {}` would replace {what} `{}`: choose another folder", out.display(), ours.display()),
            ));
        }
    }
    Ok(())
}

/// Every tensor of the model's weights file, as stored.
pub(crate) fn read_original(path: &Path) -> Result<Vec<Stored>> {
    let unreadable = |e: String| Error::user(Code::WeightsUnreadable, format!("cannot read `{}`: {e}", path.display()));
    let bytes = analog_runtime::weights::read(path).map_err(|e| unreadable(e.to_string()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let mut tensors: Vec<Stored> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| Stored {
            name,
            dtype: view.dtype(),
            shape: view.shape().to_vec(),
            bytes: view.data().to_vec(),
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// `layers.csv`: one row per epoch and layer with weights.
fn layers_csv(epochs: &[EpochRecord]) -> String {
    let mut out = String::from("epoch,layer,weight_norm,activation_rms\n");
    for r in epochs {
        for l in &r.layers {
            out.push_str(&format!("{},{},{},{}\n", r.epoch, l.layer, l.weight_norm, l.activation_rms));
        }
    }
    out
}

/// `train.csv`: one row per epoch, accuracies as fractions.
fn csv(epochs: &[EpochRecord]) -> String {
    let mut out = String::from(
        "epoch,loss,train_accuracy,val_accuracy_clean,val_accuracy_hardware,lr,seconds,samples_per_second\n",
    );
    for r in epochs {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.epoch,
            r.loss,
            r.train_accuracy,
            r.val_accuracy_clean,
            r.val_accuracy_hardware,
            r.lr,
            r.seconds,
            r.samples_per_second
        ));
    }
    out
}
