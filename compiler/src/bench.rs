//! How fast a model compiles and runs (`analogc bench`): compile time,
//! samples per second with and without its noise, and each layer's effective
//! rate. Medians of repeated runs; docs/performance.md has the figures and the
//! PyTorch peer run beside them.

use crate::control::Control;
use crate::data::Data;
use crate::engine::Engine;
use crate::error::Result;
use crate::evaluate::correct;
use crate::jit::{self, mac_count};
use crate::model::{engine_for, Exec, Model};
use crate::words::count;
use analog_runtime::ir::NodeKind;
use serde::Serialize;
use std::time::Instant;

/// One layer's time on one thread.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRate {
    pub name: String,
    pub op: &'static str,
    pub us_per_batch: f64,
    /// `None` for layers without multiply-accumulates.
    pub gflops: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub backend: String,
    pub kernels: String,
    pub threads: usize,
    pub batch: usize,
    pub samples: usize,
    pub compile_ms: f64,
    pub samples_per_s: f64,
    pub clean_samples_per_s: f64,
    pub noise_cost: f64,
    pub effective_gflops: f64,
    /// One thread's FP32 fused multiply-add peak on this CPU, measured
    /// (`None` without FMA instructions): what the layers' rates compare to.
    pub fma_peak_gflops: Option<f64>,
    /// Per layer (the JIT only).
    pub layers: Vec<LayerRate>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measures `model` on the samples of `data`, `repeat` times each (medians).
pub fn bench(model: &Model, data: &Data, exec: &Exec, batch: usize, repeat: usize) -> Result<BenchReport> {
    crate::limits::batch(batch)?;
    crate::limits::count("repeat", repeat as u64, 1000)?;
    exec.check()?;
    let graph = model.graph();
    let (reps, batch, n) = (repeat.max(1), batch.max(1), data.n);
    let compile_ms = median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                let _ = Engine::new(graph, exec.backend, exec.kernels);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let clean_graph = graph.without_noise();
    let engine = model.engine(exec.backend, exec.kernels)?;
    let clean = engine_for(&clean_graph, exec.backend, exec.kernels)?;
    let rate = |e: &Engine| {
        let chip = e.chip(exec.seed, 0);
        median(
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    let _ = correct(e, &chip, &data.set, n, exec.threads, batch, Control::none());
                    n as f64 / t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let (noisy_rate, clean_rate) = (rate(&engine), rate(&clean));
    let macs: usize = graph.nodes.iter().map(|node| mac_count(graph, node)).sum();
    let mut layers = vec![];
    if let Engine::Jit(c) = &engine {
        let chip = c.chip(exec.seed, 0);
        let mut ws = c.workspace();
        let m = batch.min(jit::layout::MAX_BATCH).min(n);
        for (id, secs) in c.time_layers(&chip, &mut ws, &[data.set.samples(0..m)], m, 50 * reps) {
            let node = graph.node(id);
            let flops = 2.0 * mac_count(graph, node) as f64 * m as f64;
            layers.push(LayerRate {
                name: node.name.clone(),
                op: match &node.kind {
                    NodeKind::Op { op, .. } => op.name(),
                    _ => "input",
                },
                us_per_batch: secs * 1e6,
                gflops: (flops > 0.0).then(|| flops / secs / 1e9),
            });
        }
    }
    Ok(BenchReport {
        model: graph.name.clone(),
        backend: exec.backend.name().to_string(),
        kernels: format!("{:?}", exec.kernels).to_lowercase(),
        threads: exec.threads,
        batch,
        samples: n,
        compile_ms,
        samples_per_s: noisy_rate,
        clean_samples_per_s: clean_rate,
        noise_cost: 1.0 - noisy_rate / clean_rate,
        effective_gflops: 2.0 * macs as f64 * noisy_rate / 1e9,
        fma_peak_gflops: analog_runtime::kernels::peak::fma_gflops(5),
        layers,
    })
}

impl BenchReport {
    /// The table `analogc bench` prints.
    pub fn text(&self, repeat: usize) -> String {
        let mut t = format!(
            "{} on {} samples, backend {}, kernels {}, {}, batch {}, medians of {}\n",
            self.model,
            self.samples,
            self.backend,
            self.kernels,
            count(self.threads as u64, "thread"),
            self.batch,
            repeat.max(1)
        );
        t += &format!("  compile          {:.2} ms\n", self.compile_ms);
        t += &format!(
            "  with noise       {:.0} samples/s ({:.1} GFLOP/s effective)\n",
            self.samples_per_s, self.effective_gflops
        );
        t += &format!("  without noise    {:.0} samples/s\n", self.clean_samples_per_s);
        t += &format!("  noise costs      {:.1}%\n", 100.0 * self.noise_cost);
        if let Some(peak) = self.fma_peak_gflops {
            t += &format!("  FMA peak         {peak:.1} GFLOP/s (one thread, measured)\n");
        }
        if !self.layers.is_empty() {
            t += "  layer            op          µs/batch   GFLOP/s (one thread)\n";
            for l in &self.layers {
                let rate = match (l.gflops, self.fma_peak_gflops) {
                    (Some(g), Some(peak)) => format!("{g:.1}  ({:.0}% of peak)", 100.0 * g / peak),
                    (Some(g), None) => format!("{g:.1}"),
                    _ => String::new(),
                };
                t += &format!("  {:<16} {:<10} {:>9.1}   {rate}\n", l.name, l.op, l.us_per_batch);
            }
        }
        t
    }
}
