//! Keyword arguments turned into the library's options, with the CLI's
//! defaults (the Python signatures in `analogc/__init__.py` carry them).

use analogc::model::default_threads;
use analogc::{Backend, Exec, Kernels};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `Exec` from `seed`, `threads` (default: all cores), `backend` ("jit",
/// "interp") and `kernels` ("native", "cranelift").
pub fn exec(seed: u64, threads: Option<usize>, backend: &str, kernels: &str) -> PyResult<Exec> {
    let backend = match backend {
        "jit" => Backend::Jit,
        "interp" => Backend::Interp,
        other => return Err(PyValueError::new_err(format!("backend must be \"jit\" or \"interp\", not {other:?}"))),
    };
    let kernels = match kernels {
        "native" => Kernels::Native,
        "cranelift" => Kernels::Cranelift,
        other => {
            return Err(PyValueError::new_err(format!("kernels must be \"native\" or \"cranelift\", not {other:?}")))
        }
    };
    let exec = Exec { seed, threads: threads.unwrap_or_else(default_threads), backend, kernels, ..Exec::default() };
    exec.check().map_err(crate::errors::to_py)?;
    Ok(exec)
}

/// One of `choices` by its name, for an option `what`.
pub fn choice<T: Copy>(what: &str, value: &str, choices: &[(&str, T)]) -> PyResult<T> {
    choices.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
        PyValueError::new_err(format!("{what} must be one of {}, not {value:?}", names.join(", ")))
    })
}
