//! `analogc train`: fit a model's weights with its hardware in the loop, and
//! with `--out` keep every epoch's checkpoint, the log and the curves.

use super::output::{fail, print_or_fail, print_stdout};
use super::progress::Bar;
use super::{loaded_or_report, Cli, ExecArgs, Outcome};
use crate::json::to_sorted_json;
use crate::train::{Chip, Init, OrderedGrad};
use crate::training::{load_for_training, OptimizerChoice, ScheduleChoice, TrainChoices, Training};
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Stochastic gradient descent (`--momentum`, `--nesterov`, `--weight-decay`).
    Sgd,
    /// Adam, β = (0.9, 0.999), ε = 1e-8 (`--weight-decay`: L2 through the moments).
    Adam,
    /// Adam with decoupled weight decay (default 0.01).
    Adamw,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// The same learning rate throughout.
    Constant,
    /// Cosine annealing from the learning rate to 0 over the run.
    Cosine,
    /// Multiplied by `--step-factor` every `--step-every` updates.
    Step,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// The weights the model file names.
    Keep,
    /// He normal: N(0, 2/fan_in); biases 0.
    Kaiming,
    /// Glorot uniform: U(±√(6/(fan_in + fan_out))); biases 0.
    Xavier,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderedGradArg {
    /// Through the saturating, leaky running sum as the forward computed it.
    Exact,
    /// As if the sum were exact (every product's gradient 1).
    Linear,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChipArg {
    /// A new chip every step: static draws (static weight noise, random orders) are new every step.
    Fresh,
    /// One chip for the whole run: the same static draws every step.
    Fixed,
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The model file.
    pub file: PathBuf,
    /// The dataset (as for `eval`; its training split is used). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Passes over the training samples.
    #[arg(long, default_value_t = 10)]
    pub epochs: u32,
    /// Samples per optimizer step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// The learning rate [default: 1e-3 for adam and adamw, 0.05 for sgd].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// The optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    pub optimizer: OptimizerArg,
    /// SGD's momentum [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f64>,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// The weight decay [default: 0, 0.01 for adamw].
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// How the learning rate changes over the run.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Constant)]
    pub schedule: ScheduleArg,
    /// `--schedule step`: the updates between two steps.
    #[arg(long, value_name = "N")]
    pub step_every: Option<u64>,
    /// `--schedule step`: the factor of each step [default: 0.1].
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub step_factor: Option<f64>,
    /// Clip the gradients' global norm to this value.
    #[arg(long, value_name = "NORM", allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// Where the weights start [default: keep when the model names weights, else kaiming].
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// The layers that learn (default: every layer with weights).
    #[arg(long, value_name = "LAYER,...", value_delimiter = ',')]
    pub train: Vec<String>,
    /// Layers that keep their weights.
    #[arg(long, value_name = "LAYER,...", value_delimiter = ',')]
    pub freeze: Vec<String>,
    /// The gradient of `accumulate ordered` sums (docs/language.md §10.1).
    #[arg(long, value_enum, default_value_t = OrderedGradArg::Exact)]
    pub ordered_grad: OrderedGradArg,
    /// The chip of each step: a new one every step, or one for the whole run (docs/training.md).
    #[arg(long, value_enum, default_value_t = ChipArg::Fresh)]
    pub chip: ChipArg,
    /// Differential Noise Finetuning: measure each quantized layer's output error
    /// and train those layers in FP32 with that error as Gaussian noise (docs/training.md).
    #[arg(long)]
    pub dnf: bool,
    /// `--dnf`: epochs between two measurements of the error [default: 1].
    #[arg(long, value_name = "N")]
    pub dnf_refresh: Option<u32>,
    /// Samples held out from the end of the training split for validation.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub val: usize,
    /// Train on the first N samples of the rest only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Write the weights, a model file naming them, train.csv, train.json and
    /// the curves (train.svg, train.png) into this folder after every epoch.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object on stdout (the run's report) instead of the text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// The choices the arguments make.
fn choices(args: &TrainArgs) -> TrainChoices {
    let exec = args.exec.exec();
    TrainChoices {
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        optimizer: match args.optimizer {
            OptimizerArg::Sgd => OptimizerChoice::Sgd,
            OptimizerArg::Adam => OptimizerChoice::Adam,
            OptimizerArg::Adamw => OptimizerChoice::AdamW,
        },
        momentum: args.momentum,
        nesterov: args.nesterov,
        weight_decay: args.weight_decay,
        schedule: match args.schedule {
            ScheduleArg::Constant => ScheduleChoice::Constant,
            ScheduleArg::Cosine => ScheduleChoice::Cosine,
            ScheduleArg::Step => ScheduleChoice::Step,
        },
        step_every: args.step_every,
        step_factor: args.step_factor,
        clip: args.clip,
        init: args.init.map(|i| match i {
            InitArg::Keep => Init::Keep,
            InitArg::Kaiming => Init::Kaiming,
            InitArg::Xavier => Init::Xavier,
        }),
        train: args.train.clone(),
        freeze: args.freeze.clone(),
        ordered_grad: match args.ordered_grad {
            OrderedGradArg::Exact => OrderedGrad::Exact,
            OrderedGradArg::Linear => OrderedGrad::Linear,
        },
        chip: match args.chip {
            ChipArg::Fresh => Chip::Fresh,
            ChipArg::Fixed => Chip::Fixed,
        },
        dnf: args.dnf,
        dnf_refresh: args.dnf_refresh,
        val: args.val,
        limit: args.limit,
        exec,
    }
}

pub fn train(cli: &Cli, args: &TrainArgs) -> Outcome {
    let choices = choices(args);
    // The options are checked before the model is read.
    let options = match choices.options() {
        Ok(o) => o,
        Err(e) => return fail(cli, e),
    };
    let loaded =
        load_for_training(&args.file, &args.exec.set, args.exec.weights.clone(), args.data.is_some(), cli.max_elements);
    let model = match loaded_or_report(cli, loaded) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let training = match Training::new(&model, &choices, options, args.out.as_deref()) {
        Ok(t) => t,
        Err(e) => return fail(cli, e),
    };
    let bar = Bar::new("{msg:>12} [{bar:40}] {pos}/{len} samples, {per_sec}, eta {eta}");
    let result = training.run(args.data.as_deref(), bar.control(), &mut |record| {
        if !args.json {
            bar.suspend(|| print_stdout(&record.line()));
        }
    });
    bar.end(&result);
    print_or_fail(cli, result, |r| if args.json { format!("{}\n", to_sorted_json(&r, false)) } else { r.text() })
}
