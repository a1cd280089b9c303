//! `analogc fit-ame`: how well does the AME predict accuracy?

use super::output::{fail, print_or_fail};
use super::progress::Bar;
use super::{loaded_or_report, Cli, ExecArgs, Outcome};
use crate::analysis::fit::split_list;
use crate::analysis::{fit_ame as fit, FitAmeOptions};
use crate::json::to_sorted_json;
use crate::model::Model;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct FitAmeArgs {
    /// The model file (it must have int8 layers).
    pub file: PathBuf,
    /// The multipliers, comma-separated, each written as the `multiplier`
    /// effect takes it: `exact`, `drum(4)`, `truncated(bits = 6)`, `mitchell`,
    /// `table("path.npy", layout = torchapprox)`. At least 4.
    #[arg(long, value_name = "M1,M2,...", required = true)]
    pub multipliers: String,
    /// The dataset (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Monte-Carlo trials (simulated chips) per multiplier.
    #[arg(long, default_value_t = 1)]
    pub trials: u32,
    /// Calibrate (operand histograms, sensitivities) on the first N of the samples.
    #[arg(long, default_value_t = 1000)]
    pub calibrate_limit: usize,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub fn fit_ame(cli: &Cli, args: &FitAmeArgs) -> Outcome {
    let options = FitAmeOptions {
        multipliers: split_list(&args.multipliers),
        data: args.data.clone(),
        limit: args.limit,
        trials: args.trials,
        calibrate_limit: args.calibrate_limit,
        exec: args.exec.exec(),
    };
    // The options are checked before the model is read.
    if let Err(e) = options.check() {
        return fail(cli, e);
    }
    // `--data` replaces the model's own data, which then need not exist.
    let loaded = Model::load_checked(
        &args.file,
        &args.exec.set,
        cli.check_options(args.data.is_none(), args.exec.weights.as_deref()),
    );
    let model = match loaded_or_report(cli, loaded) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let bar = Bar::new("{msg:>24} [{bar:30}] {pos}/{len}, eta {eta}");
    let result = fit(&model, &options, bar.control());
    bar.end(&result);
    print_or_fail(cli, result, |r| if args.json { format!("{}\n", to_sorted_json(&r, false)) } else { r.text() })
}
