//! `analogc._native.import_onnx`: `analogc import` from Python.

use crate::errors::to_py;
use crate::options::choice;
use analogc::check;
use analogc::import::{default_name, import_file, ImportOptions, InputDtype};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Imports an ONNX file into `out`: the model file's path, the weights
/// file's (None when no layer has weights), the layer count and what
/// `analogc import` prints.
#[pyfunction]
pub fn import_onnx(
    py: Python<'_>,
    file: PathBuf,
    out: PathBuf,
    name: Option<String>,
    input_dtype: &str,
    scale: Option<f64>,
    normalize: Option<(f64, f64)>,
) -> PyResult<(PathBuf, Option<PathBuf>, usize, String)> {
    let options = ImportOptions {
        name: name.unwrap_or_else(|| default_name(&file)),
        input_dtype: choice("input_dtype", input_dtype, &[("u8", InputDtype::U8), ("f32", InputDtype::F32)])?,
        scale,
        normalize,
    };
    let written = py.detach(|| import_file(&file, &out, &options, check::Options::default())).map_err(to_py)?;
    let text = written.text();
    Ok((written.anl, written.weights, written.layers, text))
}
