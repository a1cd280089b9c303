//! `analogc._native.Model`: a loaded model and the commands that run it.

use crate::errors::to_py;
use crate::interrupt::interruptible;
use crate::options::{choice, exec};
use analog_runtime::ir::{Dtype, NodeKind};
use analog_runtime::npy;
use analogc::analysis::{analyze, analyze_on_data, CalibrateOptions};
use analogc::jit::Compiled;
use analogc::json::to_sorted_json;
use analogc::sweep::{grid::parse_shard, output, Kind, Sites};
use analogc::{
    check, diag::Code, evaluate, files::Lock, infer, Backend, Data, Engine, Error, EvalOptions, Kernels, SweepOptions,
};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[pyclass(frozen, module = "analogc._native")]
pub struct Model {
    model: analogc::Model,
    /// The JIT's code per choice of kernels, compiled by the first `run` that
    /// needs it and kept: nothing changes a loaded model (`with_settings` loads
    /// another), and the thread count does not change the code.
    compiled: Mutex<Vec<(Kernels, Arc<Compiled>)>>,
}

impl Model {
    fn new(model: analogc::Model) -> Model {
        Model { model, compiled: Mutex::default() }
    }

    /// The engine for `backend`: the JIT's kept code, or an interpreter (cheap to build).
    fn engine(&self, backend: Backend, kernels: Kernels) -> Result<Engine<'_>, Error> {
        if backend == Backend::Interp {
            return self.model.engine(backend, kernels);
        }
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, code)) = compiled.iter().find(|(k, _)| *k == kernels) {
            return Ok(Engine::Jit(code.clone()));
        }
        let engine = self.model.engine(backend, kernels)?;
        if let Engine::Jit(code) = &engine {
            compiled.push((kernels, code.clone()));
        }
        Ok(engine)
    }
}

/// Loads a model file with `--set` overrides and `weights` replacing its
/// weights file. Its own `data` folder is checked when a command reads it, as
/// when the CLI is given another dataset.
#[pyfunction]
pub fn load(py: Python<'_>, path: PathBuf, settings: Vec<String>, weights: Option<PathBuf>) -> PyResult<Model> {
    let options = check::Options { own_data: false, weights, ..check::Options::default() };
    let model = py.detach(|| analogc::Model::load_checked(&path, &settings, options)).map_err(to_py)?;
    Ok(Model::new(model))
}

/// An array as the library reads it from `.npy`: uint8 or float32 values as f32.
fn array(name: Option<&str>, x: &Bound<'_, PyAny>) -> PyResult<npy::Array> {
    if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let data = a.as_slice().map(<[f32]>::to_vec).unwrap_or_else(|_| a.as_array().iter().copied().collect());
        return Ok(npy::Array { dtype: Dtype::F32, shape: a.shape().to_vec(), data });
    }
    if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, u8>>() {
        let data = a.as_array().iter().map(|&v| f32::from(v)).collect();
        return Ok(npy::Array { dtype: Dtype::U8, shape: a.shape().to_vec(), data });
    }
    let what = name.map_or("the input".to_string(), |n| format!("input `{n}`"));
    let dtype = x.getattr("dtype").map_or_else(|_| x.get_type().to_string(), |d| d.to_string());
    Err(PyValueError::new_err(format!("{what}: a numpy array of uint8 or float32 is needed, not {dtype}")))
}

#[pymethods]
impl Model {
    /// The same file loaded again with more overrides after this model's own.
    fn with_settings(&self, py: Python<'_>, extra: Vec<String>) -> PyResult<Model> {
        let model = py.detach(|| self.model.with_settings(&extra)).map_err(to_py)?;
        Ok(Model::new(model))
    }

    #[getter]
    fn name(&self) -> &str {
        self.model.name()
    }

    #[getter]
    fn file(&self) -> PathBuf {
        self.model.file().to_path_buf()
    }

    #[getter]
    fn settings(&self) -> Vec<String> {
        self.model.settings().to_vec()
    }

    /// The weights file that replaced the model's own, if one did.
    #[getter]
    fn weights(&self) -> Option<PathBuf> {
        self.model.check_options().weights.clone()
    }

    /// The inputs: (name, dtype, shape of one sample).
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Vec<usize>)> {
        let nodes = self.model.graph().nodes.iter();
        nodes
            .filter_map(|n| match &n.kind {
                NodeKind::Input { dtype, shape, .. } => Some((n.name.clone(), dtype.to_string(), shape.clone())),
                _ => None,
            })
            .collect()
    }

    /// The outputs: (name, shape of one sample).
    #[getter]
    fn outputs(&self) -> Vec<(String, Vec<usize>)> {
        let g = self.model.graph();
        g.outputs.iter().map(|(name, id)| (name.clone(), g.node(*id).shape.clone())).collect()
    }

    /// The outputs for `inputs` (name or None → array) on chip `trial`: name → float32 array, batch first.
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<(Option<String>, Bound<'py, PyAny>)>,
        seed: u64,
        trial: u32,
        threads: Option<usize>,
        backend: &str,
        kernels: &str,
    ) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
        let exec = exec(seed, threads, backend, kernels)?;
        let arrays = inputs
            .iter()
            .map(|(name, x)| Ok((name.clone(), array(name.as_deref(), x)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let graph = self.model.graph();
        let outputs = py
            .detach(|| {
                let batches = infer::inputs_from_arrays(graph, arrays)?;
                let engine = self.engine(exec.backend, exec.kernels)?;
                let chip = engine.chip(exec.seed, trial);
                Ok::<_, Error>(infer::run(graph, &engine, &chip, &batches, exec.threads))
            })
            .map_err(to_py)?;
        let samples = outputs.values.len();
        let mut result = vec![];
        for (k, name) in outputs.names.iter().enumerate() {
            let data: Vec<f32> = outputs.values.iter().flat_map(|r| r[k].iter().copied()).collect();
            let shape: Vec<usize> = std::iter::once(samples).chain(outputs.shapes[k].iter().copied()).collect();
            result.push((name.clone(), PyArray1::from_vec(py, data).reshape(shape)?.into_any()));
        }
        Ok(result)
    }

    /// `eval --json` and the summary `eval` prints.
    #[allow(clippy::too_many_arguments)]
    fn eval(
        &self,
        py: Python<'_>,
        data: Option<&str>,
        trials: u32,
        limit: Option<usize>,
        seed: u64,
        threads: Option<usize>,
        batch: usize,
        backend: &str,
        kernels: &str,
    ) -> PyResult<(String, String)> {
        let options = EvalOptions { trials, batch, exec: exec(seed, threads, backend, kernels)? };
        let model = &self.model;
        let report = interruptible(py, |control| {
            let data = Data::open(model, data, limit)?;
            evaluate(model, &data, &options, control)
        })?;
        Ok((to_sorted_json(&report, false), report.text()))
    }

    /// `sweep --json` (without its timing) and the table `sweep` prints; with
    /// `out`, the files `sweep --out` writes.
    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &self,
        py: Python<'_>,
        sites: &str,
        kind: &str,
        ratio: f64,
        sigma: String,
        global: bool,
        sweep: Option<String>,
        trials: u32,
        limit: Option<usize>,
        data: Option<&str>,
        shard: Option<&str>,
        out: Option<PathBuf>,
        seed: u64,
        threads: Option<usize>,
        backend: &str,
        kernels: &str,
    ) -> PyResult<(String, String)> {
        let shard = shard.map(parse_shard).transpose().map_err(|e| to_py(Error::user(Code::BadSweep, e)))?;
        let options = SweepOptions {
            sites: choice("sites", sites, &[("mac", Sites::Mac), ("all", Sites::All)])?,
            kind: choice(
                "kind",
                kind,
                &[("additive", Kind::Additive), ("multiplicative", Kind::Multiplicative), ("mixed", Kind::Mixed)],
            )?,
            ratio,
            sigma,
            global,
            sweep,
            trials,
            shard,
            exec: exec(seed, threads, backend, kernels)?,
        };
        options.check().map_err(to_py)?;
        // The output folder is taken first: a second run on it fails now, not at the end.
        let lock = out.as_deref().map(Lock::take).transpose().map_err(to_py)?;
        let model = &self.model;
        let result = interruptible(py, |control| {
            let data = Data::open(model, data, limit)?;
            analogc::sweep(model, &data, &options, control)
        })?;
        if let Some(lock) = &lock {
            output::write(&result, lock).map_err(to_py)?;
        }
        Ok((to_sorted_json(&result.to_file(), false), result.table()))
    }

    /// `analyze --json` and the report `analyze` prints: static, or calibrated
    /// on `data` (`Some("")`: the model's own) when `calibrate`.
    #[allow(clippy::too_many_arguments)]
    fn analyze(
        &self,
        py: Python<'_>,
        calibrate: Option<&str>,
        limit: Option<usize>,
        calibrate_limit: usize,
        trials: u32,
        sweep_dir: Option<PathBuf>,
        seed: u64,
        threads: Option<usize>,
        backend: &str,
        kernels: &str,
    ) -> PyResult<(String, String)> {
        let exec = exec(seed, threads, backend, kernels)?;
        let model = &self.model;
        let report = match calibrate {
            None => analyze(model).map_err(to_py)?,
            Some(data) => interruptible(py, |control| {
                let options = CalibrateOptions { trials, calibrate_limit, midpoints: None, exec };
                let data = Some(data).filter(|d| !d.is_empty());
                analyze_on_data(model, data, limit, sweep_dir.as_deref(), options, control)
            })?,
        };
        Ok((to_sorted_json(&report, false), report.text()))
    }
}
