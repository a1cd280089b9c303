//! How well does the AME predict accuracy? Each multiplier goes on every int8
//! layer; its accuracy is simulated (the evaluation of `eval`) and its AME
//! computed from one calibration (operand histograms and sensitivities traced
//! with exact multipliers); `accuracy ≈ c₂·AME² + c₁·AME + c₀` is fitted by
//! least squares and checked on each multiplier left out. `docs/analysis.md`
//! defines the AME.

use super::calibrate::{self, Calibration};
use super::fit::{eval_quadratic, fit_quadratic, spearman};
use super::multiplier_error as merr;
use super::sensitivity::sensitivities;
use crate::control::Control;
use crate::data::Data;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::evaluate::trial_hits;
use crate::model::{Exec, Model};
use analog_runtime::files;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::Format;
use analog_runtime::ir::Graph;
use serde::Serialize;
use std::time::Instant;

/// What to fit.
#[derive(Clone, Debug)]
pub struct FitAmeOptions {
    /// The multipliers, each as the `multiplier` effect takes it (`drum(4)`,
    /// `table("t.npy", layout = torchapprox)`…); at least 4.
    pub multipliers: Vec<String>,
    /// The dataset (a folder or a name); the model's own when `None`.
    pub data: Option<String>,
    /// Only the first N samples.
    pub limit: Option<usize>,
    /// Simulated chips per multiplier.
    pub trials: u32,
    /// Calibrate on the first N of the samples.
    pub calibrate_limit: usize,
    pub exec: Exec,
}

#[derive(Clone, Debug, Serialize)]
pub struct MultiplierFit {
    pub multiplier: String,
    pub ame: f64,
    /// Mean over trials.
    pub accuracy: f64,
    /// Per trial.
    pub trials: Vec<f64>,
    /// The fitted quadratic at this AME.
    pub fitted: f64,
    /// The quadratic fitted without this multiplier, at its AME.
    pub left_out_prediction: Option<f64>,
    pub left_out_deviation: Option<f64>,
    pub prediction_seconds: f64,
    pub simulation_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fit {
    pub c2: f64,
    pub c1: f64,
    pub c0: f64,
    pub mean_abs_deviation: Option<f64>,
    pub left_out_mean_abs_deviation: Option<f64>,
    pub left_out_max_abs_deviation: Option<f64>,
    pub spearman: Option<f64>,
}

/// What `fit-ame` found (`--json`).
#[derive(Clone, Debug, Serialize)]
pub struct FitAmeReport {
    pub model: String,
    pub int8_layers: Vec<String>,
    pub data: String,
    pub samples: usize,
    pub calibration_samples: usize,
    pub trials: u32,
    pub seed: u64,
    pub multipliers: Vec<MultiplierFit>,
    pub fit: Fit,
    /// The binomial standard error of one accuracy, averaged over the multipliers.
    pub accuracy_standard_error: f64,
    pub calibration_seconds: f64,
    pub prediction_seconds: f64,
    pub simulation_seconds: f64,
    pub speed_ratio: f64,
}

impl FitAmeOptions {
    /// The checks that need no model.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::user(Code::BadAnalysis, msg));
        if self.calibrate_limit == 0 {
            return bad("`--calibrate-limit 0`: the calibration needs at least one sample".into());
        }
        let list = self.multipliers.join(",");
        if let Some(k) = self.multipliers.iter().position(|m| m.trim().is_empty()) {
            return bad(format!("`--multipliers {list}`: multiplier {} is empty", k + 1));
        }
        if self.multipliers.len() < 4 {
            return bad(format!(
                "`--multipliers {list}`: a quadratic fit checked on each multiplier left out needs at least 4 multipliers, got {}",
                self.multipliers.len()
            ));
        }
        crate::limits::trials(self.trials)?;
        self.exec.check()
    }
}

/// The int8 layers of a graph, by name.
fn int8_layers(g: &Graph) -> Vec<String> {
    g.nodes.iter().filter(|n| matches!(n.hw.format, Format::Int8 { .. })).map(|n| n.name.clone()).collect()
}

/// The AME of `g` from a calibration: `√Σ_l (G_l · e_l)²` over its int8 layers.
fn ame(g: &Graph, cal: &Calibration, gains: &[Option<f64>]) -> Result<f64, String> {
    let mut sum = 0.0;
    for (i, node) in g.nodes.iter().enumerate() {
        let Format::Int8 { signed, .. } = node.hw.format else { continue };
        let (Some(h), Some(gain)) = (&cal.histograms[i], gains[i]) else { continue };
        let table = merr::product_table(&node.hw.multiplier, signed)?;
        let w = merr::weighted(h, &merr::errors(table.as_ref(), signed));
        let k = merr::fan_in(g, node).unwrap_or(0);
        let (s_x, s_w) = merr::int8_scales(node).unwrap_or((0.0, 0.0));
        sum += (gain * merr::layer_error(&w, k, s_x, s_w)).powi(2);
    }
    Ok(sum.sqrt())
}

/// The model with every multiplier checked on its own, then put on every
/// int8 layer: the exact one first, then `options.multipliers` in order.
fn variants(model: &Model, layers: &[String], options: &FitAmeOptions) -> Result<Vec<Model>> {
    let mut models = vec![];
    for spec in std::iter::once("exact").chain(options.multipliers.iter().map(String::as_str)) {
        // On one layer first, so that a bad multiplier is reported once, not once per layer.
        model.with_settings(&[format!("{}.multiplier={spec}", layers[0])])?;
        let all: Vec<String> = layers.iter().map(|l| format!("{l}.multiplier={spec}")).collect();
        models.push(model.with_settings(&all)?);
    }
    Ok(models)
}

/// Simulates and predicts every multiplier of `options` on `model`, and fits.
/// Progress counts steps: the calibration, then one per multiplier.
pub fn fit_ame(model: &Model, options: &FitAmeOptions, control: Control) -> Result<FitAmeReport> {
    options.check()?;
    let layers = int8_layers(model.graph());
    if layers.is_empty() {
        return Err(Error::user(
            Code::NoInt8,
            format!(
                "model `{}` has no int8 layer to put a multiplier on (give one `format int8(…)`, or add it with --set LAYER.format=int8(…))",
                model.name()
            ),
        ));
    }
    let mut models = variants(model, &layers, options)?;
    let exact = models.remove(0);
    let data = Data::open(&exact, options.data.as_deref(), options.limit)?;
    control.progress.start(options.multipliers.len() as u64 + 1);
    // One calibration, with exact multipliers: the operand distribution of the network.
    control.progress.stage("calibration");
    let started = Instant::now();
    let (seed, threads, n) = (options.exec.seed, options.exec.threads, data.n);
    let n_cal = options.calibrate_limit.min(n);
    let quiet = exact.graph().without_noise();
    let interp =
        Interpreter::new(&quiet, |p| files::read(p, files::TABLE)).map_err(|e| Error::user(Code::BadTable, e))?;
    let interrupted = || Error::interrupted("");
    let cal =
        calibrate::calibrate(&interp, &quiet, &data.set, n_cal, seed, threads, control).ok_or_else(interrupted)?;
    let rms: Vec<f64> = cal.activations.iter().map(|a| a.rms).collect();
    let gains = sensitivities(exact.graph(), &rms, &data.set, n_cal, seed, threads, control).ok_or_else(interrupted)?;
    let calibration_seconds = started.elapsed().as_secs_f64();
    control.progress.advance(1);
    let mut rows = vec![];
    for (spec, m) in options.multipliers.iter().zip(&models) {
        control.progress.stage(spec);
        // Passes never reorder nodes, and multipliers change no node: the calibration's indices hold.
        let started = Instant::now();
        let a = ame(m.graph(), &cal, &gains).map_err(|e| Error::user(Code::BadTable, e))?;
        let prediction_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let hits = trial_hits(m.graph(), &data, options.trials, &options.exec, control)?;
        let simulation_seconds = started.elapsed().as_secs_f64();
        let accuracies: Vec<f64> = hits.iter().map(|h| *h as f64 / n as f64).collect();
        let accuracy = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        rows.push(MultiplierFit {
            multiplier: spec.clone(),
            ame: a,
            accuracy,
            trials: accuracies,
            fitted: f64::NAN,
            left_out_prediction: None,
            left_out_deviation: None,
            prediction_seconds,
            simulation_seconds,
        });
        control.progress.advance(1);
    }
    let (pred_total, sim_total): (f64, f64) =
        rows.iter().fold((0.0, 0.0), |(p, s), r| (p + r.prediction_seconds, s + r.simulation_seconds));
    let y: Vec<f64> = rows.iter().map(|r| r.accuracy).collect();
    // The binomial standard error of one accuracy, averaged over the multipliers.
    let evaluated = (n * options.trials as usize) as f64;
    let standard_error = y.iter().map(|a| (a * (1.0 - a) / evaluated).sqrt()).sum::<f64>() / y.len() as f64;
    let fit = fit_rows(&mut rows)?;
    Ok(FitAmeReport {
        model: exact.name().to_string(),
        int8_layers: layers,
        data: data.dir.display().to_string(),
        samples: n,
        calibration_samples: n_cal,
        trials: options.trials,
        seed,
        multipliers: rows,
        fit,
        accuracy_standard_error: standard_error,
        calibration_seconds,
        prediction_seconds: pred_total,
        simulation_seconds: sim_total,
        speed_ratio: sim_total / pred_total.max(1e-9),
    })
}

/// Fits the quadratic through every multiplier's (AME, accuracy), and again
/// without each one to predict it; fills in each row's fitted and left-out figures.
fn fit_rows(rows: &mut [MultiplierFit]) -> Result<Fit> {
    let x: Vec<f64> = rows.iter().map(|r| r.ame).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.accuracy).collect();
    let Some(c) = fit_quadratic(&x, &y) else {
        return Err(Error::user(
            Code::BadAnalysis,
            format!(
                "the multipliers' AMEs ({}) do not determine a quadratic: at least 3 must differ",
                x.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let mut deviations = vec![];
    for (i, row) in rows.iter_mut().enumerate() {
        let (xs, ys): (Vec<f64>, Vec<f64>) =
            x.iter().zip(&y).enumerate().filter(|(j, _)| *j != i).map(|(_, (a, b))| (*a, *b)).unzip();
        row.fitted = eval_quadratic(&c, row.ame);
        row.left_out_prediction = fit_quadratic(&xs, &ys).map(|c| eval_quadratic(&c, x[i]));
        row.left_out_deviation = row.left_out_prediction.map(|p| (p - row.accuracy).abs());
        deviations.extend(row.left_out_deviation);
    }
    let mad = |d: &[f64]| if d.is_empty() { None } else { Some(d.iter().sum::<f64>() / d.len() as f64) };
    let in_sample: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (eval_quadratic(&c, *a) - b).abs()).collect();
    Ok(Fit {
        c2: c[2],
        c1: c[1],
        c0: c[0],
        mean_abs_deviation: mad(&in_sample),
        left_out_mean_abs_deviation: mad(&deviations),
        left_out_max_abs_deviation: deviations
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d)))),
        spearman: spearman(&x, &y),
    })
}
