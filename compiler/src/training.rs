//! `train` as a command runs it, for every client (the CLI, the Python
//! package): options from the command's choices with its defaults, the model
//! loaded for training, and a run through its `--out` folder.

use crate::check;
use crate::control::Control;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::model::{Exec, Model};
use crate::train::dnf::Dnf;
use crate::train::output::{RunFolder, RunSettings};
use crate::train::{train, Chip, EpochRecord, Init, OrderedGrad, TrainOptions, TrainReport};
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;
use std::path::{Path, PathBuf};

/// The optimizer (`--optimizer`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OptimizerChoice {
    Sgd,
    Adam,
    AdamW,
}

/// How the learning rate changes (`--schedule`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScheduleChoice {
    Constant,
    Cosine,
    Step,
}

/// What a `train` command asks for; `None` takes the default.
#[derive(Clone, Debug)]
pub struct TrainChoices {
    pub epochs: u32,
    pub batch: usize,
    /// Default: 1e-3 for Adam and AdamW, 0.05 for SGD.
    pub lr: Option<f64>,
    pub optimizer: OptimizerChoice,
    /// SGD only; default 0.
    pub momentum: Option<f64>,
    /// SGD only.
    pub nesterov: bool,
    /// Default: the optimizer's (0, 0.01 for AdamW).
    pub weight_decay: Option<f64>,
    pub schedule: ScheduleChoice,
    /// `ScheduleChoice::Step` only: the updates between two steps (required).
    pub step_every: Option<u64>,
    /// `ScheduleChoice::Step` only; default 0.1.
    pub step_factor: Option<f64>,
    pub clip: Option<f64>,
    /// Default: keep the file's weights, Kaiming when it names none.
    pub init: Option<Init>,
    pub train: Vec<String>,
    pub freeze: Vec<String>,
    pub ordered_grad: OrderedGrad,
    pub chip: Chip,
    /// Differential Noise Finetuning (`--dnf`).
    pub dnf: bool,
    /// `dnf` only: epochs between two measurements of the error; default 1.
    pub dnf_refresh: Option<u32>,
    pub val: usize,
    pub limit: Option<usize>,
    pub exec: Exec,
}

impl TrainChoices {
    /// The options they ask for (PyTorch's defaults, then what is chosen),
    /// checked; `init` stays `Keep` until [`Training::new`] sees the model.
    pub fn options(&self) -> Result<TrainOptions> {
        let bad = |msg: &str| Err(Error::user(Code::BadTrainOption, msg));
        if self.optimizer != OptimizerChoice::Sgd && (self.momentum.is_some() || self.nesterov) {
            return bad("`--momentum` and `--nesterov` are options of `--optimizer sgd`");
        }
        if self.schedule != ScheduleChoice::Step && (self.step_every.is_some() || self.step_factor.is_some()) {
            return bad("`--step-every` and `--step-factor` are options of `--schedule step`");
        }
        let mut optimizer = match self.optimizer {
            OptimizerChoice::Sgd => Optimizer::SGD,
            OptimizerChoice::Adam => Optimizer::ADAM,
            OptimizerChoice::AdamW => Optimizer::ADAMW,
        };
        match &mut optimizer {
            Optimizer::Sgd { momentum, nesterov, weight_decay } => {
                *momentum = self.momentum.unwrap_or(*momentum);
                *nesterov = self.nesterov;
                *weight_decay = self.weight_decay.unwrap_or(*weight_decay);
            }
            Optimizer::Adam { weight_decay, .. } | Optimizer::AdamW { weight_decay, .. } => {
                *weight_decay = self.weight_decay.unwrap_or(*weight_decay);
            }
        }
        if !self.dnf && self.dnf_refresh.is_some() {
            return bad("`--dnf-refresh` is an option of `--dnf`");
        }
        let schedule = match self.schedule {
            ScheduleChoice::Constant => Schedule::Constant,
            ScheduleChoice::Cosine => Schedule::Cosine,
            ScheduleChoice::Step => {
                let Some(period) = self.step_every else {
                    return bad("`--schedule step` needs `--step-every N`: the updates between two steps");
                };
                Schedule::Step { factor: self.step_factor.unwrap_or(0.1), period }
            }
        };
        let options = TrainOptions {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr.unwrap_or(if self.optimizer == OptimizerChoice::Sgd { 0.05 } else { 1e-3 }),
            optimizer,
            schedule,
            clip: self.clip,
            init: self.init.unwrap_or(Init::Keep),
            train: self.train.clone(),
            freeze: self.freeze.clone(),
            val: self.val,
            limit: self.limit,
            seed: self.exec.seed,
            threads: self.exec.threads,
            backend: self.exec.backend,
            kernels: self.exec.kernels,
            ordered_grad: self.ordered_grad,
            chip: self.chip,
            dnf: self.dnf.then(|| Dnf { refresh: self.dnf_refresh.unwrap_or(Dnf::default().refresh) }),
        };
        options.check()?;
        Ok(options)
    }
}

/// Loads a model to train: it may name no weights file (its weights are then
/// zero); `weights` replaces the file it names; with `other_data` (a dataset
/// given to the run) its own `data` need not exist.
pub fn load_for_training(
    file: &Path,
    settings: &[String],
    weights: Option<PathBuf>,
    other_data: bool,
    max_elements: u64,
) -> Result<Model> {
    let options = check::Options { own_data: !other_data, max_elements, untrained: true, weights };
    Model::load_checked(file, settings, options)
}

/// A run ready to start: options fitted to the model, its folder created.
pub struct Training<'a> {
    model: &'a Model,
    options: TrainOptions,
    folder: Option<RunFolder>,
}

impl<'a> Training<'a> {
    /// `init` defaults to Kaiming for a model that names no weights; with
    /// `out`, the run folder is created now (a busy or refused folder fails
    /// before any training).
    pub fn new(
        model: &'a Model,
        choices: &TrainChoices,
        mut options: TrainOptions,
        out: Option<&Path>,
    ) -> Result<Self> {
        if choices.init.is_none() && !model.has_weights_file() {
            options.init = Init::Kaiming;
        }
        options.check_model(model)?;
        let folder = out.map(|out| RunFolder::create(out, model, RunSettings::new(model, &options))).transpose()?;
        Ok(Training { model, options, folder })
    }

    /// Trains on `data` (a folder or a name; `None`: the model's own), each
    /// epoch written to the folder and then given to `on_epoch`.
    pub fn run(
        mut self,
        data: Option<&str>,
        control: Control,
        on_epoch: &mut dyn FnMut(&EpochRecord),
    ) -> Result<TrainReport> {
        let folder = &mut self.folder;
        let report = train(self.model, data, &self.options, control, &mut |record, weights| {
            if let Some(f) = folder.as_mut() {
                f.epoch(record, weights)?;
            }
            on_epoch(record);
            Ok(())
        })?;
        if let Some(f) = &self.folder {
            f.finish(&report)?;
        }
        Ok(report)
    }
}
