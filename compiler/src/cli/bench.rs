//! `analogc bench`: how fast a model compiles and runs.

use super::output::print_or_fail;
use super::{load_with_data, Cli, ExecArgs, Outcome};
use crate::bench as library;
use crate::json::to_sorted_json;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The model file.
    pub file: PathBuf,
    /// The dataset (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Use only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples per unit of work.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed repetitions; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub fn bench(cli: &Cli, args: &BenchArgs) -> Outcome {
    let (model, data) = match load_with_data(cli, &args.file, &args.exec, args.data.as_deref(), args.limit) {
        Ok(md) => md,
        Err(o) => return o,
    };
    let result = library::bench(&model, &data, &args.exec.exec(), args.batch, args.repeat);
    print_or_fail(
        cli,
        result,
        |r| if args.json { format!("{}\n", to_sorted_json(&r, true)) } else { r.text(args.repeat) },
    )
}
