//! Library errors as Python exceptions: diagnostics become the package's
//! `ModelError` (the rendered text and the diagnostics as JSON lines, which
//! `analogc/errors.py` turns into dicts), input mismatches a `ValueError`,
//! analogc's own bugs a `RuntimeError`.

use analogc::diag::{render, Code};
use analogc::Error;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// The Python exception for a library error.
pub fn to_py(error: Error) -> PyErr {
    match error {
        Error::Internal(msg) => PyRuntimeError::new_err(format!("internal error: {msg}")),
        Error::User { sources, diagnostics } => {
            let input = [Code::InputDtype, Code::InputShape, Code::InputNames];
            if !diagnostics.is_empty() && diagnostics.iter().all(|d| input.contains(&d.code)) {
                let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
                return PyValueError::new_err(messages.join("\n"));
            }
            let text = render::to_string(&sources, &diagnostics).trim_end().to_string();
            let lines = render::to_json_lines(&sources, &diagnostics);
            Python::attach(|py| match model_error(py) {
                Ok(class) => PyErr::from_type(class, (text, lines)),
                Err(e) => e,
            })
        }
    }
}

fn model_error(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyType>> {
    Ok(py.import("analogc.errors")?.getattr("ModelError")?.cast_into()?)
}
