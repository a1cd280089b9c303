//! `analogc sweep`: Walking Noise, one noise site at a time over a σ grid (or
//! any annotation swept by its `--set` path).

use super::output::{fail, print_stdout};
use super::progress::Bar;
use super::{load_with_data, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::files::Lock;
use crate::json::to_sorted_json;
use crate::sweep::grid::parse_shard;
use crate::sweep::{self, output, Kind, Sites, SweepOptions, SweepResult};
use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SitesArg {
    /// The multiply-accumulate layers (dense, conv2d).
    Mac,
    /// Every input and every layer.
    All,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// `additive(sigma = σ)`.
    Additive,
    /// `multiplicative(sigma = σ)`.
    Multiplicative,
    /// `mixed(amplitude = σ, ratio = R)`.
    Mixed,
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The model file.
    pub file: PathBuf,
    /// Which ops are noise sites: the MAC layers, or every input and layer.
    #[arg(long, value_enum, default_value_t = SitesArg::Mac)]
    pub sites: SitesArg,
    /// The noise put on the swept site.
    #[arg(long, value_enum, default_value_t = KindArg::Additive)]
    pub kind: KindArg,
    /// The additive share of `--kind mixed` (Walking Noise's ratio).
    #[arg(long, default_value_t = 0.5)]
    pub ratio: f64,
    /// The noise levels: `A..B:N` (N points log-spaced from A to B, both
    /// included) or a list `0.1,0.5,1`.
    #[arg(long, default_value = "1e-3..1e1:25", allow_hyphen_values = true)]
    pub sigma: String,
    /// One more site, `global`: every selected site noisy at once.
    #[arg(long)]
    pub global: bool,
    /// Sweep an annotation by its `--set` path instead of σ, e.g.
    /// `fc2.format.gain=1,2,4,8`; the model's own noise stays.
    #[arg(long, value_name = "PATH=V1,V2,...")]
    pub sweep: Option<String>,
    /// Monte-Carlo trials (simulated chips) per grid point.
    #[arg(long, default_value_t = 5)]
    pub trials: u32,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The dataset (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Run only the grid points k with k mod n = i (0-based), `i/n`; join the
    /// output folders with `analogc merge`.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Write sweep.csv, sweep.json, sweep.svg and sweep.png into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

fn options(args: &SweepArgs) -> Result<SweepOptions> {
    let shard = args.shard.as_deref().map(parse_shard).transpose().map_err(|e| Error::user(Code::BadSweep, e))?;
    Ok(SweepOptions {
        sites: match args.sites {
            SitesArg::Mac => Sites::Mac,
            SitesArg::All => Sites::All,
        },
        kind: match args.kind {
            KindArg::Additive => Kind::Additive,
            KindArg::Multiplicative => Kind::Multiplicative,
            KindArg::Mixed => Kind::Mixed,
        },
        ratio: args.ratio,
        sigma: args.sigma.clone(),
        global: args.global,
        sweep: args.sweep.clone(),
        trials: args.trials,
        shard,
        exec: args.exec.exec(),
    })
}

pub fn sweep(cli: &Cli, args: &SweepArgs) -> Outcome {
    let started = Instant::now();
    // The options are checked before the model is read.
    let options = match options(args).and_then(|o| o.check().map(|()| o)) {
        Ok(o) => o,
        Err(e) => return fail(cli, e),
    };
    // The output folder is taken first: a second run on it fails now, not at the end.
    let out = match args.out.as_deref().map(Lock::take).transpose() {
        Ok(o) => o,
        Err(e) => return fail(cli, e),
    };
    let (model, data) = match load_with_data(cli, &args.file, &args.exec, args.data.as_deref(), args.limit) {
        Ok(md) => md,
        Err(o) => return o,
    };
    let bar = Bar::new("{msg:>24} [{bar:30}] {pos}/{len} samples, {per_sec}, eta {eta}");
    let result = sweep::sweep(&model, &data, &options, bar.control());
    bar.end(&result);
    match result {
        Ok(r) => finish(cli, &r, out.as_ref(), args.json, Some(started.elapsed().as_secs_f64())),
        Err(e) => fail(cli, e),
    }
}

/// Writes the files (with `--out`) and prints the table or the JSON.
pub fn finish(cli: &Cli, result: &SweepResult, out: Option<&Lock>, json: bool, seconds: Option<f64>) -> Outcome {
    if let Some(lock) = out {
        if let Err(e) = output::write(result, lock) {
            return fail(cli, e);
        }
    }
    if json {
        let mut file = result.to_file();
        file.seconds = seconds;
        return print_stdout(&format!("{}\n", to_sorted_json(&file, false)));
    }
    let mut text = result.table();
    if let Some(s) = seconds {
        text.push_str(&format!("  {s:.1} s\n"));
    }
    print_stdout(&text)
}
