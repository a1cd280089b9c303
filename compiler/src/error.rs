//! The one error type of the library: what went wrong, as data. Rendering is
//! the caller's (`diag::render`); nothing here prints.

use crate::diag::{Code, Diagnostic};
use crate::source::SourceMap;

/// Why a library call failed.
#[derive(Debug)]
pub enum Error {
    /// The user's input is wrong (model, settings, data, files, options) or
    /// the run was cancelled: diagnostics, rendered against `sources` (empty
    /// when no diagnostic points into a file).
    User { sources: Box<SourceMap>, diagnostics: Vec<Diagnostic> },
    /// A bug of analogc's.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A problem that has no place in a source file (data, options, output files).
    pub fn user(code: Code, message: impl Into<String>) -> Self {
        Error::User { sources: Box::default(), diagnostics: vec![Diagnostic::error(code, message)] }
    }

    /// The caller's [`Cancel`](crate::control::Cancel) stopped the run; `what`
    /// says how far it got ("after 2 of 5 trials").
    pub fn interrupted(what: impl Into<String>) -> Self {
        let what = what.into();
        let message = if what.is_empty() { "interrupted".to_string() } else { format!("interrupted {what}") };
        Error::user(Code::Interrupted, message)
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Internal(_))
    }

    /// The diagnostics of a user error (none for an internal one).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::User { diagnostics, .. } => diagnostics,
            Error::Internal(_) => &[],
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::User { sources, diagnostics } => {
                f.write_str(crate::diag::render::to_string(sources, diagnostics).trim_end())
            }
            Error::Internal(msg) => write!(f, "internal error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
