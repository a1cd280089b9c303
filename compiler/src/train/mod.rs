//! Hardware-aware training: [`train`] fits a model's weights on the training
//! split of its dataset with every effect that is active during training
//! (`during = train|both`) in the forward pass, and the backward rules of
//! `docs/language.md` §10 in the backward pass. The CLI's `analogc train` and
//! the Python package are doors onto it; [`output`] writes a run's folder;
//! [`dnf`] trains with the hardware's measured error as noise instead.

pub mod dnf;
pub mod init;
mod options;
pub mod output;
mod report_text;
mod run;

pub use options::MAX_EPOCHS;

use crate::control::Control;
use crate::engine::Backend;
use crate::error::Result;
use crate::jit::Kernels;
use crate::model::Model;
use analog_runtime::tensor::Tensor;
pub use analog_runtime::train::forward::OrderedGrad;
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;
pub use analog_runtime::train::trainer::Chip;
use serde::Serialize;

/// Where a run's weights start.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The weights the model file names.
    Keep,
    /// He initialization (`init.rs` states the distributions).
    Kaiming,
    /// Glorot initialization.
    Xavier,
}

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub epochs: u32,
    /// Samples per optimizer step.
    pub batch: usize,
    /// The base learning rate (the schedule scales it per step).
    pub lr: f64,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// Clip the gradient's global norm to this value.
    pub clip: Option<f64>,
    pub init: Init,
    /// Layers that learn (empty: every layer with weights), before `freeze`.
    pub train: Vec<String>,
    /// Layers that keep their weights.
    pub freeze: Vec<String>,
    /// Samples held out from the end of the training split for validation.
    pub val: usize,
    /// Train on the first `limit` samples of the rest only.
    pub limit: Option<usize>,
    /// Seeds the initialization, the data order and every noise draw.
    pub seed: u64,
    pub threads: usize,
    /// `Jit`: the fast path; `Interp`: the reference (slow, the definition).
    pub backend: Backend,
    /// The JIT's kernels for validation (`--kernels`).
    pub kernels: Kernels,
    /// The gradient of ordered sums: exact (through the saturating, leaky
    /// running sum) or linear (as if the sum were exact).
    pub ordered_grad: OrderedGrad,
    /// A new chip every step (the default), or one chip for the whole run.
    pub chip: Chip,
    /// Differential Noise Finetuning: the measured layers in FP32 with their
    /// measured error as noise, instead of their hardware.
    pub dnf: Option<dnf::Dnf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            batch: 64,
            lr: 1e-3,
            optimizer: Optimizer::ADAM,
            schedule: Schedule::Constant,
            clip: None,
            init: Init::Keep,
            train: vec![],
            freeze: vec![],
            val: 5000,
            limit: None,
            seed: 0,
            threads: crate::model::default_threads(),
            backend: Backend::Jit,
            kernels: Kernels::Native,
            ordered_grad: OrderedGrad::Exact,
            chip: Chip::Fresh,
            dnf: None,
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochRecord {
    /// From 1.
    pub epoch: u32,
    /// The mean training loss over the epoch's steps.
    pub loss: f64,
    /// On the training samples, as the forward pass saw them (with the training hardware).
    pub train_accuracy: f64,
    /// On the validation samples, every noise off.
    pub val_accuracy_clean: f64,
    /// On the validation samples, with the model's evaluation hardware (one chip, the run's seed).
    pub val_accuracy_hardware: f64,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch, validation (and a DNF measurement) included.
    pub seconds: f64,
    /// Training samples per second of its steps (validation and a DNF
    /// measurement excluded).
    pub samples_per_second: f64,
    /// Every layer with weights, in the graph's order.
    pub layers: Vec<LayerRecord>,
}

/// What one epoch did to one layer with weights.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerRecord {
    pub layer: String,
    /// The Frobenius norm of its clean weight tensors (`weight`; a denoise
    /// block's `down.weight` and `up.weight` together; biases and running
    /// statistics left out) at the end of the epoch.
    pub weight_norm: f64,
    /// The RMS of its output before its output noise, over every value of the
    /// epoch's training samples as the training forward computed them.
    pub activation_rms: f64,
}

/// Every weight tensor of the model as training left it, under its name in
/// the weights file, in the graph's order.
pub type Weights = Vec<(String, Tensor)>;

/// A finished run.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub model: String,
    /// The dataset folder.
    pub data: String,
    pub train_samples: usize,
    pub val_samples: usize,
    /// The layers that learned, and how many values they hold.
    pub trained: Vec<String>,
    pub parameters: usize,
    pub init: Init,
    pub seed: u64,
    pub batch: usize,
    pub epochs: Vec<EpochRecord>,
    /// Every step's batch loss, in order (for comparing runs step by step).
    pub step_losses: Vec<f64>,
    pub seconds: f64,
    pub backend: &'static str,
    /// With `--dnf`: what was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnf: Option<dnf::DnfReport>,
}

/// Trains `model`: `data` is the dataset folder or name (`None`: the model's
/// own `data`). After every epoch `on_epoch` receives the epoch's record and
/// the weights at its end (the CLI writes a checkpoint there); an error from
/// it stops the run. Progress counts training samples.
pub fn train(
    model: &Model,
    data: Option<&str>,
    options: &TrainOptions,
    control: Control,
    on_epoch: &mut dyn FnMut(&EpochRecord, &Weights) -> Result<()>,
) -> Result<TrainReport> {
    run::run(model, data, options, control, on_epoch)
}
