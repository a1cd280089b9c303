//! `analyze`'s report, typed: per MAC layer its cost and what the hardware
//! does to it; calibrated on data, also activation ranges, ADC clipping,
//! data-weighted multiplier errors, the AME and where a denoise block would
//! help. `docs/analysis.md` defines every figure.

use super::calibrate::{self, Calibration};
use super::multiplier_error::{self as merr, fan_in};
use super::sensitivity::{adds_noise, sensitivities, without_noise_at};
use crate::control::Control;
use crate::data::Data;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::evaluate::trial_hits;
use crate::model::{Exec, Model};
use crate::sweep::SweepResult;
use analog_runtime::files;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Accumulate, Format};
use analog_runtime::ir::{Graph, Node, NodeKind};
use analog_runtime::multiplier::{self, ErrorStats};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub model: String,
    /// Multiply-accumulates per sample.
    pub macs: usize,
    pub params: usize,
    /// The MAC layers.
    pub layers: Vec<LayerAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationReport>,
    /// The AME (calibrated; `Some(None)` without int8 layers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ame: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denoise: Option<DenoisePlacement>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerAnalysis {
    pub name: String,
    pub op: &'static str,
    pub macs: usize,
    pub params: usize,
    pub fan_in: usize,
    /// What ordered accumulation does, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accumulate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abfp: Option<AbfpBudget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<MultiplierReport>,
    /// Calibrated: `Some(None)` for a layer whose output is all zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Option<f64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AbfpBudget {
    pub tile: usize,
    pub bits_for_exact_tile: u32,
    pub adc_bits: u32,
    pub low_bits_lost_at_gain_1: u32,
    pub gain: f64,
    /// Calibrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipping: Option<Clipping>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Clipping {
    pub conversions: u64,
    pub clipped: u64,
    pub rate: f64,
}

/// A layer's multiplier: its error metrics over all operand pairs (an
/// approximate one), and calibrated, weighted by the operands seen.
#[derive(Clone, Debug, Serialize)]
pub struct MultiplierReport {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stats: Option<MultiplierStats>,
    /// `Some(true)` for an exact multiplier that is reported only calibrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_weighted: Option<DataWeighted>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MultiplierStats {
    pub error_rate: f64,
    pub mean_error: f64,
    pub mean_abs_error: f64,
    pub mred: f64,
    pub worst_case_error: i64,
    pub error_std: f64,
    pub output_bias: f64,
    pub output_spread: f64,
}

impl MultiplierStats {
    fn of(s: &ErrorStats, fan_in: usize) -> Self {
        let k = fan_in as f64;
        MultiplierStats {
            error_rate: s.error_rate,
            mean_error: s.mean_error,
            mean_abs_error: s.mean_abs_error,
            mred: s.mred,
            worst_case_error: s.worst_case,
            error_std: s.error_std,
            output_bias: k * s.mean_error,
            output_spread: k.sqrt() * s.error_std,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DataWeighted {
    pub pairs: u64,
    pub mean_error: f64,
    pub error_std: f64,
    pub output_bias: f64,
    pub output_spread: f64,
    pub s_x: f64,
    pub s_w: f64,
    pub output_error: f64,
    pub error_at_output: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CalibrationReport {
    pub samples: usize,
    pub seed: u64,
    /// The output sensitivities are measured on.
    pub output: String,
    pub activations: Vec<ActivationReport>,
    pub data: String,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ActivationReport {
    pub name: String,
    pub shape: Vec<usize>,
    pub min: f32,
    pub max: f32,
    pub mean_abs: f64,
    pub rms: f64,
    pub p99_9_abs: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct DenoisePlacement {
    /// `midpoint` or `sensitivity`.
    pub ranked_by: &'static str,
    /// The samples the gains are measured on.
    pub samples: usize,
    pub trials: u32,
    /// Accuracy with all the model's noise (`None` when no layer adds noise).
    pub accuracy: Option<f64>,
    pub ranking: Vec<DenoiseRank>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DenoiseRank {
    pub layer: String,
    pub sensitivity: Option<f64>,
    pub midpoint: Option<f64>,
    pub adds_noise: bool,
    /// Accuracy gained with the layer's own noise removed.
    pub gain: Option<f64>,
}

/// What a calibrated analysis runs on.
pub struct CalibrateOptions {
    /// Simulated chips over which denoise gains are measured.
    pub trials: u32,
    /// Calibrate (activations, clipping, operand histograms, sensitivities:
    /// traced by the reference interpreter) on the first N samples; denoise
    /// gains are measured on all of them.
    pub calibrate_limit: usize,
    /// Walking-Noise midpoints per site, to rank layers by instead of sensitivity.
    pub midpoints: Option<Vec<(String, Option<f64>)>>,
    pub exec: Exec,
}

impl CalibrateOptions {
    /// The checks that need no model.
    pub fn check(&self) -> Result<()> {
        crate::limits::trials(self.trials)?;
        if self.calibrate_limit == 0 {
            return Err(Error::user(
                Code::BadAnalysis,
                "`--calibrate-limit 0`: the calibration needs at least one sample",
            ));
        }
        self.exec.check()
    }
}

fn op_name(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Op { op, .. } => op.name(),
        NodeKind::Input { .. } => "input",
    }
}

/// Multiply-accumulates per sample, and the reduction length (fan-in) of each output.
fn macs(g: &Graph, node: &Node) -> Option<(usize, usize)> {
    let fan_in = fan_in(g, node)?;
    Some((node.shape.iter().product::<usize>() * fan_in, fan_in))
}

/// The static report of a layer (`None` for nodes that are not MAC layers).
fn layer(g: &Graph, node: &Node) -> Result<Option<LayerAnalysis>> {
    let Some((mac_count, fan_in)) = macs(g, node) else { return Ok(None) };
    let mut layer = LayerAnalysis {
        name: node.name.clone(),
        op: op_name(node),
        macs: mac_count,
        params: node.params.iter().map(|p| p.value.len()).sum(),
        fan_in,
        accumulate: None,
        abfp: None,
        multiplier: None,
        sensitivity: None,
    };
    if let Accumulate::Ordered { order, lo, hi, leak } = &node.hw.accumulate {
        layer.accumulate = Some(format!(
            "ordered accumulation ({} order, saturating at [{lo}, {hi}], leak {leak}): the sum depends on the order",
            order.name()
        ));
    }
    match &node.hw.format {
        Format::Abfp { block, input_bits, weight_bits, adc_bits, gain, .. } => {
            let n = (*block as usize).min(fan_in);
            let needed = weight_bits + input_bits + (n as f64).log2().ceil() as u32 - 1;
            layer.abfp = Some(AbfpBudget {
                tile: n,
                bits_for_exact_tile: needed,
                adc_bits: *adc_bits,
                low_bits_lost_at_gain_1: needed.saturating_sub(*adc_bits),
                gain: *gain,
                clipping: None,
            });
        }
        // Tables were checked by the front end; this only reads them again.
        Format::Int8 { signed, .. } => {
            if let Some(t) = merr::product_table(&node.hw.multiplier, *signed).map_err(bad_table)? {
                let stats = Some(MultiplierStats::of(&multiplier::error_stats(&t), fan_in));
                layer.multiplier = Some(MultiplierReport { stats, exact: None, data_weighted: None });
            }
        }
        _ => {}
    }
    Ok(Some(layer))
}

fn bad_table(e: String) -> Error {
    Error::user(Code::BadTable, e)
}

/// The static report: cost, ABFP bit budgets and multiplier error metrics per MAC layer.
pub fn analyze(model: &Model) -> Result<Analysis> {
    let g = model.graph();
    let mut layers = vec![];
    for node in &g.nodes {
        layers.extend(layer(g, node)?);
    }
    Ok(Analysis {
        model: g.name.clone(),
        macs: layers.iter().map(|l| l.macs).sum(),
        params: layers.iter().map(|l| l.params).sum(),
        layers,
        calibration: None,
        ame: None,
        denoise: None,
    })
}

/// The midpoints of a whole sweep of `model` (read from `dir`), to rank layers by.
pub fn sweep_midpoints(sweep: &SweepResult, dir: &Path, model: &str) -> Result<Vec<(String, Option<f64>)>> {
    let bad = |msg: String| Err(Error::user(Code::BadAnalysis, msg));
    if sweep.shard.is_some() {
        return bad(format!("`{}` holds one shard of a sweep: merge the shards first", dir.display()));
    }
    if sweep.model != model {
        return bad(format!("`{}` is a sweep of model `{}`, not of `{model}`", dir.display(), sweep.model));
    }
    Ok(sweep.sites.iter().cloned().zip(sweep.midpoints()).collect())
}

/// The static report plus what calibrating on `data` finds (every noise off),
/// and the denoise placement.
pub fn analyze_calibrated(
    model: &Model,
    data: &Data,
    options: &CalibrateOptions,
    control: Control,
) -> Result<Analysis> {
    let mut report = analyze(model)?;
    options.check()?;
    let started = Instant::now();
    let g = model.graph();
    // The interpreter traces the first `calibrate_limit` samples; denoise gains use all.
    let (seed, threads, n) = (options.exec.seed, options.exec.threads, options.calibrate_limit.min(data.n));
    let interrupted = || Error::interrupted("during calibration");
    let quiet = g.without_noise();
    let interp = Interpreter::new(&quiet, |p| files::read(p, files::TABLE)).map_err(bad_table)?;
    let cal = calibrate::calibrate(&interp, &quiet, &data.set, n, seed, threads, control).ok_or_else(interrupted)?;
    let rms: Vec<f64> = cal.activations.iter().map(|a| a.rms).collect();
    let sens = sensitivities(g, &rms, &data.set, n, seed, threads, control).ok_or_else(interrupted)?;
    report.ame = Some(add_layer_figures(&mut report, g, &cal, &sens)?);
    report.denoise = Some(placement(g, data, &sens, options, control)?);
    report.calibration = Some(CalibrationReport {
        samples: n,
        seed,
        output: g.outputs[0].0.clone(),
        activations: g
            .nodes
            .iter()
            .zip(&cal.activations)
            .map(|(node, a)| ActivationReport {
                name: node.name.clone(),
                shape: node.shape.clone(),
                min: a.min,
                max: a.max,
                mean_abs: a.mean_abs,
                rms: a.rms,
                p99_9_abs: a.p999,
            })
            .collect(),
        data: data.dir.display().to_string(),
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(report)
}

/// The indices of the MAC layers, in report order.
fn mac_nodes(g: &Graph) -> Vec<usize> {
    (0..g.nodes.len()).filter(|i| fan_in(g, &g.nodes[*i]).is_some()).collect()
}

/// Sensitivities, ADC clipping and data-weighted multiplier errors per layer;
/// returns the AME (`None` without int8 layers).
fn add_layer_figures(report: &mut Analysis, g: &Graph, cal: &Calibration, sens: &[Option<f64>]) -> Result<Option<f64>> {
    let mut ame2 = None::<f64>;
    for (row, i) in mac_nodes(g).into_iter().enumerate() {
        let node = &g.nodes[i];
        let layer = &mut report.layers[row];
        layer.sensitivity = Some(sens[i]);
        if let (Format::Abfp { .. }, Some(abfp)) = (&node.hw.format, &mut layer.abfp) {
            let [conversions, clipped] = cal.adc[i];
            abfp.clipping = Some(Clipping { conversions, clipped, rate: clipped as f64 / conversions.max(1) as f64 });
        }
        let (Format::Int8 { signed, .. }, Some(h)) = (&node.hw.format, &cal.histograms[i]) else { continue };
        let table = merr::product_table(&node.hw.multiplier, *signed).map_err(bad_table)?;
        let w = merr::weighted(h, &merr::errors(table.as_ref(), *signed));
        let k = fan_in(g, node).unwrap_or(0);
        let (s_x, s_w) = merr::int8_scales(node).unwrap_or((0.0, 0.0));
        let error = merr::layer_error(&w, k, s_x, s_w);
        let at_output = sens[i].map(|s| s * error);
        if let Some(e) = at_output {
            *ame2.get_or_insert(0.0) += e * e;
        }
        let d = DataWeighted {
            pairs: w.pairs,
            mean_error: w.mean,
            error_std: w.std,
            output_bias: k as f64 * w.mean,
            output_spread: (k as f64).sqrt() * w.std,
            s_x,
            s_w,
            output_error: error,
            error_at_output: at_output,
        };
        match &mut layer.multiplier {
            Some(m) => m.data_weighted = Some(d),
            None => {
                layer.multiplier = Some(MultiplierReport { stats: None, exact: Some(true), data_weighted: Some(d) })
            }
        }
    }
    Ok(ame2.map(f64::sqrt))
}

/// Denoiser placement: rank the MAC layers, then measure the gain where there
/// is noise to remove.
fn placement(
    g: &Graph,
    data: &Data,
    sens: &[Option<f64>],
    options: &CalibrateOptions,
    control: Control,
) -> Result<DenoisePlacement> {
    let macs = mac_nodes(g);
    let midpoints = options.midpoints.as_deref();
    let mut ranking: Vec<(usize, Option<f64>, Option<f64>)> = macs
        .iter()
        .map(|&i| {
            let mid = midpoints.and_then(|m| m.iter().find(|(s, _)| *s == g.nodes[i].name)).and_then(|(_, m)| *m);
            (i, sens[i], mid)
        })
        .collect();
    match midpoints {
        // Smaller midpoint first; no midpoint (never crossed) last.
        Some(_) => ranking.sort_by(|a, b| a.2.unwrap_or(f64::INFINITY).total_cmp(&b.2.unwrap_or(f64::INFINITY))),
        None => ranking.sort_by(|a, b| b.1.unwrap_or(0.0).total_cmp(&a.1.unwrap_or(0.0))),
    }
    let noisy: Vec<usize> = macs.iter().copied().filter(|&i| adds_noise(&g.nodes[i])).collect();
    let mut baseline = None;
    let mut gains = vec![None; g.nodes.len()];
    if !noisy.is_empty() {
        let base = trial_hits(g, data, options.trials, &options.exec, control)?;
        let total: usize = base.iter().sum();
        baseline = Some(total as f64 / (data.n * base.len()) as f64);
        for &i in &noisy {
            let quieter = without_noise_at(g, i);
            let h = trial_hits(&quieter, data, options.trials, &options.exec, control)?;
            gains[i] = Some((h.iter().sum::<usize>() as f64 - total as f64) / (data.n * h.len()) as f64);
        }
    }
    Ok(DenoisePlacement {
        ranked_by: if midpoints.is_some() { "midpoint" } else { "sensitivity" },
        samples: data.n,
        trials: options.trials,
        accuracy: baseline,
        ranking: ranking
            .iter()
            .map(|&(i, s, m)| DenoiseRank {
                layer: g.nodes[i].name.clone(),
                sensitivity: s,
                midpoint: m,
                adds_noise: adds_noise(&g.nodes[i]),
                gain: gains[i],
            })
            .collect(),
    })
}
