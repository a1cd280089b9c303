//! The `analogc` command line: a thin door onto the library. One file per
//! command parses its arguments, calls the library and prints; clap's types
//! stay here.

mod analyze;
mod bench;
mod denoise;
mod emit;
mod eval;
mod fit_ame;
mod import;
mod merge;
mod output;
mod progress;
mod run;
mod sweep;
mod train;

use crate::data::Data;
use crate::engine::Backend;
use crate::jit::Kernels;
use crate::model::{default_threads, Exec, Model};
use clap::{Parser, Subcommand, ValueEnum};
pub use output::Outcome;
use output::{fail, report};
use std::path::{Path, PathBuf};

/// Compile neural networks together with the analog or approximate hardware
/// they run on.
#[derive(Parser, Debug)]
#[command(name = "analogc", version, about, max_term_width = 100)]
pub struct Cli {
    /// When to color diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    /// How to print diagnostics (on stderr): for people, or one JSON object per line for editors.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human, global = true)]
    pub message_format: MessageFormat,
    /// The most values one tensor of one sample may hold (a layer's output, a
    /// conv's patches; ten times as many multiply-accumulates per layer). The
    /// default, 2^24, is 64 MiB of f32 per sample (the JIT holds 64 samples per thread).
    #[arg(long, value_name = "N", default_value_t = crate::check::MAX_ELEMENTS, global = true)]
    pub max_elements: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check model and profile files; print nothing and exit 0 when they are sound.
    Check {
        /// Model (`*.anl`) or profile files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override an annotation, as the commands that run a model take it
        /// (`fc1.noise.sigma=0.2`), and check the result. Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Check the model with this weights file instead of the one it names.
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
    /// List the passes of the optimization pipeline, in the order they run.
    Passes,
    /// Run a model on inputs from `.npy` files and print or save its outputs.
    Run(run::RunArgs),
    /// Accuracy on a labelled test set: clean, and over Monte-Carlo trials (simulated chips).
    Eval(eval::EvalArgs),
    /// A report per layer: cost, ABFP bit budgets, multiplier error metrics; with
    /// `--calibrate`, activation ranges, ADC clipping, data-weighted multiplier errors,
    /// the AME and where a denoise block helps.
    Analyze(analyze::AnalyzeArgs),
    /// Fit accuracy against the AME over a set of multipliers, each simulated.
    FitAme(fit_ame::FitAmeArgs),
    /// Walking Noise: accuracy vs noise level, one noise site at a time (or any annotation swept).
    Sweep(sweep::SweepArgs),
    /// Join the output folders of `sweep --shard` runs into one result.
    Merge(merge::MergeArgs),
    /// Train a model's weights with its hardware in the loop; with `--out`, keep
    /// each epoch's weights, a model file naming them, the log and the curves.
    Train(train::TrainArgs),
    /// Denoise blocks after the most sensitive layers within a parameter
    /// budget: the model written with them, ready to train the blocks alone.
    Denoise(denoise::DenoiseArgs),
    /// Compile time, samples/s with and without noise, and each layer's rate.
    Bench(bench::BenchArgs),
    /// Print one stage of the pipeline for a file.
    Emit(emit::EmitArgs),
    /// Turn an ONNX network into a model file and its weights, checked.
    Import(import::ImportArgs),
}

/// The backend (`--backend`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Native code compiled by Cranelift.
    Jit,
    /// The reference interpreter (the definition; slow).
    Interp,
}

/// Where the JIT's hot loops come from (`--kernels`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelsArg {
    /// Cranelift code, calling precompiled Rust micro-kernels (with run-time
    /// CPU-feature dispatch) for the FP32 GEMM and the Gaussian generator.
    Native,
    /// Cranelift code only (slower; the same results).
    Cranelift,
}

impl From<KernelsArg> for Kernels {
    fn from(k: KernelsArg) -> Kernels {
        match k {
            KernelsArg::Native => Kernels::Native,
            KernelsArg::Cranelift => Kernels::Cranelift,
        }
    }
}

/// Options of every command that executes a model.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Override an annotation, e.g. `fc1.noise.sigma=0.2` or
    /// `fc1.noise=multiplicative(sigma = 5 %)`. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// A weights file to use instead of the one the model names (same tensor
    /// names), e.g. weights trained on another model of the same network.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// The backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
    pub backend: BackendArg,
    /// Where the JIT's hot loops come from (results are the same).
    #[arg(long, value_enum, default_value_t = KernelsArg::Native)]
    pub kernels: KernelsArg,
}

impl ExecArgs {
    pub fn exec(&self) -> Exec {
        Exec {
            seed: self.seed,
            threads: self.threads.unwrap_or_else(default_threads),
            backend: match self.backend {
                BackendArg::Jit => Backend::Jit,
                BackendArg::Interp => Backend::Interp,
            },
            kernels: self.kernels.into(),
            ..Exec::default()
        }
    }
}

pub fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Check { files, set, weights } => emit::check(cli, files, set, weights.as_deref()),
        Command::Passes => emit::passes(),
        Command::Emit(args) => emit::emit(cli, args),
        Command::Run(args) => run::run(cli, args),
        Command::Eval(args) => eval::eval(cli, args),
        Command::Sweep(args) => sweep::sweep(cli, args),
        Command::Analyze(args) => analyze::analyze(cli, args),
        Command::FitAme(args) => fit_ame::fit_ame(cli, args),
        Command::Merge(args) => merge::merge(cli, args),
        Command::Train(args) => train::train(cli, args),
        Command::Denoise(args) => denoise::denoise(cli, args),
        Command::Bench(args) => bench::bench(cli, args),
        Command::Import(args) => import::import(cli, args),
    }
}

/// Loads a model (its warnings printed), or reports why it cannot.
fn load(cli: &Cli, file: &Path, settings: &[String], weights: Option<&Path>) -> Result<Model, Outcome> {
    loaded_or_report(cli, Model::load_checked(file, settings, cli.check_options(true, weights)))
}

impl Cli {
    /// The front end's options: the size limit, whether the model's own
    /// `data` folder is read, and the weights file that replaces its own.
    fn check_options(&self, own_data: bool, weights: Option<&Path>) -> crate::check::Options {
        let weights = weights.map(Path::to_path_buf);
        crate::check::Options { own_data, max_elements: self.max_elements, untrained: false, weights }
    }
}

/// Prints a loaded model's warnings, or reports why it did not load.
fn loaded_or_report(cli: &Cli, model: crate::error::Result<Model>) -> Result<Model, Outcome> {
    match model {
        Ok(model) => {
            report(cli, model.sources(), model.warnings());
            Ok(model)
        }
        Err(e) => Err(fail(cli, e)),
    }
}

/// Loads a model and the dataset it is evaluated on (`--data`, `--limit`).
fn load_with_data(
    cli: &Cli,
    file: &Path,
    exec: &ExecArgs,
    data: Option<&str>,
    limit: Option<usize>,
) -> Result<(Model, Data), Outcome> {
    // A dataset named on the command line replaces the model's own, which then
    // need not exist.
    let model = match data {
        Some(_) => {
            let options = cli.check_options(false, exec.weights.as_deref());
            loaded_or_report(cli, Model::load_checked(file, &exec.set, options))?
        }
        None => load(cli, file, &exec.set, exec.weights.as_deref())?,
    };
    match Data::open(&model, data, limit) {
        Ok(d) => Ok((model, d)),
        Err(e) => Err(fail(cli, e)),
    }
}
