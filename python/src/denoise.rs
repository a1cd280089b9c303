//! `analogc._native.denoise`: `analogc denoise` from Python.

use crate::errors::to_py;
use crate::interrupt::interruptible;
use crate::options::choice;
use analogc::denoise::{denoise as place_blocks, Budget, DenoiseOptions, Placement};
use analogc::json::to_sorted_json;
use analogc::model::default_threads;
use analogc::{check, Exec, Model};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Places denoise blocks in the model in `file` (`weights` replacing its
/// weights file, as the model it ranks and as the tensors the written copy
/// carries): `denoise --json` and the table `denoise` prints; with `out`, the
/// folder `denoise --out` writes. The model is loaded with no `--set`
/// overrides, as the command loads it: the copy is written from the file's text.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn denoise(
    py: Python<'_>,
    file: PathBuf,
    weights: Option<PathBuf>,
    budget: &str,
    place: &str,
    hidden: Option<usize>,
    data: Option<&str>,
    limit: usize,
    seed: u64,
    threads: Option<usize>,
    out: Option<PathBuf>,
) -> PyResult<(String, String)> {
    let places =
        [("sensitive", Placement::Sensitive), ("insensitive", Placement::Insensitive), ("random", Placement::Random)];
    // The options are checked before the model is read, as the command checks them.
    let options = DenoiseOptions {
        budget: Budget::parse(budget).map_err(to_py)?,
        place: choice("place", place, &places)?,
        hidden,
        limit,
        exec: Exec { seed, threads: threads.unwrap_or_else(default_threads), ..Exec::default() },
    };
    options.check().map_err(to_py)?;
    let report = interruptible(py, |control| {
        let model = Model::load_checked(&file, &[], check::Options { weights, ..check::Options::default() })?;
        place_blocks(&model, data, &options, out.as_deref(), control)
    })?;
    Ok((to_sorted_json(&report, false), report.text()))
}
