//! `analogc run`: one model, inputs from `.npy`, outputs printed or saved.

use super::{compile, fail, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::passes;
use crate::source::FsLoader;
use analog_runtime::ir::{Graph, NodeKind};
use analog_runtime::npy;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The model file.
    pub file: PathBuf,
    /// Input data, `.npy` (uint8 or float32): one sample, or a batch with the
    /// samples along the first axis. `NAME=PATH` for a model with several inputs.
    #[arg(long, required = true)]
    pub input: Vec<String>,
    /// Write the outputs as float32 `.npy` (batch first) instead of printing
    /// them; with several outputs, a folder that gets one `NAME.npy` each.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The Monte-Carlo trial: which simulated chip (static draws).
    #[arg(long, default_value_t = 0)]
    pub trial: u32,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// One input's samples, matched to the graph's input node.
struct Batch {
    samples: usize,
    data: Vec<f32>,
}

pub fn run(cli: &Cli, args: &RunArgs) -> Outcome {
    let loader = FsLoader::default();
    let Some((_, mut lowered)) = compile(cli, &args.file, &loader, &args.exec.set) else { return Outcome::UserError };
    passes::run_pipeline(&mut lowered);
    let graph = &lowered.graph;
    let batches = match read_inputs(graph, &args.input) {
        Ok(b) => b,
        Err((code, msg)) => return fail(cli, code, msg),
    };
    let engine = match args.exec.engine(cli, graph) {
        Ok(e) => e,
        Err(o) => return o,
    };
    let samples = batches[0].samples;
    let chip = engine.chip(args.exec.seed, args.trial);
    let threads = args.exec.threads();
    // Samples are independent and keyed by their index: any split gives the same bits.
    let per_thread = samples.div_ceil(threads).max(1);
    let mut results: Vec<Vec<Vec<f32>>> = vec![vec![]; samples];
    std::thread::scope(|s| {
        for (chunk_index, chunk) in results.chunks_mut(per_thread).enumerate() {
            let (engine, chip, batches) = (&engine, &chip, &batches);
            s.spawn(move || {
                let first = chunk_index * per_thread;
                let n = chunk.len();
                let inputs: Vec<&[f32]> = graph
                    .nodes
                    .iter()
                    .filter(|n| matches!(n.kind, NodeKind::Input { .. }))
                    .zip(batches.iter())
                    .map(|(node, b)| {
                        let size: usize = input_shape(node).iter().product();
                        &b.data[first * size..(first + n) * size]
                    })
                    .collect();
                let ys = engine.run(chip, &mut engine.workspace(), first as u32, &inputs, n);
                for (i, slot) in chunk.iter_mut().enumerate() {
                    *slot = ys
                        .iter()
                        .map(|y| {
                            let size = y.len() / n;
                            y[i * size..(i + 1) * size].to_vec()
                        })
                        .collect();
                }
            });
        }
    });
    match &args.output {
        Some(path) => write_outputs(cli, graph, &results, path),
        None => {
            let mut text = String::new();
            for (k, (name, _)) in graph.outputs.iter().enumerate() {
                for (i, r) in results.iter().enumerate() {
                    let values: Vec<String> = r[k].iter().map(|v| format!("{v}")).collect();
                    let best = r[k]
                        .iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |b, (j, v)| if *v > b.1 { (j, *v) } else { b });
                    text.push_str(&format!("{name}[{i}] = [{}]  argmax {}\n", values.join(", "), best.0));
                }
            }
            super::print_stdout(&text)
        }
    }
}

fn input_shape(n: &analog_runtime::ir::Node) -> &[usize] {
    match &n.kind {
        NodeKind::Input { shape, .. } => shape,
        _ => &n.shape,
    }
}

fn read_inputs(graph: &Graph, specs: &[String]) -> Result<Vec<Batch>, (Code, String)> {
    let inputs: Vec<_> = graph.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Input { .. })).collect();
    let names: Vec<&str> = inputs.iter().map(|n| n.name.as_str()).collect();
    let mut paths: Vec<Option<&str>> = vec![None; inputs.len()];
    for spec in specs {
        let (name, path) = match spec.split_once('=') {
            Some((n, p)) => (Some(n), p),
            None => (None, spec.as_str()),
        };
        let k = match name {
            Some(n) => names.iter().position(|m| *m == n).ok_or_else(|| {
                (Code::InputNames, format!("the model has no input `{n}`; its inputs: {}", names.join(", ")))
            })?,
            None if inputs.len() == 1 => 0,
            None => {
                return Err((
                    Code::InputNames,
                    format!("the model has several inputs: give each as NAME=PATH ({})", names.join(", ")),
                ))
            }
        };
        paths[k] = Some(path);
    }
    let mut batches = vec![];
    for (node, path) in inputs.iter().zip(paths) {
        let path = path.ok_or_else(|| (Code::InputNames, format!("no data for input `{}`", node.name)))?;
        let bytes = std::fs::read(path).map_err(|e| (Code::InputUnreadable, format!("cannot read `{path}`: {e}")))?;
        let array = npy::read(&bytes).map_err(|e| {
            let code = if matches!(e, npy::ReadError::Dtype(_)) { Code::InputDtype } else { Code::InputUnreadable };
            (code, format!("`{path}`: {e}"))
        })?;
        let NodeKind::Input { dtype, shape, .. } = &node.kind else { unreachable!() };
        if array.dtype != *dtype {
            return Err((
                Code::InputDtype,
                format!("`{path}` holds {} but input `{}` is {dtype}", array.dtype, node.name),
            ));
        }
        let samples = if array.shape == *shape {
            1
        } else if array.shape.len() == shape.len() + 1 && array.shape[1..] == shape[..] {
            array.shape[0]
        } else {
            return Err((
                Code::InputShape,
                format!(
                    "`{path}` has shape {:?}; input `{}` takes {:?} or [N, …] of it",
                    array.shape, node.name, shape
                ),
            ));
        };
        batches.push(Batch { samples, data: array.data });
    }
    if let Some(b) = batches.iter().find(|b| b.samples != batches[0].samples) {
        return Err((
            Code::InputShape,
            format!("inputs hold different numbers of samples ({} and {})", batches[0].samples, b.samples),
        ));
    }
    if batches.first().is_some_and(|b| b.samples == 0) {
        return Err((Code::InputShape, "the input holds no samples".into()));
    }
    Ok(batches)
}

/// Writes each output through a temporary file, so a failure leaves none.
fn write_outputs(cli: &Cli, graph: &Graph, results: &[Vec<Vec<f32>>], path: &Path) -> Outcome {
    let targets: Vec<PathBuf> = if graph.outputs.len() == 1 {
        vec![path.to_path_buf()]
    } else {
        if let Err(e) = std::fs::create_dir_all(path) {
            return fail(cli, Code::OutputUnwritable, format!("cannot create `{}`: {e}", path.display()));
        }
        graph.outputs.iter().map(|(n, _)| path.join(format!("{n}.npy"))).collect()
    };
    for (k, target) in targets.iter().enumerate() {
        let shape: Vec<usize> =
            std::iter::once(results.len()).chain(graph.node(graph.outputs[k].1).shape.iter().copied()).collect();
        let data: Vec<f32> = results.iter().flat_map(|r| r[k].iter().copied()).collect();
        let tmp = target.with_extension("npy.partial");
        let written = std::fs::File::create(&tmp)
            .and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                npy::write_f32(&mut w, &shape, &data)?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()
            })
            .and_then(|_| std::fs::rename(&tmp, target));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return fail(cli, Code::OutputUnwritable, format!("cannot write `{}`: {e}", target.display()));
        }
    }
    Outcome::Ok
}
