//! The error a MAC layer's hardware adds to its output, measured on data:
//! `e = y_hardware − y_fp32`, where both are the layer's output for the same
//! input (the one the hardware network upstream gives it) and the same
//! weights, before the layer's output noise. `y_hardware` is what the layer's
//! number format, accumulation and multiplier compute, ADC noise included (and
//! a `noise additive(… lsb)`, which acts inside the conversion); `y_fp32` the
//! exact FP32 sum. Weight noise and other output noise of a measured layer are
//! left out: they are effects of their own, not the format's error.
//!
//! The hardware run is the reference interpreter's, told every node's output
//! by an [`Observer`]; the FP32 output is the interpreter's value of the same
//! node with ideal hardware ([`Interpreter::node_value`]). Draws are keyed as
//! `eval` keys them (the seed, trial 0, the sample's index). Results do not
//! depend on the thread count: sums are kept per sample and added in sample
//! order.

use super::calibrate::each_sample;
use crate::control::Control;
use crate::diag::Code;
use crate::error::{Error, Result};
use analog_runtime::dataset::Dataset;
use analog_runtime::files;
use analog_runtime::interp::observe::Observer;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Accumulate, Format, Multiplier, NoiseKind, SigmaUnit};
use analog_runtime::ir::op::OpClass;
use analog_runtime::ir::NodeKind;
use analog_runtime::ir::{Graph, Node, NodeHardware, NodeId};
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

/// One sample's values of the nodes that are kept.
struct Values {
    keep: Vec<bool>,
    values: Vec<Vec<f32>>,
}

impl Observer for Values {
    fn wants_operands(&self) -> bool {
        false
    }

    fn node(&mut self, id: NodeId, y: &[f32]) {
        if self.keep[id.index()] {
            self.values[id.index()].clear();
            self.values[id.index()].extend_from_slice(y);
        }
    }
}

/// Per measured layer: `[Σe, Σe², Σy²]` of one sample, `y` the FP32 output.
type Sums = Vec<[f64; 3]>;

/// The error of every measured layer of `graph` ([`is_measured`], in graph
/// order) on the first `n` samples of `data`; `Ok(None)` when interrupted.
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
    let fp = Interpreter::new(&ideal, |p| files::read(p, files::TABLE)).map_err(|e| unreadable(&e))?;
    let (hw_chip, fp_chip) = (hw.trial(seed, 0), fp.trial(seed, 0));
    let mut keep = vec![false; graph.nodes.len()];
    for id in &measured {
        keep[id.index()] = true;
        for input in graph.node(*id).inputs() {
            keep[input.index()] = true;
        }
    }
    let states = each_sample(
        n,
        threads,
        control,
        || (Values { keep: keep.clone(), values: vec![vec![]; graph.nodes.len()] }, Vec::<(usize, Sums)>::new()),
        |(obs, done), i| {
            hw.run_observed(&hw_chip, i as u32, &[data.sample(i)], obs);
            let sums = measured
                .iter()
                .map(|id| {
                    let operands: Vec<&[f32]> =
                        graph.node(*id).inputs().iter().map(|x| &obs.values[x.index()][..]).collect();
                    let exact = fp.node_value(&fp_chip, *id, &operands, None, i as u32);
                    obs.values[id.index()].iter().zip(&exact).fold([0.0; 3], |[s, q, y2], (a, y)| {
                        let (e, y) = (*a as f64 - *y as f64, *y as f64);
                        [s + e, q + e * e, y2 + y * y]
                    })
                })
                .collect();
            done.push((i, sums));
        },
    );
    let Some(states) = states else { return Ok(None) };
    let mut all: Vec<(usize, Sums)> = states.into_iter().flat_map(|(_, done)| done).collect();
    all.sort_by_key(|(i, _)| *i);
    let errors = measured
        .iter()
        .enumerate()
        .map(|(l, id)| {
            let node = graph.node(*id);
            let [s, q, y2] = all.iter().fold([0.0; 3], |[s, q, y2], (_, sums)| {
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

fn unreadable(e: &str) -> Error {
    Error::user(Code::FileUnreadable, e.to_string())
}
