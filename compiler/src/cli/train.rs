//! `analogc train`: fit a model's weights with its hardware in the loop, and
//! with `--out` keep every epoch's checkpoint, the log and the curves.

use super::output::{fail, print_stdout};
use super::progress::Bar;
use super::{loaded_or_report, BackendArg, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::json::to_sorted_json;
use crate::model::Model;
use crate::train::output::{RunFolder, RunSettings};
use crate::train::{train as run_training, Init, OrderedGrad, TrainOptions};
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;
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

/// The options the arguments ask for (`init` as given, or keep until the model is read).
fn options(args: &TrainArgs) -> Result<TrainOptions> {
    let bad = |msg: &str| Err(Error::user(Code::BadTrainOption, msg));
    if args.optimizer != OptimizerArg::Sgd && (args.momentum.is_some() || args.nesterov) {
        return bad("`--momentum` and `--nesterov` are options of `--optimizer sgd`");
    }
    if args.schedule != ScheduleArg::Step && (args.step_every.is_some() || args.step_factor.is_some()) {
        return bad("`--step-every` and `--step-factor` are options of `--schedule step`");
    }
    // PyTorch's defaults, then what the command line changes.
    let mut optimizer = match args.optimizer {
        OptimizerArg::Sgd => Optimizer::SGD,
        OptimizerArg::Adam => Optimizer::ADAM,
        OptimizerArg::Adamw => Optimizer::ADAMW,
    };
    match &mut optimizer {
        Optimizer::Sgd { momentum, nesterov, weight_decay } => {
            *momentum = args.momentum.unwrap_or(*momentum);
            *nesterov = args.nesterov;
            *weight_decay = args.weight_decay.unwrap_or(*weight_decay);
        }
        Optimizer::Adam { weight_decay, .. } | Optimizer::AdamW { weight_decay, .. } => {
            *weight_decay = args.weight_decay.unwrap_or(*weight_decay);
        }
    }
    let schedule = match args.schedule {
        ScheduleArg::Constant => Schedule::Constant,
        ScheduleArg::Cosine => Schedule::Cosine,
        ScheduleArg::Step => {
            let Some(period) = args.step_every else {
                return bad("`--schedule step` needs `--step-every N`: the updates between two steps");
            };
            Schedule::Step { factor: args.step_factor.unwrap_or(0.1), period }
        }
    };
    let exec = args.exec.exec();
    Ok(TrainOptions {
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr.unwrap_or(if args.optimizer == OptimizerArg::Sgd { 0.05 } else { 1e-3 }),
        optimizer,
        schedule,
        clip: args.clip,
        init: match args.init {
            Some(InitArg::Keep) | None => Init::Keep,
            Some(InitArg::Kaiming) => Init::Kaiming,
            Some(InitArg::Xavier) => Init::Xavier,
        },
        train: args.train.clone(),
        freeze: args.freeze.clone(),
        val: args.val,
        limit: args.limit,
        seed: exec.seed,
        threads: exec.threads,
        backend: match args.exec.backend {
            BackendArg::Jit => Backend::Jit,
            BackendArg::Interp => Backend::Interp,
        },
        kernels: exec.kernels,
        ordered_grad: match args.ordered_grad {
            OrderedGradArg::Exact => OrderedGrad::Exact,
            OrderedGradArg::Linear => OrderedGrad::Linear,
        },
    })
}

pub fn train(cli: &Cli, args: &TrainArgs) -> Outcome {
    // The options are checked before the model is read.
    let mut options = match options(args).and_then(|o| o.check().map(|()| o)) {
        Ok(o) => o,
        Err(e) => return fail(cli, e),
    };
    // A model to train from scratch may name no weights file; a dataset named
    // on the command line replaces the model's own, which then need not exist.
    let check = crate::check::Options { untrained: true, ..cli.check_options(args.data.is_none()) };
    let model = match loaded_or_report(cli, Model::load_checked(&args.file, &args.exec.set, check)) {
        Ok(m) => m,
        Err(o) => return o,
    };
    if args.init.is_none() && !model.has_weights_file() {
        options.init = Init::Kaiming;
    }
    if let Err(e) = options.check_model(&model) {
        return fail(cli, e);
    }
    let folder = args.out.as_deref().map(|out| RunFolder::create(out, &model, RunSettings::new(&model, &options)));
    let mut folder = match folder.transpose() {
        Ok(f) => f,
        Err(e) => return fail(cli, e),
    };
    let bar = Bar::new("{msg:>12} [{bar:40}] {pos}/{len} samples, {per_sec}, eta {eta}");
    let result = run_training(&model, args.data.as_deref(), &options, bar.control(), &mut |record, weights| {
        if let Some(f) = folder.as_mut() {
            f.epoch(record, weights)?;
        }
        if !args.json {
            bar.suspend(|| print_stdout(&record.line()));
        }
        Ok(())
    });
    bar.end(&result);
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(cli, e),
    };
    if let Some(Err(e)) = folder.as_ref().map(|f| f.finish(&report)) {
        return fail(cli, e);
    }
    print_stdout(&if args.json { format!("{}\n", to_sorted_json(&report, false)) } else { report.text() })
}
