//! `analogc eval`: how accurate is this network on that hardware? Monte-Carlo
//! trials (one simulated chip each) over a labelled test set.

use super::{compile, fail, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::engine::{Chip, Engine};
use crate::passes;
use crate::source::FsLoader;
use analog_runtime::dataset::{self, Dataset};
use analog_runtime::ir::{Graph, NodeKind};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The model file.
    pub file: PathBuf,
    /// The dataset: a folder (IDX or images.npy + labels.npy), or a name
    /// (`mnist`, `fashion-mnist`) looked up in $ANALOGC_DATA, ./data and the
    /// model's ../data. Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Monte-Carlo trials: simulated chips, each with its own static draws.
    #[arg(long, default_value_t = 5)]
    pub trials: u32,
    /// Samples per unit of work. Results do not depend on it.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Finds a dataset given by name or path.
fn locate(arg: Option<&str>, model_data: Option<&Path>, model_file: &Path) -> Result<PathBuf, String> {
    let Some(arg) = arg else {
        return model_data
            .map(Path::to_path_buf)
            .ok_or_else(|| "the model names no `data`; give one with --data".into());
    };
    let direct = PathBuf::from(arg);
    if direct.exists() {
        return Ok(direct);
    }
    let mut places = vec![];
    if let Some(root) = std::env::var_os("ANALOGC_DATA") {
        places.push(PathBuf::from(root).join(arg));
    }
    places.push(Path::new("data").join(arg));
    if let Some(dir) = model_file.parent() {
        places.push(dir.join("../data").join(arg));
    }
    places.iter().find(|p| p.is_dir()).cloned().ok_or_else(|| {
        format!(
            "no dataset `{arg}`: not a path, and not in {}",
            places.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Checks a dataset read at run time against the graph's input and outputs.
fn fits(graph: &Graph, data: &Dataset) -> Result<(), (Code, String)> {
    let inputs: Vec<_> = graph.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Input { .. })).collect();
    let [input] = inputs[..] else {
        return Err((Code::DataShape, format!("a dataset feeds one input, the model has {}", inputs.len())));
    };
    let NodeKind::Input { dtype, shape, .. } = &input.kind else { unreachable!() };
    if !dataset::fits(&data.sample_shape, shape) {
        return Err((
            Code::DataShape,
            format!("dataset samples are {:?} but input `{}` is {shape:?}", data.sample_shape, input.name),
        ));
    }
    if data.dtype != *dtype {
        return Err((
            Code::DataDtype,
            format!("dataset images are {} but input `{}` is {dtype}", data.dtype, input.name),
        ));
    }
    let classes: usize = graph.node(graph.outputs[0].1).shape.iter().product();
    if let Some(bad) = data.labels.iter().find(|l| **l as usize >= classes) {
        return Err((Code::DataLabels, format!("label {bad} is out of range for {classes} outputs")));
    }
    Ok(())
}

/// The number of correctly classified samples among `0..n`, by the argmax of
/// the first output. Samples go to threads in chunks; the count does not
/// depend on how.
pub(crate) fn correct(
    engine: &Engine,
    chip: &Chip,
    data: &Dataset,
    n: usize,
    threads: usize,
    batch: usize,
    progress: &indicatif::ProgressBar,
) -> Option<usize> {
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut ws = engine.workspace();
                loop {
                    if INTERRUPTED.load(Ordering::Relaxed) {
                        return;
                    }
                    let start = next.fetch_add(batch, Ordering::Relaxed);
                    if start >= n {
                        return;
                    }
                    let end = (start + batch).min(n);
                    let size = data.images.len() / data.len();
                    let ys =
                        engine.run(chip, &mut ws, start as u32, &[&data.images[start * size..end * size]], end - start);
                    let classes = ys[0].len() / (end - start);
                    let mut hits = 0;
                    for (i, y) in (start..end).zip(ys[0].chunks(classes)) {
                        let guess = y
                            .iter()
                            .enumerate()
                            .fold((0, f32::NEG_INFINITY), |b, (j, v)| if *v > b.1 { (j, *v) } else { b })
                            .0;
                        hits += usize::from(guess == data.labels[i] as usize);
                    }
                    total.fetch_add(hits, Ordering::Relaxed);
                    progress.inc((end - start) as u64);
                }
            });
        }
    });
    (!INTERRUPTED.load(Ordering::Relaxed)).then(|| total.into_inner())
}

/// The labelled data a model is evaluated on (`--data`, or the model's own),
/// checked against the graph, and how many of its samples `--limit` keeps.
pub(crate) fn open_data(
    fe: &crate::check::FrontEnd,
    graph: &Graph,
    data_arg: Option<&str>,
    file: &Path,
    limit: Option<usize>,
) -> Result<(PathBuf, Dataset, usize), (Code, String)> {
    let model_data = fe.model.as_ref().and_then(|m| m.data.as_deref());
    let dir = locate(data_arg, model_data, file).map_err(|e| (Code::DataUnreadable, e))?;
    let data = Dataset::open(&dir).map_err(|e| (Code::DataCorrupt, e))?;
    fits(graph, &data)?;
    let n = limit.map_or(data.len(), |l| l.min(data.len()));
    if n == 0 {
        return Err((Code::DataShape, "no samples to evaluate".into()));
    }
    Ok((dir, data, n))
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub(crate) fn t95(df: u32) -> f64 {
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

pub fn eval(cli: &Cli, args: &EvalArgs) -> Outcome {
    let started = Instant::now();
    let loader = FsLoader::default();
    let Some((fe, mut lowered)) = compile(cli, &args.file, &loader, &args.exec.set) else { return Outcome::UserError };
    passes::run_pipeline(&mut lowered);
    let graph = &lowered.graph;
    let (dir, data, n) = match open_data(&fe, graph, args.data.as_deref(), &args.file, args.limit) {
        Ok(d) => d,
        Err((code, e)) => return fail(cli, code, e),
    };
    let clean_graph = graph.without_noise();
    let (engine, clean) = match (args.exec.engine(cli, graph), args.exec.engine(cli, &clean_graph)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let threads = args.exec.threads();
    let batch = args.batch.max(1);
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(((args.trials as usize + 1) * n) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} samples, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_message("clean");
    let Some(clean_hits) = correct(&clean, &clean.chip(args.exec.seed, 0), &data, n, threads, batch, &progress) else {
        progress.abandon();
        return fail(cli, Code::Interrupted, "interrupted before the clean pass finished".into());
    };
    let mut trials = vec![];
    for t in 0..args.trials {
        progress.set_message(format!("trial {}/{}", t + 1, args.trials));
        let chip = engine.chip(args.exec.seed, t);
        let Some(hits) = correct(&engine, &chip, &data, n, threads, batch, &progress) else {
            progress.abandon();
            return fail(cli, Code::Interrupted, format!("interrupted after {t} of {} trials", args.trials));
        };
        trials.push(hits as f64 / n as f64);
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let evaluated = (args.trials as usize + 1) * n;
    let clean_accuracy = clean_hits as f64 / n as f64;
    let k = trials.len() as f64;
    let mean = if trials.is_empty() { clean_accuracy } else { trials.iter().sum::<f64>() / k };
    let std = if trials.len() > 1 {
        (trials.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
    } else {
        0.0
    };
    let half = if trials.len() > 1 { t95(trials.len() as u32 - 1) * std / k.sqrt() } else { 0.0 };
    let (min, max) = trials.iter().fold((mean, mean), |(lo, hi), a| (lo.min(*a), hi.max(*a)));
    if args.json {
        let obj = json!({
            "model": graph.name,
            "data": dir.display().to_string(),
            "samples": n,
            "seed": args.exec.seed,
            "clean_accuracy": clean_accuracy,
            "accuracy": { "mean": mean, "std": std, "ci95": [mean - half, mean + half], "min": min, "max": max },
            "trials": trials.iter().enumerate().map(|(t, a)| json!({ "trial": t, "seed": args.exec.seed, "accuracy": a })).collect::<Vec<_>>(),
            "seconds": seconds,
            "samples_per_second": evaluated as f64 / seconds,
            "backend": "interp",
        });
        return super::print_stdout(&format!("{obj}\n"));
    }
    let pct = |a: f64| format!("{:.2}%", 100.0 * a);
    let text = format!(
        "{} on {} ({n} samples), {} trials, seed {}\n  clean accuracy  {}\n  accuracy        {} ± {} (std over trials), 95% CI [{}, {}], min {}, max {}\n  {:.1} s, {:.0} samples/s\n",
        graph.name,
        dir.display(),
        args.trials,
        args.exec.seed,
        pct(clean_accuracy),
        pct(mean),
        pct(std),
        pct(mean - half),
        pct(mean + half),
        pct(min),
        pct(max),
        seconds,
        evaluated as f64 / seconds
    );
    super::print_stdout(&text)
}
