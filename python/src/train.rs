//! `analogc._native.train`: `analogc train` from Python.

use crate::interrupt::interruptible;
use crate::options::{choice, exec};
use analogc::check::MAX_ELEMENTS;
use analogc::json::to_sorted_json;
use analogc::train::{Chip, Init, OrderedGrad};
use analogc::training::{load_for_training, OptimizerChoice, ScheduleChoice, TrainChoices, Training};
use analogc::{Cancel, Control};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Trains the model in `file` (with `settings`, and `weights` replacing its
/// weights file; with `dnf`, by Differential Noise Finetuning): `train --json`
/// and the report `train` prints; with `out`, the run folder `train --out` writes.
/// `on_epoch` is called with each epoch's record as JSON text, the GIL held;
/// an exception it raises stops training and is raised here.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    file: PathBuf,
    settings: Vec<String>,
    weights: Option<PathBuf>,
    data: Option<&str>,
    epochs: u32,
    batch: usize,
    lr: Option<f64>,
    optimizer: &str,
    momentum: Option<f64>,
    nesterov: bool,
    weight_decay: Option<f64>,
    schedule: &str,
    step_every: Option<u64>,
    step_factor: Option<f64>,
    clip: Option<f64>,
    init: Option<&str>,
    train: Vec<String>,
    freeze: Vec<String>,
    ordered_grad: &str,
    chip: &str,
    dnf: bool,
    dnf_refresh: Option<u32>,
    val: usize,
    limit: Option<usize>,
    out: Option<PathBuf>,
    seed: u64,
    threads: Option<usize>,
    backend: &str,
    kernels: &str,
    on_epoch: Option<Py<PyAny>>,
) -> PyResult<(String, String)> {
    let inits = [("keep", Init::Keep), ("kaiming", Init::Kaiming), ("xavier", Init::Xavier)];
    let choices = TrainChoices {
        epochs,
        batch,
        lr,
        optimizer: choice(
            "optimizer",
            optimizer,
            &[("sgd", OptimizerChoice::Sgd), ("adam", OptimizerChoice::Adam), ("adamw", OptimizerChoice::AdamW)],
        )?,
        momentum,
        nesterov,
        weight_decay,
        schedule: choice(
            "schedule",
            schedule,
            &[
                ("constant", ScheduleChoice::Constant),
                ("cosine", ScheduleChoice::Cosine),
                ("step", ScheduleChoice::Step),
            ],
        )?,
        step_every,
        step_factor,
        clip,
        init: init.map(|i| choice("init", i, &inits)).transpose()?,
        train,
        freeze,
        ordered_grad: choice(
            "ordered_grad",
            ordered_grad,
            &[("exact", OrderedGrad::Exact), ("linear", OrderedGrad::Linear)],
        )?,
        chip: choice("chip", chip, &[("fresh", Chip::Fresh), ("fixed", Chip::Fixed)])?,
        dnf,
        dnf_refresh,
        val,
        limit,
        exec: exec(seed, threads, backend, kernels)?,
    };
    // The callback's exception, which stops training at the next step.
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let report = interruptible(py, |control| {
        let options = choices.options()?;
        let model = load_for_training(&file, &settings, weights, data.is_some(), MAX_ELEMENTS)?;
        let training = Training::new(&model, &choices, options, out.as_deref())?;
        let stop = AtomicBool::new(false);
        let cancel = Either(control.cancel, &stop);
        let control = Control { progress: control.progress, cancel: &cancel };
        training.run(data, control, &mut |record| {
            let Some(callback) = &on_epoch else { return };
            if let Err(e) = Python::attach(|py| callback.call1(py, (to_sorted_json(record, false),))) {
                *raised.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
        })
    });
    if let Some(e) = raised.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let report = report?;
    Ok((to_sorted_json(&report, false), report.text()))
}

/// Cancelled when either is.
struct Either<'a>(&'a dyn Cancel, &'a AtomicBool);

impl Cancel for Either<'_> {
    fn cancelled(&self) -> bool {
        self.0.cancelled() || self.1.cancelled()
    }
}
