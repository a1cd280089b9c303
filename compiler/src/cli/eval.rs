//! `analogc eval`: how accurate is this network on that hardware?

use super::output::print_or_fail;
use super::progress::Bar;
use super::{load_with_data, Cli, ExecArgs, Outcome};
use crate::evaluate::{evaluate, EvalOptions};
use crate::json::to_sorted_json;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The model file.
    pub file: PathBuf,
    /// The dataset: a folder (IDX or images.npy + labels.npy), or a name
    /// (`mnist`, `fashion-mnist`) looked up in $ANALOGC_DATA, ./data and the
    /// model's ../data. Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Monte-Carlo trials: simulated chips, each with its own static draws.
    #[arg(long, default_value_t = 5)]
    pub trials: u32,
    /// Samples per unit of work. Results do not depend on it.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub fn eval(cli: &Cli, args: &EvalArgs) -> Outcome {
    let (model, data) = match load_with_data(cli, &args.file, &args.exec, args.data.as_deref(), args.limit) {
        Ok(md) => md,
        Err(o) => return o,
    };
    let options = EvalOptions { trials: args.trials, batch: args.batch, exec: args.exec.exec() };
    let bar = Bar::new("{msg:>12} [{bar:40}] {pos}/{len} samples, {per_sec}, eta {eta}");
    let result = evaluate(&model, &data, &options, bar.control());
    bar.end(&result);
    print_or_fail(cli, result, |r| if args.json { format!("{}\n", to_sorted_json(&r, false)) } else { r.text() })
}
