//! The `analogc` command line. Subcommands are added here as the pipeline
//! grows (`emit --stage ir|opt|clif`, `run`, `eval`, `sweep`, `analyze`).

use crate::check::{self, FrontEnd};
use crate::diag::{render, Diagnostic, Severity};
use crate::source::FsLoader;
use crate::syntax;
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
    /// Print one stage of the pipeline for a file.
    Emit {
        /// The stage to print.
        #[arg(long, value_enum)]
        stage: Stage,
        file: PathBuf,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The syntax tree, as parsed (with byte spans).
    Ast,
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
        Command::Emit { stage: Stage::Ast, file } => {
            let fe = check::parse_file(file, &FsLoader::default());
            if report(cli, &fe, &fe.diags.list) {
                return Outcome::UserError;
            }
            let Some(ast) = &fe.ast else { return Outcome::UserError };
            print_stdout(&syntax::print_file(ast))
        }
    }
}

fn print_stdout(text: &str) -> Outcome {
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
fn report(cli: &Cli, fe: &FrontEnd, diags: &[Diagnostic]) -> bool {
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
