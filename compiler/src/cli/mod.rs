//! The `analogc` command line. Subcommands are added here as the pipeline
//! grows (`emit --stage ir|opt|clif`, `run`, `eval`, `sweep`, `analyze`).

mod analyze;
mod bench;
mod calibrate;
mod eval;
mod fit_ame;
mod merge;
mod run;
mod sweep;

use crate::check::{self, FrontEnd};
use crate::diag::{render, Diagnostic, Severity};
use crate::lower::{self, Lowered};
use crate::passes;
use crate::source::FsLoader;
use crate::syntax;
use analog_runtime::ir::{print_graph, Graph};
use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use std::io::Write;
use std::path::PathBuf;

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
    /// Compile time, samples/s with and without noise, and each layer's rate.
    Bench(bench::BenchArgs),
    /// Print one stage of the pipeline for a file.
    Emit {
        /// The stage to print.
        #[arg(long, value_enum)]
        stage: Stage,
        file: PathBuf,
        /// With `--stage clif`: which kernels.
        #[arg(long, value_enum, default_value_t = Kernels::Native)]
        kernels: Kernels,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The syntax tree, as parsed (with byte spans).
    Ast,
    /// The graph IR, as lowered from the checked model.
    Ir,
    /// The graph IR after the pass pipeline (see `analogc passes`).
    Opt,
    /// The Cranelift IR of every kernel (for x86-64 with AVX and FMA, whatever the host).
    Clif,
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
    /// Threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// The backend.
    #[arg(long, value_enum, default_value_t = Backend::Jit)]
    pub backend: Backend,
    /// Where the JIT's hot loops come from (results are the same).
    #[arg(long, value_enum, default_value_t = Kernels::Native)]
    pub kernels: Kernels,
}

impl ExecArgs {
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
    }
}

pub use crate::engine::Backend;
use crate::jit::Kernels;

impl ExecArgs {
    /// The engine these options select for `graph`, or the failure reported.
    pub(crate) fn engine<'g>(&self, cli: &Cli, graph: &'g Graph) -> Result<crate::engine::Engine<'g>, Outcome> {
        match crate::engine::Engine::new(graph, self.backend, self.kernels) {
            Ok(e) => Ok(e),
            Err(crate::engine::EngineError::Table(msg)) => Err(fail(cli, crate::diag::Code::BadTable, msg)),
            Err(crate::engine::EngineError::Jit(msg)) => {
                // Every op has a JIT path, so this is a bug of ours, not of the model.
                eprintln!("internal error: the JIT could not compile this model: {msg} (`--backend interp` runs it)");
                Err(Outcome::Internal)
            }
        }
    }
}

/// Reports a problem that has no place in a source file (data, output files).
pub(crate) fn fail(cli: &Cli, code: crate::diag::Code, message: String) -> Outcome {
    let fe = FrontEnd { map: Default::default(), diags: Default::default(), ast: None, model: None };
    report(cli, &fe, &[Diagnostic::error(code, message)]);
    Outcome::UserError
}

/// How a run ended; the process exit code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok = 0,
    UserError = 1,
    Internal = 2,
}

pub fn run(cli: &Cli) -> Outcome {
    match &cli.command {
        Command::Check { files } => {
            let loader = FsLoader::default();
            let mut outcome = Outcome::Ok;
            for file in files {
                let fe = check::check_file(file, &loader);
                if report(cli, &fe, &fe.diags.list) {
                    outcome = Outcome::UserError;
                }
            }
            outcome
        }
        Command::Run(args) => run::run(cli, args),
        Command::Eval(args) => eval::eval(cli, args),
        Command::Sweep(args) => sweep::sweep(cli, args),
        Command::Analyze(args) => analyze::analyze(cli, args),
        Command::FitAme(args) => fit_ame::fit_ame(cli, args),
        Command::Merge(args) => merge::merge(cli, args),
        Command::Bench(args) => bench::bench(cli, args),
        Command::Passes => {
            let lines: Vec<String> =
                passes::PIPELINE.iter().map(|p| format!("{:<16} {}\n", p.name(), p.description())).collect();
            print_stdout(&lines.concat())
        }
        Command::Emit { stage: Stage::Ast, file, .. } => {
            let fe = check::parse_file(file, &FsLoader::default());
            if report(cli, &fe, &fe.diags.list) {
                return Outcome::UserError;
            }
            let Some(ast) = &fe.ast else { return Outcome::UserError };
            print_stdout(&syntax::print_file(ast))
        }
        Command::Emit { stage, file, kernels } => {
            let loader = FsLoader::default();
            let Some((_, mut lowered)) = compile(cli, file, &loader, &[]) else { return Outcome::UserError };
            let mut text = String::new();
            if *stage == Stage::Clif {
                passes::run_pipeline(&mut lowered);
                return match crate::jit::clif(&lowered.graph, *kernels) {
                    Ok(text) => print_stdout(&text),
                    Err(msg) => {
                        eprintln!("error: internal: {msg}");
                        Outcome::Internal
                    }
                };
            }
            if *stage == Stage::Opt {
                let ran = passes::run_pipeline(&mut lowered);
                text = ran.iter().map(|(name, n)| format!("// pass {name}: {n} changed\n")).collect();
            }
            text.push_str(&print_graph(&lowered.graph));
            print_stdout(&text)
        }
    }
}

/// Runs the front end and lowers the model; `None` (after printing the
/// diagnostics) when there is none.
fn compile(cli: &Cli, file: &std::path::Path, loader: &FsLoader, settings: &[String]) -> Option<(FrontEnd, Lowered)> {
    let fe = check::check_file_with(file, loader, settings);
    if report(cli, &fe, &fe.diags.list) {
        return None;
    }
    let Some(model) = &fe.model else {
        let d = Diagnostic::error(crate::diag::Code::NoModel, format!("`{}` defines no model", file.display()))
            .note("a profile library can be checked, but there is nothing to compile");
        report(cli, &fe, &[d]);
        return None;
    };
    match lower::lower(model, loader) {
        Ok(l) => Some((fe, l)),
        Err(d) => {
            report(cli, &fe, &[*d]);
            None
        }
    }
}

pub(crate) fn print_stdout(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Outcome::Ok,
        // A closed pipe (`analogc emit … | head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Outcome::Ok,
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            Outcome::UserError
        }
    }
}

/// Prints diagnostics to stderr; true if any is an error.
pub(crate) fn report(cli: &Cli, fe: &FrontEnd, diags: &[Diagnostic]) -> bool {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    if diags.is_empty() {
        return false;
    }
    match cli.message_format {
        MessageFormat::Json => {
            eprint!("{}", render::to_json_lines(&fe.map, diags));
        }
        MessageFormat::Human => {
            let choice = match cli.color {
                Color::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => ColorChoice::Auto,
                Color::Auto | Color::Never => ColorChoice::Never,
                Color::Always => ColorChoice::Always,
            };
            let mut err = StandardStream::stderr(choice);
            let _ = render::emit(&mut err, &fe.map, diags);
            let warnings = diags.len() - errors;
            let mut parts = vec![];
            if errors > 0 {
                parts.push(format!("{errors} error{}", if errors == 1 { "" } else { "s" }));
            }
            if warnings > 0 {
                parts.push(format!("{warnings} warning{}", if warnings == 1 { "" } else { "s" }));
            }
            let _ = writeln!(err, "{} emitted", parts.join(", "));
        }
    }
    errors > 0
}
