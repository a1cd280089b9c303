//! Walking Noise (Borras, Klein, Fröning 2022): for each noise site in turn,
//! noise of one kind on that site's output and every other noise of the model
//! off, accuracy over a grid of noise levels; or any annotation swept by its
//! `--set` path (`fc2.format.gain=1,2,4,8`).
//!
//! Every grid point is an ordinary evaluation of the model under `--set`
//! overrides, run through the same front end, passes and engine. Its seed is
//! [`grid::point_seed`], so shards run anywhere merge into the bits of one
//! run. Consecutive points whose graphs are the same up to their first random
//! draw compute that part once per sample ([`crate::hoist`]), with the same
//! bits. Result files hold no timings.

pub mod grid;
pub mod merge;
pub mod output;
pub mod plot;
pub mod result;

use crate::control::Control;
use crate::data::Data;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::evaluate::{correct, correct_on};
use crate::hoist::{self, Prefix, Split};
use crate::model::{engine_for, Exec, Model};
use analog_runtime::ir::hardware::Format;
use analog_runtime::ir::{Graph, NodeKind, Op};
use grid::{point_seed, GridValue};
pub use result::{Kind, Settings, Sites, SweepResult};

/// What to sweep and how.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Which ops are noise sites.
    pub sites: Sites,
    /// The noise put on the swept site.
    pub kind: Kind,
    /// The additive share of `Kind::Mixed`, in [0, 1].
    pub ratio: f64,
    /// The noise levels, as `--sigma` takes them (`A..B:N` or `v1,v2,…`).
    pub sigma: String,
    /// One more site, `global`: every selected site noisy at once.
    pub global: bool,
    /// Sweep an annotation instead of σ: `PATH=V1,V2,…`.
    pub sweep: Option<String>,
    /// Simulated chips per grid point.
    pub trials: u32,
    /// Run only the points `k` with `k mod n = i`: `(i, n)`.
    pub shard: Option<(usize, usize)>,
    pub exec: Exec,
}

impl SweepOptions {
    /// The checks that need no model.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::user(Code::BadSweep, msg));
        if !(0.0..=1.0).contains(&self.ratio) {
            return bad(format!("`--ratio {}`: the ratio must be in [0, 1]", self.ratio));
        }
        if self.sweep.is_some() && self.global {
            return bad("`--global` walks noise sites; it does not go with `--sweep`".into());
        }
        crate::limits::trials(self.trials)?;
        self.exec.check()
    }
}

/// The walk: its sites and the `--set` overrides of each grid point.
struct Plan<'o> {
    options: &'o SweepOptions,
    axis: String,
    ratio: String,
    sites: Vec<String>,
    /// Every node: the targets whose noise a walk switches off.
    targets: Vec<String>,
    /// The nodes that are noise sites.
    selected: Vec<String>,
    /// The nodes with ADC noise (switched off by a walk).
    adc: Vec<String>,
}

impl<'o> Plan<'o> {
    fn new(graph: &Graph, options: &'o SweepOptions, axis: String) -> Result<Self> {
        let (mut targets, mut selected, mut adc) = (vec![], vec![], vec![]);
        for node in &graph.nodes {
            targets.push(node.name.clone());
            let selectable = match &node.kind {
                NodeKind::Input { .. } => options.sites == Sites::All,
                NodeKind::Op { op: Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. }, .. } => true,
                NodeKind::Op { op: Op::Denoise { .. }, .. } => false,
                NodeKind::Op { .. } => options.sites == Sites::All,
            };
            if selectable {
                selected.push(node.name.clone());
            }
            if let Format::Abfp { adc_noise, .. } | Format::AnalogInt { adc_noise, .. } = &node.hw.format {
                if *adc_noise != 0.0 {
                    adc.push(node.name.clone());
                }
            }
        }
        let mut sites = match &options.sweep {
            Some(_) => vec![axis.clone()],
            None => selected.clone(),
        };
        if options.global {
            sites.push("global".into());
        }
        if sites.is_empty() {
            return Err(Error::user(
                Code::BadSweep,
                "the model has no noise site of the kind selected (try `--sites all`)",
            ));
        }
        Ok(Plan { options, axis, ratio: format!("{}", options.ratio), sites, targets, selected, adc })
    }

    /// The model of the point of `site` at `g`.
    fn point(&self, model: &Model, site: &str, g: &GridValue) -> Result<Model> {
        model.with_settings(&self.overrides(site, g))
    }

    /// The `--set` overrides of a point, after the model's own.
    fn overrides(&self, site: &str, g: &GridValue) -> Vec<String> {
        if self.options.sweep.is_some() {
            return vec![format!("{}={}", self.axis, g.text)];
        }
        let design = noise_design(self.options.kind, &g.text, &self.ratio);
        let mut set = vec![];
        for t in &self.targets {
            let on = t == site || (site == "global" && self.selected.contains(t));
            set.push(if on { format!("{t}.noise={design}") } else { format!("{t}.noise=none") });
            set.push(format!("{t}.weight_noise=none"));
        }
        for t in &self.adc {
            set.push(format!("{t}.format.adc_noise=0"));
        }
        set
    }
}

/// Runs the points `points[start..]` that share the prefix of the first
/// ([`hoist::hoisted`]; all of them when not hoisting), computed once per chunk
/// of samples; returns each one's correct samples per trial.
fn run_group(
    model: &Model,
    data: &Data,
    plan: &Plan,
    grid: &[GridValue],
    points: &[(usize, usize)],
    start: usize,
    control: Control,
) -> Result<Vec<Vec<usize>>> {
    let exec = &plan.options.exec;
    let load = |j: usize| -> Result<(Model, Option<Split>)> {
        let (s, v) = points[j];
        let point = plan.point(model, &plan.sites[s], &grid[v])?;
        let split = hoist::hoisted(point.graph(), exec);
        Ok((point, split))
    };
    let head = load(start)?;
    let prefix = Prefix::new(head.1.as_ref(), exec)?;
    let chunks = prefix.chunks(data.n);
    let mut counts: Vec<Vec<usize>> = vec![];
    // The group's end, found in the first chunk.
    let mut end = points.len();
    for (c, range) in chunks.iter().cloned().enumerate() {
        // Points end in the last chunk.
        let interrupted = |j: usize| {
            let finished = if c + 1 == chunks.len() { j } else { start };
            Error::interrupted(format!("after {finished} of {} grid points", points.len()))
        };
        let Some(chunk) = prefix.inputs(&data.set, range, control) else { return Err(interrupted(start)) };
        let samples = chunk.samples();
        for j in start..end {
            let loaded;
            let (point, split) = match j == start {
                true => (&head.0, &head.1),
                false => {
                    loaded = load(j)?;
                    (&loaded.0, &loaded.1)
                }
            };
            if c == 0 && j > start && prefix_graph(split) != prefix_graph(&head.1) {
                end = j;
                break;
            }
            if c == 0 {
                counts.push(vec![0; plan.options.trials as usize]);
            }
            let (s, v) = points[j];
            let (site, g) = (&plan.sites[s], &grid[v]);
            let engine = engine_for(split.as_ref().map_or(point.graph(), |s| &s.suffix), exec.backend, exec.kernels)?;
            let seed = point_seed(exec.seed, site, &g.text);
            for (t, count) in counts[j - start].iter_mut().enumerate() {
                control.progress.stage(&format!("{site} {}={}", plan.axis, g.text));
                let chip = engine.chip(seed, t as u32);
                let Some(k) = correct_on(&engine, &chip, &samples, exec.threads, 64, control) else {
                    return Err(interrupted(j));
                };
                *count += k;
            }
        }
    }
    Ok(counts)
}

fn prefix_graph(split: &Option<Split>) -> Option<&Graph> {
    split.as_ref().map(|s| &s.prefix)
}

fn noise_design(kind: Kind, sigma: &str, ratio: &str) -> String {
    match kind {
        Kind::Additive => format!("additive(sigma = {sigma})"),
        Kind::Multiplicative => format!("multiplicative(sigma = {sigma})"),
        Kind::Mixed => format!("mixed(amplitude = {sigma}, ratio = {ratio})"),
    }
}

/// Runs the sweep (or this shard of it) of `model` on `data`. Progress counts
/// samples: the clean pass, then every trial of every point of this shard.
pub fn sweep(model: &Model, data: &Data, options: &SweepOptions, control: Control) -> Result<SweepResult> {
    options.check()?;
    let settings = Settings {
        file: model.file().display().to_string(),
        data: data.dir.display().to_string(),
        samples: data.n,
        trials: options.trials,
        seed: options.exec.seed,
        sites: options.sites,
        kind: options.kind,
        ratio: format!("{}", options.ratio),
        sigma: options.sigma.clone(),
        global: options.global,
        sweep: options.sweep.clone(),
        set: model.settings().to_vec(),
    };
    let (axis, grid) = settings.grid().map_err(|e| match &options.sweep {
        None => Error::user(Code::BadSweep, format!("`--sigma {}`: {e}", options.sigma)),
        Some(_) => Error::user(Code::BadSweep, e),
    })?;
    let plan = Plan::new(model.graph(), options, axis)?;
    // The points of this run, site-major.
    let all: Vec<(usize, usize)> = (0..plan.sites.len()).flat_map(|s| (0..grid.len()).map(move |v| (s, v))).collect();
    let mine: Vec<(usize, usize)> = match options.shard {
        Some((i, k)) => all.iter().enumerate().filter(|(j, _)| j % k == i).map(|(_, p)| *p).collect(),
        None => all,
    };
    let (exec, n) = (&options.exec, data.n);
    control.progress.start((n + mine.len() * options.trials as usize * n) as u64);
    // Clean: the model with every noise off.
    let clean_graph = model.graph().without_noise();
    let clean = engine_for(&clean_graph, exec.backend, exec.kernels)?;
    control.progress.stage("clean");
    let Some(clean_hits) = correct(&clean, &clean.chip(exec.seed, 0), &data.set, n, exec.threads, 64, control) else {
        return Err(Error::interrupted("before the clean pass finished"));
    };
    let mut hits = vec![vec![None; grid.len()]; plan.sites.len()];
    let mut start = 0;
    while start < mine.len() {
        let group = run_group(model, data, &plan, &grid, &mine, start, control)?;
        for (&(s, v), counts) in mine[start..].iter().zip(&group) {
            hits[s][v] = Some(counts.clone());
        }
        start += group.len();
    }
    Ok(SweepResult {
        model: model.name().to_string(),
        classes: model.classes(),
        settings,
        clean_hits,
        sites: plan.sites,
        grid,
        hits,
        shard: options.shard,
    })
}
