//! How a caller watches and stops a long computation: progress and
//! cancellation, supplied by the caller (the CLI adapts them to a progress bar
//! and Ctrl-C, the Python binding to its own progress and KeyboardInterrupt).
//! Both are called from worker threads.

use std::sync::atomic::{AtomicBool, Ordering};

/// Progress of a computation in units (samples, grid points, steps).
pub trait Progress: Sync {
    /// The work ahead: `total` units in all.
    fn start(&self, _total: u64) {}
    /// What is being done now ("clean", "trial 2/5", "fc1 sigma=0.1").
    fn stage(&self, _what: &str) {}
    /// `units` more are done.
    fn advance(&self, _units: u64) {}
}

/// Whether the caller wants the computation stopped. A stopped computation
/// returns [`Error::interrupted`](crate::Error::interrupted) and writes nothing.
pub trait Cancel: Sync {
    fn cancelled(&self) -> bool;
}

impl Cancel for AtomicBool {
    fn cancelled(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {}

/// Never cancelled.
pub struct Never;

impl Cancel for Never {
    fn cancelled(&self) -> bool {
        false
    }
}

/// The progress and cancellation of one call.
#[derive(Copy, Clone)]
pub struct Control<'a> {
    pub progress: &'a dyn Progress,
    pub cancel: &'a dyn Cancel,
}

impl Control<'static> {
    /// Silent and never cancelled.
    pub fn none() -> Self {
        Control { progress: &Silent, cancel: &Never }
    }
}

impl<'a> Control<'a> {
    /// The same cancellation without progress (for inner loops whose units
    /// the caller's progress does not count).
    pub fn quiet(self) -> Control<'a> {
        Control { progress: &Silent, cancel: self.cancel }
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.cancelled()
    }
}
