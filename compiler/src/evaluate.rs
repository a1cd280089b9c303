//! How accurate is this network on that hardware? Monte-Carlo trials (one
//! simulated chip each) over a labelled dataset, with the clean network as the
//! reference. The sample loop is shared by every command that counts correct
//! classifications (sweeps, denoise gains, the AME fit, benchmarks).

use crate::control::Control;
use crate::data::{Data, Samples};
use crate::engine::{Chip, Engine};
use crate::error::{Error, Result};
use crate::hoist::{self, Prefix};
use crate::limits;
use crate::model::{engine_for, Exec, Model};
use crate::words::count;
use analog_runtime::dataset::Dataset;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The number of correctly classified samples among `0..n`, by the argmax of
/// the first output. Samples go to threads in chunks of `batch`; the count
/// does not depend on how. `None` when cancelled.
pub fn correct(
    engine: &Engine,
    chip: &Chip,
    data: &Dataset,
    n: usize,
    threads: usize,
    batch: usize,
    control: Control,
) -> Option<usize> {
    correct_on(engine, chip, &Samples::of(data, 0..n), threads, batch, control)
}

/// [`correct`] on any inputs: the number of `samples` classified correctly.
pub fn correct_on(
    engine: &Engine,
    chip: &Chip,
    samples: &Samples,
    threads: usize,
    batch: usize,
    control: Control,
) -> Option<usize> {
    let n = samples.labels.len();
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut ws = engine.workspace();
                loop {
                    if control.cancelled() {
                        return;
                    }
                    let start = next.fetch_add(batch, Ordering::Relaxed);
                    if start >= n {
                        return;
                    }
                    let end = (start + batch).min(n);
                    let inputs: Vec<&[f32]> = samples
                        .inputs
                        .iter()
                        .map(|x| {
                            let size = x.len() / n;
                            &x[start * size..end * size]
                        })
                        .collect();
                    let first = (samples.first + start) as u32;
                    let ys = engine.run(chip, &mut ws, first, &inputs, end - start);
                    let classes = ys[0].len() / (end - start);
                    let hits = samples.labels[start..end]
                        .iter()
                        .zip(ys[0].chunks(classes))
                        .filter(|(label, y)| argmax(y) == **label as usize)
                        .count();
                    total.fetch_add(hits, Ordering::Relaxed);
                    control.progress.advance((end - start) as u64);
                }
            });
        }
    });
    (!control.cancelled()).then(|| total.into_inner())
}

/// The index of the first largest value (NaN never wins).
pub fn argmax(y: &[f32]) -> usize {
    y.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (j, v)| if *v > b.1 { (j, *v) } else { b }).0
}

/// Correct samples per trial `0..trials` of `graph` (the evaluation of
/// [`evaluate`], chip by chip, batches of 64), without progress.
pub fn trial_hits(
    graph: &analog_runtime::ir::Graph,
    data: &Data,
    trials: u32,
    exec: &Exec,
    control: Control,
) -> Result<Vec<usize>> {
    let engine = engine_for(graph, exec.backend, exec.kernels)?;
    let mut hits = vec![];
    for t in 0..trials {
        let chip = engine.chip(exec.seed, t);
        let Some(h) = correct(&engine, &chip, &data.set, data.n, exec.threads, 64, control.quiet()) else {
            return Err(Error::interrupted(format!("after {t} of {trials} trials")));
        };
        hits.push(h);
    }
    Ok(hits)
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: u32) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df as usize - 1],
        // Cornish–Fisher expansion around the normal quantile.
        _ => 1.959964 + (1.959964f64.powi(3) + 1.959964) / (4.0 * df as f64),
    }
}

/// Mean, standard deviation (n − 1) and the t-based 95% confidence interval
/// of the mean, over trials.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub ci95: [f64; 2],
}

impl Spread {
    /// Over `acc` (a single trial has no spread).
    pub fn of(acc: &[f64]) -> Spread {
        let k = acc.len() as f64;
        let mean = acc.iter().sum::<f64>() / k;
        let std =
            if acc.len() > 1 { (acc.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt() } else { 0.0 };
        let half = if acc.len() > 1 { t95(acc.len() as u32 - 1) * std / k.sqrt() } else { 0.0 };
        Spread { mean, std, ci95: [mean - half, mean + half] }
    }
}

/// Options of [`evaluate`].
#[derive(Copy, Clone, Debug)]
pub struct EvalOptions {
    /// Monte-Carlo trials: simulated chips, each with its own static draws.
    pub trials: u32,
    /// Samples per unit of work (results do not depend on it).
    pub batch: usize,
    pub exec: Exec,
}

impl EvalOptions {
    pub fn check(&self) -> Result<()> {
        limits::trials(self.trials)?;
        limits::batch(self.batch)?;
        self.exec.check()
    }
}

/// Accuracy over trials: their spread, least and greatest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    pub mean: f64,
    pub std: f64,
    pub ci95: [f64; 2],
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrialAccuracy {
    pub trial: u32,
    pub seed: u64,
    pub accuracy: f64,
}

/// What [`evaluate`] measured (`analogc eval --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    pub model: String,
    /// The dataset folder.
    pub data: String,
    pub samples: usize,
    pub seed: u64,
    /// With every noise off.
    pub clean_accuracy: f64,
    /// Over the trials.
    pub accuracy: Accuracy,
    pub trials: Vec<TrialAccuracy>,
    pub seconds: f64,
    pub samples_per_second: f64,
    pub backend: &'static str,
}

/// Accuracy of `model` on `data`: clean, and over `options.trials` chips.
/// Progress counts samples: `(trials + 1)·n` in all.
pub fn evaluate(model: &Model, data: &Data, options: &EvalOptions, control: Control) -> Result<EvalReport> {
    options.check()?;
    let started = Instant::now();
    let exec = &options.exec;
    let clean_graph = model.graph().without_noise();
    let split = hoist::hoisted(model.graph(), exec);
    let prefix = Prefix::new(split.as_ref(), exec)?;
    let engine = engine_for(split.as_ref().map_or(model.graph(), |s| &s.suffix), exec.backend, exec.kernels)?;
    let clean = engine_for(&clean_graph, exec.backend, exec.kernels)?;
    let (n, batch) = (data.n, options.batch.max(1));
    control.progress.start(((options.trials as usize + 1) * n) as u64);
    control.progress.stage("clean");
    let Some(clean_hits) = correct(&clean, &clean.chip(exec.seed, 0), &data.set, n, exec.threads, batch, control)
    else {
        return Err(Error::interrupted("before the clean pass finished"));
    };
    let mut hits = vec![0; options.trials as usize];
    let chunks = prefix.chunks(n);
    for (c, range) in chunks.iter().cloned().enumerate() {
        let Some(chunk) = prefix.inputs(&data.set, range, control) else {
            return Err(Error::interrupted("before the first trial finished"));
        };
        let samples = chunk.samples();
        for (t, hits) in hits.iter_mut().enumerate() {
            control.progress.stage(&format!("trial {}/{}", t + 1, options.trials));
            let chip = engine.chip(exec.seed, t as u32);
            let Some(h) = correct_on(&engine, &chip, &samples, exec.threads, batch, control) else {
                // Trials end in the last chunk.
                let done = if c + 1 == chunks.len() { t } else { 0 };
                return Err(Error::interrupted(format!("after {done} of {} trials", options.trials)));
            };
            *hits += h;
        }
    }
    let trials: Vec<f64> = hits.iter().map(|h| *h as f64 / n as f64).collect();
    let seconds = started.elapsed().as_secs_f64();
    let evaluated = (options.trials as usize + 1) * n;
    let clean_accuracy = clean_hits as f64 / n as f64;
    let spread = Spread::of(&trials);
    let (min, max) = trials.iter().fold((spread.mean, spread.mean), |(lo, hi), a| (lo.min(*a), hi.max(*a)));
    Ok(EvalReport {
        model: model.name().to_string(),
        data: data.dir.display().to_string(),
        samples: n,
        seed: exec.seed,
        clean_accuracy,
        accuracy: Accuracy { mean: spread.mean, std: spread.std, ci95: spread.ci95, min, max },
        trials: trials
            .iter()
            .enumerate()
            .map(|(t, a)| TrialAccuracy { trial: t as u32, seed: exec.seed, accuracy: *a })
            .collect(),
        seconds,
        samples_per_second: evaluated as f64 / seconds,
        backend: exec.backend.name(),
    })
}

impl EvalReport {
    /// The summary `analogc eval` prints.
    pub fn text(&self) -> String {
        let pct = |a: f64| format!("{:.2}%", 100.0 * a);
        let a = &self.accuracy;
        format!(
            "{} on {} ({}), {}, seed {}\n  clean accuracy  {}\n  accuracy        {} ± {} (std over trials), 95% CI [{}, {}], min {}, max {}\n  {:.1} s, {:.0} samples/s\n",
            self.model,
            self.data,
            count(self.samples as u64, "sample"),
            count(self.trials.len() as u64, "trial"),
            self.seed,
            pct(self.clean_accuracy),
            pct(a.mean),
            pct(a.std),
            pct(a.ci95[0]),
            pct(a.ci95[1]),
            pct(a.min),
            pct(a.max),
            self.seconds,
            self.samples_per_second
        )
    }
}
