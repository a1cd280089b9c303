//! `analogc analyze`: a report per layer, static or calibrated on data.

use super::output::print_or_fail;
use super::progress::ctrl_c;
use super::{loaded_or_report, Cli, ExecArgs, Outcome};
use crate::analysis::{analyze as static_report, analyze_on_data, CalibrateOptions};
use crate::error::Result;
use crate::json::to_sorted_json;
use crate::model::Model;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// The model file.
    pub file: PathBuf,
    /// Calibrate on data: run the model with every noise off on DATA (a
    /// folder or a name, as `eval --data`; default: the model's own `data`)
    /// and report activation ranges, ADC clipping, data-weighted multiplier
    /// errors, the AME and a denoiser placement.
    #[arg(long, value_name = "DATA", num_args = 0..=1, default_missing_value = "")]
    pub calibrate: Option<String>,
    /// Use only the first N samples (for the denoise gains; the calibration
    /// takes the first `--calibrate-limit` of them).
    #[arg(long, requires = "calibrate")]
    pub limit: Option<usize>,
    /// Calibrate on the first N samples: activation ranges, ADC clipping,
    /// operand histograms and sensitivities are traced by the reference
    /// interpreter, about 70× slower than the JIT that measures denoise gains.
    #[arg(long, default_value_t = 1000, requires = "calibrate")]
    pub calibrate_limit: usize,
    /// Simulated chips over which the gain of a denoise block is measured.
    #[arg(long, default_value_t = 1, requires = "calibrate")]
    pub trials: u32,
    /// Rank layers for denoise blocks by the Walking-Noise midpoints of this
    /// `analogc sweep --out` folder instead of the calibrated sensitivity.
    #[arg(long, value_name = "DIR", requires = "calibrate")]
    pub sweep_dir: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

fn calibrated(model: &Model, data_arg: &str, args: &AnalyzeArgs) -> Result<crate::analysis::Analysis> {
    let options = CalibrateOptions {
        trials: args.trials,
        calibrate_limit: args.calibrate_limit,
        midpoints: None,
        exec: args.exec.exec(),
    };
    let data = Some(data_arg).filter(|d| !d.is_empty());
    analyze_on_data(model, data, args.limit, args.sweep_dir.as_deref(), options, ctrl_c())
}

pub fn analyze(cli: &Cli, args: &AnalyzeArgs) -> Outcome {
    // `--calibrate DATA` replaces the model's own data, which then need not exist.
    let other_data = args.calibrate.as_deref().is_some_and(|d| !d.is_empty());
    let loaded =
        Model::load_checked(&args.file, &args.exec.set, cli.check_options(!other_data, args.exec.weights.as_deref()));
    let model = match loaded_or_report(cli, loaded) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let result = match &args.calibrate {
        Some(data_arg) => calibrated(&model, data_arg, args),
        None => static_report(&model),
    };
    print_or_fail(cli, result, |r| if args.json { format!("{}\n", to_sorted_json(&r, false)) } else { r.text() })
}
