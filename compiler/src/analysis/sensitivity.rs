//! Sensitivities: how much the first output moves per unit of noise on a
//! layer's output, in the ideal network; and the noise a layer adds of its own
//! (what a denoise block there could remove).

use super::calibrate::each_sample;
use super::multiplier_error::fan_in;
use crate::control::Control;
use analog_runtime::dataset::Dataset;
use analog_runtime::files;
use analog_runtime::interp::noise;
use analog_runtime::interp::observe::Observer;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Draw, Format, Noise, NoiseKind, Phase, Sigma, SigmaUnit};
use analog_runtime::ir::{Graph, Node, NodeHardware, NodeId, NoiseSite};

/// The perturbation of the sensitivity measurement, relative to the RMS of
/// the layer's output.
pub const PERTURBATION: f64 = 0.01;

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
    control: Control,
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
    let read = |p: &std::path::Path| files::read(p, files::TABLE);
    // The ideal network has no multiplier tables to read.
    let clean = Interpreter::new(&base, read).expect("an ideal graph");
    let noisy: Vec<Interpreter> =
        perturbed.iter().map(|g| Interpreter::new(g, read).expect("an ideal graph")).collect();
    let t0 = clean.trial(seed, 0);
    let trials: Vec<_> = noisy.iter().map(|i| i.trial(seed, 0)).collect();
    // Per sample and layer: `[Σ Δoutput², Σ Δlayer²]`, the realized perturbation
    // in the denominator (so a layer that is the output has G = 1 exactly).
    let states = each_sample(n, threads, control, Vec::new, |out: &mut Vec<(usize, Vec<[f64; 2]>)>, i| {
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
