//! `analogc run`: one model, inputs from `.npy`, outputs printed or saved.

use super::output::{fail, print_stdout};
use super::{load, Cli, ExecArgs, Outcome};
use crate::infer;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The model file.
    pub file: PathBuf,
    /// Input data, `.npy` (uint8 or float32): one sample, or a batch with the
    /// samples along the first axis. `NAME=PATH` for a model with several inputs.
    #[arg(long, required = true)]
    pub input: Vec<String>,
    /// Write the outputs as float32 `.npy` (batch first) instead of printing
    /// them; with several outputs, a folder that gets one `NAME.npy` each.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The Monte-Carlo trial: which simulated chip (static draws).
    #[arg(long, default_value_t = 0)]
    pub trial: u32,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub fn run(cli: &Cli, args: &RunArgs) -> Outcome {
    let model = match load(cli, &args.file, &args.exec.set, args.exec.weights.as_deref()) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let exec = args.exec.exec();
    if let Err(e) = exec.check() {
        return fail(cli, e);
    }
    let batches = match infer::read_inputs(model.graph(), &args.input) {
        Ok(b) => b,
        Err(e) => return fail(cli, e),
    };
    let engine = match model.engine(exec.backend, exec.kernels) {
        Ok(e) => e,
        Err(e) => return fail(cli, e),
    };
    let chip = engine.chip(exec.seed, args.trial);
    let outputs = infer::run(model.graph(), &engine, &chip, &batches, exec.threads);
    match &args.output {
        Some(path) => match outputs.write_npy(path) {
            Ok(()) => Outcome::Ok,
            Err(e) => fail(cli, e),
        },
        None => print_stdout(&outputs.text()),
    }
}
