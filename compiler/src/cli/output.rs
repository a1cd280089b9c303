//! Where the CLI's output goes: results on stdout, diagnostics on stderr
//! (rendered for people or as JSON lines), and the exit code.

use super::{Cli, Color, MessageFormat};
use crate::diag::{render, Diagnostic, Severity};
use crate::error::Error;
use crate::source::SourceMap;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use std::io::Write;

/// How a run ended; the process exit code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok = 0,
    UserError = 1,
    Internal = 2,
}

pub fn print_stdout(text: &str) -> Outcome {
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

/// Reports a library error; its exit code.
pub fn fail(cli: &Cli, error: Error) -> Outcome {
    match error {
        Error::User { sources, diagnostics } => {
            report(cli, &sources, &diagnostics);
            Outcome::UserError
        }
        Error::Internal(msg) => {
            eprintln!("internal error: {msg}");
            Outcome::Internal
        }
    }
}

/// Prints the result of a library call, or reports its error.
pub fn print_or_fail<T>(cli: &Cli, result: crate::error::Result<T>, text: impl FnOnce(T) -> String) -> Outcome {
    match result {
        Ok(value) => print_stdout(&text(value)),
        Err(e) => fail(cli, e),
    }
}

/// Prints diagnostics to stderr; true if any is an error.
pub fn report(cli: &Cli, map: &SourceMap, diags: &[Diagnostic]) -> bool {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    if diags.is_empty() {
        return false;
    }
    match cli.message_format {
        MessageFormat::Json => {
            eprint!("{}", render::to_json_lines(map, diags));
        }
        MessageFormat::Human => {
            let choice = match cli.color {
                Color::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => ColorChoice::Auto,
                Color::Auto | Color::Never => ColorChoice::Never,
                Color::Always => ColorChoice::Always,
            };
            let mut err = StandardStream::stderr(choice);
            let _ = render::emit(&mut err, map, diags);
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
