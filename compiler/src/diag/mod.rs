//! Diagnostics as data: collected by every stage, rendered in one place
//! ([`render`]).

mod codes;
pub mod render;

pub use codes::Code;

use crate::source::Span;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub labels: Vec<Label>,
    /// Free-standing notes; those starting with `help:` are suggestions.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        let severity = if code.as_str().starts_with('W') { Severity::Warning } else { Severity::Error };
        Diagnostic { severity, code, message: message.into(), labels: vec![], notes: vec![] }
    }

    pub fn primary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.notes.push(format!("help: {}", help.into()));
        self
    }

    /// Adds a "did you mean" help when one of `candidates` is close to `name`.
    pub fn suggest<'a>(self, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match closest(name, candidates) {
            Some(near) => self.help(format!("did you mean `{near}`?")),
            None => self,
        }
    }
}

/// The candidate nearest to `name`, if it is near enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        // Near enough to be a typo, and not a rewrite of every letter.
        .filter(|(d, c)| *d <= 2.max(name.len().max(c.len()) / 3) && *d < name.len().max(c.len()))
        .min()
        .map(|(_, c)| c)
}

/// How many candidates "did you mean" compares names with in one front-end
/// run. Each unknown name is compared with every name of its kind, so a file
/// full of unknown names would take time quadratic in its length; past the
/// budget, diagnostics come without a suggestion.
pub const SUGGESTION_BUDGET: usize = 1 << 18;

/// The diagnostics of one front-end run, in the order they were found.
#[derive(Debug)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
    /// Candidates suggestions may still compare with.
    suggestions_left: usize,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics { list: vec![], suggestions_left: SUGGESTION_BUDGET }
    }
}

impl Diagnostics {
    /// The candidates a suggestion for one name compares with: all of them
    /// while the run's budget lasts, none once they would exceed it (all or
    /// nothing, so the suggestion never depends on the candidates' order).
    /// Give them to [`Diagnostic::suggest`].
    pub fn budgeted<'a>(&mut self, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let within: Vec<&str> = candidates.into_iter().take(self.suggestions_left + 1).collect();
        if within.len() > self.suggestions_left {
            self.suggestions_left = 0;
            return vec![];
        }
        self.suggestions_left -= within.len();
        within
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.severity == Severity::Error).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_stop_when_the_budget_is_spent_all_or_nothing() {
        let mut d = Diagnostics { list: vec![], suggestions_left: 5 };
        assert_eq!(d.budgeted(["a", "b", "c"]), ["a", "b", "c"]);
        // Three more would exceed the two left: none, and nothing more after.
        assert!(d.budgeted(["a", "b", "c"]).is_empty());
        assert!(d.budgeted(["a"]).is_empty());
        assert_eq!(d.suggestions_left, 0);
    }
}
