//! Calibration: what a model's layers see on real data, traced by the
//! reference interpreter's observer (`analog_runtime::interp::observe`), and
//! the figures `analyze --calibrate` and `fit-ame` derive from it. Every
//! figure is defined in `docs/analysis.md`.
//!
//! Results do not depend on the thread count: integer counts and extrema are
//! merged in any order, and floating-point sums are kept per sample and added
//! in sample order.

use super::eval::{correct, INTERRUPTED};
use super::{fail, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use analog_runtime::dataset::Dataset;
use analog_runtime::interp::noise;
use analog_runtime::interp::observe::Observer;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Draw, Format, Multiplier, Noise, NoiseKind, Phase, Sigma, SigmaUnit, TableLayout};
use analog_runtime::ir::{Graph, Node, NodeHardware, NodeId, NodeKind, NoiseSite, Op};
use analog_runtime::multiplier::{self, Design};
use analog_runtime::product_table::{Layout, ProductTable};
use analog_runtime::quant::{self, Prepared};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The high percentile of `|x|` reported per node, in thousandths.
pub const PERMILLE: u64 = 999;

/// The perturbation of the sensitivity measurement, relative to the RMS of
/// the layer's output.
pub const PERTURBATION: f64 = 0.01;

/// The value range of one node's output over the calibration samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Activations {
    /// Elements seen: samples × elements per sample.
    pub count: u64,
    pub min: f32,
    pub max: f32,
    pub mean_abs: f64,
    pub rms: f64,
    /// The `PERMILLE`/1000 percentile of `|x|`, nearest rank: the
    /// `⌈0.999·count⌉`-th smallest `|x|`.
    pub p999: f32,
}

/// What the calibration traced.
pub struct Calibration {
    /// Per node.
    pub activations: Vec<Activations>,
    /// Per node: ABFP conversions and how many had `|v| > 1`.
    pub adc: Vec<[u64; 2]>,
    /// Per int8 node: how often each operand pair `(x_q, w_q)` met the
    /// multiplier, at the product table's index `byte(x_q)·256 + byte(w_q)`.
    pub histograms: Vec<Option<Vec<u64>>>,
}

/// Runs `work` on every sample of `0..n`, on `threads` threads each with its
/// own state; `None` when interrupted.
fn each_sample<S: Send>(
    n: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) + Sync,
) -> Option<Vec<S>> {
    let next = AtomicUsize::new(0);
    let states = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut state = init();
                    loop {
                        if INTERRUPTED.load(Ordering::Relaxed) {
                            break;
                        }
                        let start = next.fetch_add(16, Ordering::Relaxed);
                        if start >= n {
                            break;
                        }
                        for i in start..(start + 16).min(n) {
                            work(&mut state, i);
                        }
                    }
                    state
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("calibration thread")).collect::<Vec<_>>()
    });
    (!INTERRUPTED.load(Ordering::Relaxed)).then_some(states)
}

/// How many of the largest of `count` values hold the percentile: its rank
/// from the bottom is `⌈0.999·count⌉`, so it is the least of the
/// `count − ⌈0.999·count⌉ + 1` largest.
fn top_count(count: u64) -> usize {
    (count - (PERMILLE * count).div_ceil(1000) + 1) as usize
}

/// One thread's observations.
struct Collector {
    /// How many of the largest `|x|` to keep per node for the percentile.
    keep: Vec<usize>,
    min: Vec<f32>,
    max: Vec<f32>,
    /// Per node: the largest `|x|` seen (as bits: non-negative floats order as their bits).
    top: Vec<BinaryHeap<Reverse<u32>>>,
    /// The current sample's `[Σ|x|, Σx²]` per node.
    current: Vec<[f64; 2]>,
    /// `(sample, current)` of every sample done.
    sums: Vec<(usize, Vec<[f64; 2]>)>,
    adc: Vec<[u64; 2]>,
    histograms: Vec<Option<Vec<u64>>>,
}

impl Observer for Collector {
    fn node(&mut self, id: NodeId, y: &[f32]) {
        let i = id.index();
        let (keep, top, s) = (self.keep[i], &mut self.top[i], &mut self.current[i]);
        for &v in y {
            self.min[i] = self.min[i].min(v);
            self.max[i] = self.max[i].max(v);
            s[0] += v.abs() as f64;
            s[1] += v as f64 * v as f64;
            let bits = v.abs().to_bits();
            if top.len() < keep {
                top.push(Reverse(bits));
            } else if let Some(mut least) = top.peek_mut() {
                if bits > least.0 {
                    *least = Reverse(bits);
                }
            }
        }
    }

    fn adc(&mut self, id: NodeId, v: f32) {
        let c = &mut self.adc[id.index()];
        c[0] += 1;
        c[1] += u64::from(v.abs() > 1.0);
    }

    fn operands(&mut self, id: NodeId, x: i32, w: i32) {
        if let Some(h) = &mut self.histograms[id.index()] {
            h[((x as u8 as usize) << 8) | w as u8 as usize] += 1;
        }
    }
}

/// Traces `graph` (give it without noise) on the first `n` samples of `data`.
/// `None` when interrupted.
pub fn calibrate(
    interp: &Interpreter,
    graph: &Graph,
    data: &Dataset,
    n: usize,
    seed: u64,
    threads: usize,
) -> Option<Calibration> {
    let nodes = graph.nodes.len();
    let keep: Vec<usize> =
        graph.nodes.iter().map(|node| top_count((n * node.shape.iter().product::<usize>()) as u64)).collect();
    let trial = interp.trial(seed, 0);
    let states = each_sample(
        n,
        threads,
        || Collector {
            keep: keep.clone(),
            min: vec![f32::INFINITY; nodes],
            max: vec![f32::NEG_INFINITY; nodes],
            top: vec![BinaryHeap::new(); nodes],
            current: vec![[0.0; 2]; nodes],
            sums: vec![],
            adc: vec![[0; 2]; nodes],
            histograms: graph
                .nodes
                .iter()
                .map(|node| matches!(node.hw.format, Format::Int8 { .. }).then(|| vec![0; 65536]))
                .collect(),
        },
        |c, i| {
            interp.run_observed(&trial, i as u32, &[data.sample(i)], c);
            let done = std::mem::replace(&mut c.current, vec![[0.0; 2]; nodes]);
            c.sums.push((i, done));
        },
    )?;
    // Merge: counts and extrema in any order, sums in sample order.
    let mut min = vec![f32::INFINITY; nodes];
    let mut max = vec![f32::NEG_INFINITY; nodes];
    let mut top: Vec<Vec<u32>> = vec![vec![]; nodes];
    let mut adc = vec![[0u64; 2]; nodes];
    let mut histograms: Vec<Option<Vec<u64>>> = vec![None; nodes];
    let mut sums = vec![];
    for s in states {
        for i in 0..nodes {
            min[i] = min[i].min(s.min[i]);
            max[i] = max[i].max(s.max[i]);
            top[i].extend(s.top[i].iter().map(|r| r.0));
            adc[i][0] += s.adc[i][0];
            adc[i][1] += s.adc[i][1];
        }
        for (i, h) in s.histograms.into_iter().enumerate() {
            let Some(h) = h else { continue };
            match &mut histograms[i] {
                Some(total) => total.iter_mut().zip(h).for_each(|(t, c)| *t += c),
                slot => *slot = Some(h),
            }
        }
        sums.extend(s.sums);
    }
    sums.sort_by_key(|(i, _)| *i);
    let activations = (0..nodes)
        .map(|i| {
            let count = (n * graph.nodes[i].shape.iter().product::<usize>()) as u64;
            let (abs, sq) = sums.iter().fold((0.0, 0.0), |(a, q), (_, s)| (a + s[i][0], q + s[i][1]));
            // The `keep[i]` largest of all: the least of them is the percentile.
            top[i].sort_unstable_by(|a, b| b.cmp(a));
            let p999 = top[i].get(keep[i] - 1).map_or(0.0, |b| f32::from_bits(*b));
            Activations {
                count,
                min: min[i],
                max: max[i],
                mean_abs: abs / count.max(1) as f64,
                rms: (sq / count.max(1) as f64).sqrt(),
                p999,
            }
        })
        .collect();
    Some(Calibration { activations, adc, histograms })
}

/// The product table of a multiplier (`None`: exact).
pub fn product_table(m: &Multiplier, signed: bool) -> Result<Option<ProductTable>, String> {
    let design = match m {
        Multiplier::Exact => return Ok(None),
        Multiplier::Truncated { bits } => Design::Truncated { bits: *bits },
        Multiplier::Mitchell => Design::Mitchell,
        Multiplier::Drum { k } => Design::Drum { k: *k },
        Multiplier::Table { path, layout, signed } => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            let layout = match layout {
                TableLayout::TorchApprox => Layout::TorchApprox,
                TableLayout::TfApprox => Layout::TfApprox,
            };
            return ProductTable::parse(&bytes, layout, *signed).map(Some);
        }
    };
    Ok(Some(multiplier::table(design, signed)))
}

/// A multiplier's error weighted by how often each operand pair occurred.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Weighted {
    /// Products traced.
    pub pairs: u64,
    /// `μ_d = Σ h(a,b)·E(a,b) / Σ h`, in integer-product units.
    pub mean: f64,
    /// `σ_d`, the h-weighted population standard deviation of `E`.
    pub std: f64,
}

/// `E(a, b) = M(a, b) − a·b` at every table index (0 for an exact multiplier).
pub fn errors(table: Option<&ProductTable>, signed: bool) -> Vec<i64> {
    let operand = |i: usize| if signed { i as u8 as i8 as i32 } else { i as i32 };
    (0..65536)
        .map(|i| {
            let (a, b) = (operand(i >> 8), operand(i & 255));
            table.map_or(0, |t| t.product(a, b) as i64 - (a * b) as i64)
        })
        .collect()
}

pub fn weighted(histogram: &[u64], errors: &[i64]) -> Weighted {
    let pairs: u64 = histogram.iter().sum();
    if pairs == 0 {
        return Weighted { pairs, mean: 0.0, std: 0.0 };
    }
    let total = pairs as f64;
    let mean = histogram.iter().zip(errors).map(|(h, e)| *h as f64 * *e as f64).sum::<f64>() / total;
    let var = histogram.iter().zip(errors).map(|(h, e)| *h as f64 * (*e as f64 - mean).powi(2)).sum::<f64>() / total;
    Weighted { pairs, mean, std: var.sqrt() }
}

/// `s_x` of an int8 node and the root mean square of its weight scales `s_w`
/// (one per output channel, or one): an integer product times `s_x·s_w` is in
/// the layer's output units.
pub fn int8_scales(node: &Node) -> Option<(f64, f64)> {
    let Format::Int8 { signed, input_range: [lo, hi], .. } = &node.hw.format else { return None };
    let (lo, hi) = (*lo as f32, *hi as f32);
    let s_x = if *signed { quant::symmetric_scale(lo.abs().max(hi.abs())) } else { quant::asymmetric_params(lo, hi).0 };
    let computed;
    let prepared = match &node.prepared {
        Some(p) => p,
        None => {
            computed = quant::prepare(&node.hw.format, node.param("weight")?)?;
            &computed
        }
    };
    let Prepared::Int8 { scales, .. } = prepared else { return None };
    let ms = scales.iter().map(|s| *s as f64 * *s as f64).sum::<f64>() / scales.len().max(1) as f64;
    Some((s_x as f64, ms.sqrt()))
}

/// The fan-in `K` of a MAC layer (`None` for other nodes).
pub fn fan_in(g: &Graph, node: &Node) -> Option<usize> {
    let NodeKind::Op { op, inputs } = &node.kind else { return None };
    match op {
        Op::Dense { .. } => Some(g.node(inputs[0]).shape.iter().product()),
        Op::Conv2d { kernel, groups, .. } => Some(g.node(inputs[0]).shape[0] / groups * kernel[0] * kernel[1]),
        _ => None,
    }
}

/// The RMS error a multiplier adds to each output of an int8 layer, in its
/// output units: `s_x·s_w·√((K·μ_d)² + K·σ_d²)`.
pub fn layer_error(w: &Weighted, fan_in: usize, s_x: f64, s_w: f64) -> f64 {
    let k = fan_in as f64;
    s_x * s_w * ((k * w.mean).powi(2) + k * w.std.powi(2)).sqrt()
}

/// The graph with every hardware effect removed: the ideal network.
pub fn ideal(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for node in &mut g.nodes {
        node.hw = NodeHardware::default();
        node.prepared = None;
    }
    g
}

/// Per node, the sensitivity `G` of a MAC layer (`None` for other nodes, and
/// for a layer whose output is all zero): in the ideal network, the RMS change
/// of the first output's elements over the RMS of i.i.d. Gaussian noise added
/// to the layer's output elements, noise of `PERTURBATION`·RMS drawn once per
/// sample on the first `n` samples. `rms[i]` is node `i`'s output RMS. `None`
/// when interrupted.
pub fn sensitivities(
    graph: &Graph,
    rms: &[f64],
    data: &Dataset,
    n: usize,
    seed: u64,
    threads: usize,
) -> Option<Vec<Option<f64>>> {
    let base = ideal(graph);
    let layers: Vec<(usize, f64)> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, node)| fan_in(graph, node).is_some() && rms[*i] > 0.0 && rms[*i].is_finite())
        .map(|(i, _)| (i, PERTURBATION * rms[i]))
        .collect();
    let perturbed: Vec<Graph> = layers
        .iter()
        .map(|&(i, sigma)| {
            let mut g = base.clone();
            g.nodes[i].hw.noise = Some(NoiseSite {
                site: 0,
                noise: Noise {
                    kind: NoiseKind::Additive { sigma: Sigma { value: sigma, unit: SigmaUnit::Abs } },
                    draw: Draw::Dynamic,
                    repeat: 1,
                    during: Phase::Both,
                },
            });
            g
        })
        .collect();
    let read = |p: &std::path::Path| std::fs::read(p);
    // The ideal network has no multiplier tables to read.
    let clean = Interpreter::new(&base, read).expect("an ideal graph");
    let noisy: Vec<Interpreter> =
        perturbed.iter().map(|g| Interpreter::new(g, read).expect("an ideal graph")).collect();
    let t0 = clean.trial(seed, 0);
    let trials: Vec<_> = noisy.iter().map(|i| i.trial(seed, 0)).collect();
    // Per sample and layer: `[Σ Δoutput², Σ Δlayer²]`, the realized perturbation
    // in the denominator (so a layer that is the output has G = 1 exactly).
    let states = each_sample(n, threads, Vec::new, |out: &mut Vec<(usize, Vec<[f64; 2]>)>, i| {
        let x = [data.sample(i)];
        let mut all = Keep { nodes: vec![] };
        let y = clean.run_observed(&t0, i as u32, &x, &mut all).swap_remove(0);
        let squares = noisy
            .iter()
            .zip(&trials)
            .zip(&layers)
            .map(|((interp, t), &(l, _))| {
                let mut one = KeepOne { id: NodeId(l as u32), value: vec![] };
                let z = interp.run_observed(t, i as u32, &x, &mut one).swap_remove(0);
                [sum_sq(&y, &z), sum_sq(&all.nodes[l], &one.value)]
            })
            .collect();
        out.push((i, squares));
    })?;
    let mut per_sample: Vec<(usize, Vec<[f64; 2]>)> = states.into_iter().flatten().collect();
    per_sample.sort_by_key(|(i, _)| *i);
    let outputs: usize = graph.node(graph.outputs[0].1).shape.iter().product();
    let mut g = vec![None; graph.nodes.len()];
    for (l, &(i, _)) in layers.iter().enumerate() {
        let (out, at) = per_sample.iter().fold((0.0, 0.0), |(o, a), (_, s)| (o + s[l][0], a + s[l][1]));
        let elements: usize = graph.nodes[i].shape.iter().product();
        // RMS per output element over RMS per layer element.
        g[i] = Some((out / outputs as f64).sqrt() / (at / elements as f64).sqrt());
    }
    Some(g)
}

fn sum_sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (*b as f64 - *a as f64).powi(2)).sum()
}

/// Keeps every node's output.
struct Keep {
    nodes: Vec<Vec<f32>>,
}

impl Observer for Keep {
    fn node(&mut self, _id: NodeId, y: &[f32]) {
        self.nodes.push(y.to_vec());
    }
}

/// Keeps one node's output.
struct KeepOne {
    id: NodeId,
    value: Vec<f32>,
}

impl Observer for KeepOne {
    fn node(&mut self, id: NodeId, y: &[f32]) {
        if id == self.id {
            self.value = y.to_vec();
        }
    }
}

/// Whether node `node` adds noise of its own when evaluating (output, weight
/// or ADC noise).
pub fn adds_noise(node: &Node) -> bool {
    let active = |s: &Option<NoiseSite>| s.as_ref().is_some_and(|s| noise::active(&s.noise));
    let adc = match &node.hw.format {
        Format::Abfp { adc_noise, .. } | Format::AnalogInt { adc_noise, .. } => *adc_noise != 0.0,
        _ => false,
    };
    active(&node.hw.noise) || active(&node.hw.weight_noise) || adc
}

/// The graph with node `i`'s own noise removed.
pub fn without_noise_at(graph: &Graph, i: usize) -> Graph {
    let mut g = graph.clone();
    let node = &mut g.nodes[i];
    node.hw.noise = None;
    node.hw.weight_noise = None;
    if let Format::Abfp { adc_noise, .. } | Format::AnalogInt { adc_noise, .. } = &mut node.hw.format {
        *adc_noise = 0.0;
    }
    g
}

/// Correct samples among the first `n` of `data`, per trial `0..trials`: the
/// evaluation of `analogc eval` (its `correct`, on the engine `exec` selects),
/// chip by chip. A graph that cannot run, or an interruption, is reported.
pub fn trial_hits(
    cli: &Cli,
    graph: &Graph,
    data: &Dataset,
    n: usize,
    trials: u32,
    seed: u64,
    exec: &ExecArgs,
) -> Result<Vec<usize>, Outcome> {
    let engine = exec.engine(cli, graph)?;
    let progress = indicatif::ProgressBar::hidden();
    let mut hits = vec![];
    for t in 0..trials {
        let chip = engine.chip(seed, t);
        let Some(h) = correct(&engine, &chip, data, n, exec.threads(), 64, &progress) else {
            return Err(fail(cli, Code::Interrupted, format!("interrupted after {t} of {trials} trials")));
        };
        hits.push(h);
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_is_the_nearest_rank() {
        // 8 values: the 8th smallest = the largest. 1000: the 999th = 2nd
        // largest. 2000: the 1998th smallest = 3rd largest.
        assert_eq!((top_count(1), top_count(8), top_count(1000)), (1, 1, 2));
        assert_eq!((top_count(1001), top_count(2000), top_count(2001)), (2, 3, 3));
    }

    #[test]
    fn weighted_errors_follow_the_histogram() {
        // E = +2 three times, −2 once: μ = 1, σ² = (3·1 + 9)/4 = 3.
        let mut h = vec![0u64; 65536];
        let mut e = vec![0i64; 65536];
        (h[5], e[5]) = (3, 2);
        (h[9], e[9]) = (1, -2);
        let w = weighted(&h, &e);
        assert_eq!((w.pairs, w.mean, w.std), (4, 1.0, 3.0f64.sqrt()));
        assert_eq!(layer_error(&w, 4, 0.5, 0.25), 0.125 * (16.0f64 + 12.0).sqrt());
    }
}
