//! `analogc bench`: how fast a model compiles and runs — compile time,
//! samples per second with and without its noise, and each layer's
//! effective rate. Medians of repeated runs; docs/performance.md has the
//! figures and the PyTorch peer run beside them.

use super::eval::{correct, open_data};
use super::{compile, fail, Cli, ExecArgs, Outcome};
use crate::engine::Engine;
use crate::jit::{self, mac_count};
use crate::passes;
use crate::source::FsLoader;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The model file.
    pub file: PathBuf,
    /// The dataset (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Use only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples per unit of work.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed repetitions; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn bench(cli: &Cli, args: &BenchArgs) -> Outcome {
    let loader = FsLoader::default();
    let Some((fe, mut lowered)) = compile(cli, &args.file, &loader, &args.exec.set) else { return Outcome::UserError };
    passes::run_pipeline(&mut lowered);
    let graph = &lowered.graph;
    let (_, data, n) = match open_data(&fe, graph, args.data.as_deref(), &args.file, args.limit) {
        Ok(d) => d,
        Err((code, e)) => return fail(cli, code, e),
    };
    let reps = args.repeat.max(1);
    let (threads, batch) = (args.exec.threads(), args.batch.max(1));
    let compile_ms = median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                let _ = Engine::new(graph, args.exec.backend, args.exec.kernels);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let clean_graph = graph.without_noise();
    let (engine, clean) = match (args.exec.engine(cli, graph), args.exec.engine(cli, &clean_graph)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let hidden = indicatif::ProgressBar::hidden();
    let rate = |e: &Engine| {
        let chip = e.chip(args.exec.seed, 0);
        median(
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    let _ = correct(e, &chip, &data, n, threads, batch, &hidden);
                    n as f64 / t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let (noisy_rate, clean_rate) = (rate(&engine), rate(&clean));
    let macs: usize = graph.nodes.iter().map(|node| mac_count(graph, node)).sum();
    let mut layers = vec![];
    if let Engine::Jit(c) = &engine {
        let chip = c.chip(args.exec.seed, 0);
        let mut ws = c.workspace();
        let size = data.images.len() / data.len();
        let m = batch.min(jit::layout::MAX_BATCH).min(n);
        for (id, secs) in c.time_layers(&chip, &mut ws, &[&data.images[..m * size]], m, 50 * reps) {
            let node = graph.node(id);
            let flops = 2.0 * mac_count(graph, node) as f64 * m as f64;
            layers.push(json!({
                "name": node.name,
                "op": match &node.kind { analog_runtime::ir::NodeKind::Op { op, .. } => op.name(), _ => "input" },
                "us_per_batch": secs * 1e6,
                "gflops": if flops > 0.0 { Some(flops / secs / 1e9) } else { None },
            }));
        }
    }
    let report = json!({
        "model": graph.name,
        "backend": format!("{:?}", args.exec.backend).to_lowercase(),
        "kernels": format!("{:?}", args.exec.kernels).to_lowercase(),
        "threads": threads,
        "batch": batch,
        "samples": n,
        "compile_ms": compile_ms,
        "samples_per_s": noisy_rate,
        "clean_samples_per_s": clean_rate,
        "noise_cost": 1.0 - noisy_rate / clean_rate,
        "effective_gflops": 2.0 * macs as f64 * noisy_rate / 1e9,
        "layers": layers,
    });
    if args.json {
        return super::print_stdout(&format!("{report:#}\n"));
    }
    let mut t = format!(
        "{} on {} samples, backend {}, kernels {}, {threads} threads, batch {batch}, medians of {reps}\n",
        graph.name,
        n,
        report["backend"].as_str().unwrap_or(""),
        report["kernels"].as_str().unwrap_or("")
    );
    t += &format!("  compile          {compile_ms:.2} ms\n");
    t += &format!(
        "  with noise       {noisy_rate:.0} samples/s ({:.1} GFLOP/s effective)\n",
        2.0 * macs as f64 * noisy_rate / 1e9
    );
    t += &format!("  without noise    {clean_rate:.0} samples/s\n");
    t += &format!("  noise costs      {:.1}%\n", 100.0 * (1.0 - noisy_rate / clean_rate));
    if !layers.is_empty() {
        t += "  layer            op          µs/batch   GFLOP/s (one thread)\n";
        for l in &layers {
            t += &format!(
                "  {:<16} {:<10} {:>9.1}   {}\n",
                l["name"].as_str().unwrap_or(""),
                l["op"].as_str().unwrap_or(""),
                l["us_per_batch"].as_f64().unwrap_or(0.0),
                l["gflops"].as_f64().map_or(String::new(), |g| format!("{g:.1}"))
            );
        }
    }
    super::print_stdout(&t)
}
