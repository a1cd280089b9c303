//! The library's progress and cancellation, as the terminal shows them: an
//! indicatif bar on stderr when it is a terminal, and Ctrl-C.

use crate::control::{Cancel, Control, Progress, Silent};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

struct CtrlC;

impl Cancel for CtrlC {
    fn cancelled(&self) -> bool {
        INTERRUPTED.load(Ordering::Relaxed)
    }
}

/// No progress shown; cancelled by Ctrl-C.
pub fn ctrl_c() -> Control<'static> {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    Control { progress: &Silent, cancel: &CtrlC }
}

/// A progress bar with `template` (indicatif's syntax), hidden when stderr is
/// not a terminal.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new(template: &str) -> Bar {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(bar)
    }

    /// The bar's progress, cancelled by Ctrl-C.
    pub fn control(&self) -> Control<'_> {
        Control { progress: self, cancel: ctrl_c().cancel }
    }

    /// Runs `f` (which prints) with the bar hidden, then redraws it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    /// Clears the bar after a success, leaves it after a failure.
    pub fn end<T, E>(&self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.0.finish_and_clear(),
            Err(_) => self.0.abandon(),
        }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn stage(&self, what: &str) {
        self.0.set_message(what.to_string());
    }
    fn advance(&self, units: u64) {
        self.0.inc(units);
    }
}
