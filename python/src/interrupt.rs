//! Long runs without the GIL, stopped by Ctrl-C: the work runs on a scoped
//! thread while the calling thread (Python's main thread, where signal
//! handlers run) checks for signals; a pending KeyboardInterrupt cancels the
//! work through the library's `Cancel` and is raised once the work stops.

use analogc::control::Silent;
use analogc::{Control, Error};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How often the calling thread looks for signals while the work runs.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Runs `work` without the GIL; the error of a signal handler (KeyboardInterrupt) wins.
pub fn interruptible<T: Send>(py: Python<'_>, work: impl FnOnce(Control) -> Result<T, Error> + Send) -> PyResult<T> {
    let cancel = AtomicBool::new(false);
    let mut signal: Option<PyErr> = None;
    let result = py.detach(|| {
        std::thread::scope(|s| {
            let (done, finished) = mpsc::channel();
            let cancel = &cancel;
            let worker = s.spawn(move || {
                let result = work(Control { progress: &Silent, cancel });
                let _ = done.send(());
                result
            });
            while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(SIGNAL_CHECK) {
                if signal.is_none() {
                    if let Err(e) = Python::attach(|py| py.check_signals()) {
                        signal = Some(e);
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
            }
            worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    });
    match (signal, result) {
        (Some(e), _) => Err(e),
        (None, r) => r.map_err(crate::errors::to_py),
    }
}
