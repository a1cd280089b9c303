//! The error a MAC layer's hardware adds to its output, measured on data:
//! `e = y_hardware − y_fp32`, where both are the layer's output for the same
//! input (the one the hardware network upstream gives it) and the same
//! weights, before the layer's output noise. `y_hardware` is what the layer's
//! number format, accumulation and multiplier compute, ADC noise included (and
//! a `noise additive(… lsb)`, which acts inside the conversion); `y_fp32` the
//! exact FP32 sum. Weight noise and other output noise of a measured layer are
//! left out: they are effects of their own, not the format's error.
//!
//! The hardware run is training's fast forward (every node's values kept,
//! the layers with effects on the JIT's code, the interpreter's bits); the
//! FP32 output is the same node with ideal hardware, compiled alone and run
//! on the same inputs. Draws are keyed as `eval` keys them (the seed, trial
//! 0, the sample's index). Results do not depend on the thread count: sums
//! are kept per sample and added in sample order.

use crate::control::Control;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::jit::{self, alone, Chip, Compiled, JitLayers, Kernels, Workspace};
use analog_runtime::dataset::Dataset;
use analog_runtime::files;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Accumulate, Format, Multiplier, NoiseKind, SigmaUnit};
use analog_runtime::ir::op::OpClass;
use analog_runtime::ir::NodeKind;
use analog_runtime::ir::{Graph, Node, NodeHardware, NodeId};
use analog_runtime::train::compiled::LayerCode;
use analog_runtime::train::forward::{forward, OrderedGrad, Pass};
use analog_runtime::train::parallel::with_threads;
use analog_runtime::train::spare::Spare;
use serde::Serialize;

/// What one MAC layer's hardware adds to its output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerError {
    pub layer: String,
    /// Output elements compared: samples × elements per sample.
    pub count: u64,
    /// The mean of `e` over them.
    pub mean: f64,
    /// Its standard deviation (population).
    pub std: f64,
    /// The root mean square of the FP32 output, the scale of the signal.
    pub output_rms: f64,
}

/// Whether `node` is a MAC layer whose hardware computes something other than
/// the exact FP32 sum of exact products: a number format other than `fp32`,
/// an accumulation other than `exact`, or an approximate multiplier.
pub fn is_measured(node: &Node) -> bool {
    let NodeKind::Op { op, .. } = &node.kind else { return false };
    op.class() == OpClass::Mac
        && (node.hw.format != Format::Fp32
            || node.hw.accumulate != Accumulate::Exact
            || node.hw.multiplier != Multiplier::Exact)
}

/// The output noise that belongs to the conversion: additive noise in `lsb`,
/// drawn at each ADC conversion before it rounds.
fn acts_in_conversion(node: &Node) -> bool {
    matches!(&node.hw.noise, Some(s) if matches!(s.noise.kind, NoiseKind::Additive { sigma } if sigma.unit == SigmaUnit::Lsb))
}

/// `graph` as measured: each measured layer without its weight noise and
/// without output noise other than in `lsb`; and the same with each measured
/// layer ideal (FP32, exact, no noise).
fn measured_views(graph: &Graph) -> (Graph, Graph) {
    let mut hardware = graph.clone();
    for node in hardware.nodes.iter_mut().filter(|n| is_measured(n)) {
        node.hw.weight_noise = None;
        if !acts_in_conversion(node) {
            node.hw.noise = None;
        }
    }
    let mut ideal = hardware.clone();
    for node in ideal.nodes.iter_mut().filter(|n| is_measured(n)) {
        node.hw = NodeHardware::default();
        node.prepared = None;
    }
    (hardware, ideal)
}

/// Samples per forward pass of the measurement.
const BATCH: usize = 64;

/// Per measured layer: `[Σe, Σe², Σy²]` of one sample, `y` the FP32 output.
type Sums = [f64; 3];

/// The error of every measured layer of `graph` ([`is_measured`], in graph
/// order) on the first `n` samples of `data`; `Ok(None)` when interrupted.
///
/// The hardware network runs as training's fast forward does, batch after
/// batch, its layers with effects on the JIT's code and every node's values
/// kept (the interpreter's bits); each measured layer's FP32 output is its
/// ideal form compiled alone, run on the same inputs. Each sample's sums are
/// its own, added in sample order.
pub fn layer_errors(
    graph: &Graph,
    data: &Dataset,
    n: usize,
    seed: u64,
    threads: usize,
    control: Control,
) -> Result<Option<Vec<LayerError>>> {
    let (hardware, ideal) = measured_views(graph);
    let measured: Vec<NodeId> = graph.ids().filter(|id| is_measured(graph.node(*id))).collect();
    let hw = Interpreter::new(&hardware, |p| files::read(p, files::TABLE)).map_err(|e| unreadable(&e))?;
    let chip = hw.trial(seed, 0);
    let mut code = JitLayers::compile(&hardware, Kernels::Native).map_err(Error::Internal)?;
    code.prepare(&hardware, seed, 0, 0);
    // Each measured layer's ideal form alone, with its chip (it draws nothing) and workspace.
    let mut exact: Vec<(Compiled, Chip, Workspace)> = measured
        .iter()
        .map(|id| {
            let c = jit::compile(&alone(&ideal, *id), Kernels::Native).map_err(Error::Internal)?;
            let (chip, ws) = (c.chip(seed, 0), c.workspace());
            Ok((c, chip, ws))
        })
        .collect::<Result<_>>()?;
    let spare = Spare::default();
    let plain = vec![false; graph.nodes.len()];
    // Per sample, per measured layer.
    let measure = || -> Result<Option<Vec<Vec<Sums>>>> {
        let mut per_sample = Vec::with_capacity(n);
        for first in (0..n).step_by(BATCH) {
            if control.cancelled() {
                return Ok(None);
            }
            let samples: Vec<u32> = (first..(first + BATCH).min(n)).map(|i| i as u32).collect();
            let images: Vec<f32> = samples.iter().flat_map(|i| data.sample(*i as usize).iter().copied()).collect();
            let pass = Pass {
                graph: &hardware,
                interp: &hw,
                chip: &chip,
                samples: &samples,
                threads,
                fast: true,
                batch_norm: &plain,
                ordered_grad: OrderedGrad::Exact,
                spare: &spare,
                code: Some(&code),
            };
            let tape = forward(&pass, &[&images])
                .map_err(|e| Error::user(Code::Diverged, format!("measuring the hardware's error: {}", e.what)))?;
            let layers: Vec<Vec<Sums>> = measured
                .iter()
                .zip(&mut exact)
                .map(|(id, (exact, chip, ws))| {
                    let x = &tape.values[graph.node(*id).inputs()[0].index()];
                    let y = exact.run(chip, ws, first as u32, &[x], samples.len());
                    let size = y[0].len() / samples.len();
                    tape.values[id.index()].chunks(size).zip(y[0].chunks(size)).map(|(a, y)| sums(a, y)).collect()
                })
                .collect();
            per_sample.extend((0..samples.len()).map(|b| layers.iter().map(|l| l[b]).collect::<Vec<Sums>>()));
            spare.give(tape.values);
        }
        Ok(Some(per_sample))
    };
    let Some(per_sample) = with_threads(threads, measure).map_err(Error::Internal)?? else { return Ok(None) };
    let errors = measured
        .iter()
        .enumerate()
        .map(|(l, id)| {
            let node = graph.node(*id);
            let [s, q, y2] = per_sample.iter().fold([0.0; 3], |[s, q, y2], sums| {
                let [ds, dq, dy] = sums[l];
                [s + ds, q + dq, y2 + dy]
            });
            let count = (n * node.shape.iter().product::<usize>()) as u64;
            let per = count.max(1) as f64;
            let mean = s / per;
            LayerError {
                layer: node.name.clone(),
                count,
                mean,
                std: (q / per - mean * mean).max(0.0).sqrt(),
                output_rms: (y2 / per).sqrt(),
            }
        })
        .collect();
    Ok(Some(errors))
}

/// `[Σe, Σe², Σy²]` over one sample's outputs, in element order: `e = a − y`,
/// `a` the hardware's output and `y` the FP32 one.
fn sums(a: &[f32], y: &[f32]) -> Sums {
    a.iter().zip(y).fold([0.0; 3], |[s, q, y2], (a, y)| {
        let (e, y) = (*a as f64 - *y as f64, *y as f64);
        [s + e, q + e * e, y2 + y * y]
    })
}

fn unreadable(e: &str) -> Error {
    Error::user(Code::FileUnreadable, e.to_string())
}
