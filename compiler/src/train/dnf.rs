//! Differential Noise Finetuning (`train --dnf`; Basumallik et al., arXiv
//! 2205.06287): the error each measured layer's hardware adds to its output
//! ([`layer_errors`]) is measured on training samples, and the model trains
//! with those layers in FP32 and Gaussian noise of the measured standard
//! deviation added to their outputs instead, so no number format is in the
//! loop. The statistics are measured again every `refresh` epochs, on the
//! weights as trained so far. Validation and the run folder use the model as
//! written: the trained weights on the real hardware.

use super::TrainOptions;
use crate::analysis::layer_error::{is_measured, layer_errors, LayerError};
use crate::control::Control;
use crate::diag::Code;
use crate::error::{Error, Result};
use analog_runtime::dataset::Dataset;
use analog_runtime::ir::hardware::{Draw, Noise, NoiseKind, Phase, Sigma, SigmaUnit};
use analog_runtime::ir::{Graph, NodeHardware, NoiseSite};
use analog_runtime::train::network::training_graph;
use serde::Serialize;
use std::time::Instant;

/// Training samples the error is measured on (the first of them; fewer when
/// the run trains on fewer).
pub const SAMPLES: usize = 1000;

/// `--dnf`: how often the statistics are measured again.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dnf {
    /// Epochs between two measurements (the first is before the first epoch).
    pub refresh: u32,
}

impl Default for Dnf {
    fn default() -> Self {
        Dnf { refresh: 1 }
    }
}

/// One measurement: every measured layer's error, before an epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// The epoch it was made before (from 1).
    pub epoch: u32,
    pub layers: Vec<LayerError>,
}

/// What DNF measured in a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DnfReport {
    /// Calibration samples per measurement.
    pub samples: usize,
    pub refresh: u32,
    pub measurements: Vec<Measurement>,
    /// Wall time of the measurements (included in the run's).
    pub seconds: f64,
}

/// The layers `--dnf` measures and replaces must exist (E1005), and each must
/// be able to take the noise: its own output noise, if any, additive and
/// evaluated once, in `lsb` (measured as part of the conversion) or dynamic
/// in `abs` (the two Gaussians then add in quadrature) (E1001).
pub fn check(graph: &Graph) -> Result<()> {
    let measured: Vec<_> = graph.nodes.iter().filter(|n| is_measured(n)).collect();
    if measured.is_empty() {
        return Err(Error::user(
            Code::NothingToMeasure,
            format!(
                "`--dnf`: `{}` has no layer whose hardware error can be measured (a dense or conv layer with a \
                 number format other than fp32, an accumulation other than exact or an approximate multiplier)",
                graph.name
            ),
        ));
    }
    for node in measured {
        let Some(site) = &node.hw.noise else { continue };
        let fits = match site.noise.kind {
            NoiseKind::Off => true,
            NoiseKind::Additive { sigma } => {
                site.noise.repeat == 1
                    && (sigma.unit == SigmaUnit::Lsb
                        || sigma.unit == SigmaUnit::Abs && site.noise.draw == Draw::Dynamic)
            }
            _ => false,
        };
        if !fits {
            return Err(Error::user(
                Code::BadTrainOption,
                format!(
                    "`--dnf` adds Gaussian noise to `{}`, which has output noise of its own that it cannot be \
                     combined with (only additive noise in `lsb`, or dynamic in `abs`, without `repeat`, can); remove it with \
                     `--set {}.noise=none`",
                    node.name, node.name
                ),
            ));
        }
    }
    Ok(())
}

/// The measurements of one run.
pub(super) struct Finetuning {
    dnf: Dnf,
    samples: usize,
    report: DnfReport,
}

impl Finetuning {
    /// For a run that trains on `train_n` samples.
    pub(super) fn new(dnf: Dnf, train_n: usize) -> Finetuning {
        let samples = SAMPLES.min(train_n);
        let report = DnfReport { samples, refresh: dnf.refresh, measurements: vec![], seconds: 0.0 };
        Finetuning { dnf, samples, report }
    }

    /// Whether the statistics are measured again before `epoch` (from 0).
    pub(super) fn due(&self, epoch: u32) -> bool {
        epoch.is_multiple_of(self.dnf.refresh)
    }

    /// Measures the error of `model` (the model as written, its weights as
    /// trained so far) on the first training samples of `set` and gives
    /// `training` (its training graph, or a DNF variant of it) the DNF
    /// hardware: each measured layer in FP32 with the measured noise.
    pub(super) fn measure(
        &mut self,
        model: &Graph,
        training: &mut Graph,
        set: &Dataset,
        epoch: u32,
        options: &TrainOptions,
        control: Control,
    ) -> Result<()> {
        let started = Instant::now();
        control.progress.stage("measuring the hardware's error");
        let layers = layer_errors(model, set, self.samples, options.seed, options.threads, control.quiet())?
            .ok_or_else(|| Error::interrupted("while measuring the hardware's error"))?;
        for (node, dnf) in training.nodes.iter_mut().zip(variant(model, &layers).nodes) {
            node.hw = dnf.hw;
        }
        self.report.measurements.push(Measurement { epoch: epoch + 1, layers });
        self.report.seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    pub(super) fn report(self) -> DnfReport {
        self.report
    }
}

/// The DNF variant of `model`'s training graph, for the errors of its
/// measured layers (a model [`check`] accepts): each measured layer computes
/// the exact FP32 sum and adds `N(0, σ²)` with its measured `σ`, at its own
/// noise site or, if it has none, at a new one numbered after every site of
/// the graph; its own additive noise in `abs` stays, added in quadrature. The
/// measured mean is not added (see docs/training.md, Recipe 3).
pub fn variant(model: &Graph, errors: &[LayerError]) -> Graph {
    let mut training = training_graph(model);
    let hardware = dnf_hardware(&training, errors);
    for (node, hw) in training.nodes.iter_mut().zip(hardware) {
        node.hw = hw;
    }
    training
}

/// Every node's hardware in [`variant`].
fn dnf_hardware(training: &Graph, errors: &[LayerError]) -> Vec<NodeHardware> {
    let mut next = training
        .nodes
        .iter()
        .flat_map(|n| n.hw.noise.iter().chain(&n.hw.weight_noise).map(|s| s.site))
        .max()
        .map_or(0, |s| s + 1);
    let mut errors = errors.iter();
    training
        .nodes
        .iter()
        .map(|node| {
            if !is_measured(node) {
                return node.hw.clone();
            }
            let error = errors.next().expect("one error per measured layer");
            let own = match &node.hw.noise {
                Some(NoiseSite { noise: Noise { kind: NoiseKind::Additive { sigma }, .. }, .. })
                    if sigma.unit == SigmaUnit::Abs =>
                {
                    sigma.value
                }
                _ => 0.0,
            };
            let site = node.hw.noise.as_ref().map_or_else(
                || {
                    next += 1;
                    next - 1
                },
                |s| s.site,
            );
            let noise = Noise {
                kind: NoiseKind::Additive { sigma: Sigma { value: own.hypot(error.std), unit: SigmaUnit::Abs } },
                draw: Draw::Dynamic,
                repeat: 1,
                during: Phase::Both,
            };
            NodeHardware {
                noise: Some(NoiseSite { site, noise }),
                weight_noise: node.hw.weight_noise.clone(),
                ..NodeHardware::default()
            }
        })
        .collect()
}
