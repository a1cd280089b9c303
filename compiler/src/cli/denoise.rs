//! `analogc denoise`: denoise blocks after a model's most (or least, or
//! randomly chosen) sensitive layers within a parameter budget, written as a
//! model to train with `analogc train --train <blocks>`.

use super::output::{fail, print_or_fail};
use super::progress::ctrl_c;
use super::{load, Cli, Outcome};
use crate::denoise::{denoise as place_blocks, Budget, DenoiseOptions, Placement};
use crate::json::to_sorted_json;
use crate::model::{default_threads, Exec};
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlaceArg {
    /// After the layers with the largest sensitivity first.
    Sensitive,
    /// After the layers with the smallest sensitivity first.
    Insensitive,
    /// After layers in a random order (seeded by `--seed`).
    Random,
}

#[derive(clap::Args, Debug)]
pub struct DenoiseArgs {
    /// The model file.
    pub file: PathBuf,
    /// The parameters the blocks may add: a share of the model's (`2%`) or a count (`5000`).
    #[arg(long, allow_hyphen_values = true)]
    pub budget: String,
    /// Which layers get blocks first.
    #[arg(long, value_enum, default_value_t = PlaceArg::Sensitive)]
    pub place: PlaceArg,
    /// Every block's hidden width [default: each as wide as the budget left
    /// pays for, at most the layer's own width].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// The dataset the sensitivities are measured on (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Measure the sensitivities on the first N samples.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: usize,
    /// Orders `--place random` and draws the blocks' initial `down` weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the model with its blocks and its weights into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn denoise(cli: &Cli, args: &DenoiseArgs) -> Outcome {
    // The options are checked before the model is read.
    let budget = match Budget::parse(&args.budget) {
        Ok(b) => b,
        Err(e) => return fail(cli, e),
    };
    let options = DenoiseOptions {
        budget,
        place: match args.place {
            PlaceArg::Sensitive => Placement::Sensitive,
            PlaceArg::Insensitive => Placement::Insensitive,
            PlaceArg::Random => Placement::Random,
        },
        hidden: args.hidden,
        limit: args.limit,
        exec: Exec { seed: args.seed, threads: args.threads.unwrap_or_else(default_threads), ..Exec::default() },
    };
    if let Err(e) = options.check() {
        return fail(cli, e);
    }
    let model = match load(cli, &args.file, &[], None) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let result = place_blocks(&model, args.data.as_deref(), &options, args.out.as_deref(), ctrl_c());
    print_or_fail(cli, result, |r| if args.json { format!("{}\n", to_sorted_json(&r, false)) } else { r.text() })
}
