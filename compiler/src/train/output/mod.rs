//! A training run's folder (`analogc train --out DIR`), rewritten after every
//! epoch: the weights as `<model stem>.safetensors`, a copy of the model file
//! that points at them, the per-epoch log `train.csv` and `train.json`, and
//! the curves `train.svg` and `train.png`.
//!
//! Each file is written atomically (a temporary file renamed over it), in this
//! order: the weights, the model copy, the log, the plots. The weights file is
//! the checkpoint and says which epoch it holds (its safetensors metadata
//! `epoch`); the log follows it. An interruption or a failure between two files
//! leaves every file whole, with the weights at most one epoch ahead of the
//! log, never behind it.

mod model_copy;
mod plot;

use super::{EpochRecord, Init, TrainOptions, TrainReport, Weights};
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
struct Stored {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
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
        let file = model.file();
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.anl".into());
        let stem = Path::new(&name).file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let dir = std::fs::canonicalize(out).map_err(|e| unwritable(out, e))?;
        let model_path = dir.join(&name);
        let weights_path = dir.join(format!("{stem}.safetensors"));
        for (ours, theirs, what) in
            [(&model_path, Some(file), "the model file"), (&weights_path, model.weights_file(), "the model's weights")]
        {
            let same = theirs.and_then(|t| std::fs::canonicalize(t).ok()).is_some_and(|t| t == *ours);
            if same {
                return Err(Error::user(
                    Code::BadTrainOption,
                    format!(
                        "`--out {}` would replace {what} `{}`: choose another folder",
                        out.display(),
                        ours.display()
                    ),
                ));
            }
        }
        let model_dir = std::path::absolute(file).map_err(|e| unwritable(out, e))?;
        let model_dir = model_dir.parent().unwrap_or(Path::new("/"));
        let model_dir = std::fs::canonicalize(model_dir).unwrap_or_else(|_| model_dir.to_path_buf());
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
        let trained: Vec<Vec<u8>> =
            weights.iter().map(|(_, t)| t.data.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let mut views = vec![];
        let internal = |name: &str, e: safetensors::SafeTensorError| Error::Internal(format!("tensor `{name}`: {e}"));
        for ((name, t), bytes) in weights.iter().zip(&trained) {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), bytes)
                .map_err(|e| internal(name, e))?;
            views.push((name.clone(), view));
        }
        for s in self.original.iter().filter(|s| !weights.iter().any(|(n, _)| *n == s.name)) {
            let view = safetensors::tensor::TensorView::new(s.dtype, s.shape.clone(), &s.bytes)
                .map_err(|e| internal(&s.name, e))?;
            views.push((s.name.clone(), view));
        }
        let metadata = HashMap::from([("epoch".to_string(), epoch.to_string())]);
        safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Internal(format!("safetensors: {e}")))
    }
}

/// Every tensor of the model's weights file, as stored.
fn read_original(path: &Path) -> Result<Vec<Stored>> {
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
