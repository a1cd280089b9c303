//! The native half of the `analogc` Python package: a thin door onto the
//! library. Results cross as the JSON the CLI prints (`--json`), so Python
//! sees the same fields and values; arrays cross as numpy arrays.

mod denoise;
mod errors;
mod import;
mod interrupt;
mod model;
mod options;
mod train;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add_function(wrap_pyfunction!(import::import_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(denoise::denoise, m)?)?;
    Ok(())
}
