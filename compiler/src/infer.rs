//! The outputs of a model for given inputs (`analogc run`): inputs from
//! `.npy` files, outputs printed or written as `.npy`.

use crate::diag::Code;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::evaluate::argmax;
use crate::files::write_atomic_with;
use analog_runtime::files;
use analog_runtime::ir::{Graph, Node, NodeKind};
use analog_runtime::{dataset, npy};
use std::path::{Path, PathBuf};

/// One input's samples, matched to the graph's input node.
pub struct Batch {
    pub samples: usize,
    /// The raw values, sample after sample.
    pub data: Vec<f32>,
}

/// Every output of every sample: `outputs[sample][output]`.
pub struct Outputs {
    pub names: Vec<String>,
    /// Each output's shape for one sample.
    pub shapes: Vec<Vec<usize>>,
    pub values: Vec<Vec<Vec<f32>>>,
}

fn input_nodes(graph: &Graph) -> Vec<&Node> {
    graph.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Input { .. })).collect()
}

fn input_shape(n: &Node) -> &[usize] {
    match &n.kind {
        NodeKind::Input { shape, .. } => shape,
        _ => &n.shape,
    }
}

/// Reads the inputs `specs` give (`PATH`, or `NAME=PATH` per input) from
/// `.npy` files, checked against the graph's inputs.
pub fn read_inputs(graph: &Graph, specs: &[String]) -> Result<Vec<Batch>> {
    let given = specs.iter().map(|spec| match spec.split_once('=') {
        Some((n, p)) => (Some(n), p),
        None => (None, spec.as_str()),
    });
    batches(graph, given, |path| Ok((format!("`{path}`"), read_npy(path)?)))
        .map_err(|(code, msg)| Error::user(code, msg))
}

/// The inputs given as arrays (`NAME` → array, or no name for a model's only
/// input), checked against the graph's inputs as `.npy` files are.
pub fn inputs_from_arrays(graph: &Graph, arrays: Vec<(Option<String>, npy::Array)>) -> Result<Vec<Batch>> {
    let (names, arrays): (Vec<Option<String>>, Vec<npy::Array>) = arrays.into_iter().unzip();
    let given = names.iter().map(Option::as_deref).zip(names.iter().zip(arrays));
    batches(graph, given, |(name, array)| {
        let what = match name {
            Some(n) => format!("the array for `{n}`"),
            None => "the array".to_string(),
        };
        Ok((what, array))
    })
    .map_err(|(code, msg)| Error::user(code, msg))
}

/// Matches the given inputs (`NAME` or none, and where their data is) to the
/// graph's inputs, then loads and checks each in the graph's order.
fn batches<'a, T>(
    graph: &Graph,
    given: impl IntoIterator<Item = (Option<&'a str>, T)>,
    mut load: impl FnMut(T) -> Result<(String, npy::Array), (Code, String)>,
) -> Result<Vec<Batch>, (Code, String)> {
    let inputs = input_nodes(graph);
    let names: Vec<&str> = inputs.iter().map(|n| n.name.as_str()).collect();
    let mut slots: Vec<Option<T>> = (0..inputs.len()).map(|_| None).collect();
    for (name, item) in given {
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
        slots[k] = Some(item);
    }
    let mut batches = vec![];
    for (node, slot) in inputs.iter().zip(slots) {
        let item = slot.ok_or_else(|| (Code::InputNames, format!("no data for input `{}`", node.name)))?;
        let (what, array) = load(item)?;
        batches.push(check_array(node, &what, array)?);
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

fn read_npy(path: &str) -> Result<npy::Array, (Code, String)> {
    let format = |e: npy::ReadError| {
        let code = if matches!(e, npy::ReadError::Dtype(_)) { Code::InputDtype } else { Code::InputUnreadable };
        (code, format!("`{path}`: {e}"))
    };
    let bytes = files::read_promised(Path::new(path), files::DATA, npy::promised_len).map_err(|e| match e {
        files::Refused::Io(e) => (Code::InputUnreadable, format!("cannot read `{path}`: {e}")),
        files::Refused::Header(e) => format(e),
    })?;
    npy::read(&bytes).map_err(format)
}

/// Checks one input's array (`what` names it in messages) against its node.
fn check_array(node: &Node, what: &str, array: npy::Array) -> Result<Batch, (Code, String)> {
    let NodeKind::Input { dtype, shape, .. } = &node.kind else { unreachable!("an input node") };
    if array.dtype != *dtype {
        return Err((Code::InputDtype, format!("{what} holds {} but input `{}` is {dtype}", array.dtype, node.name)));
    }
    // The rule of a dataset folder: axes of length 1 do not count, so `[N, 28, 28]`
    // feeds `u8[1, 28, 28]`; one sample may come without its batch axis.
    let samples = if dataset::fits(&array.shape, shape) {
        1
    } else if !array.shape.is_empty() && dataset::fits(&array.shape[1..], shape) {
        array.shape[0]
    } else {
        return Err((
            Code::InputShape,
            format!(
                "{what} has shape {:?}; input `{}` takes {:?} or [N, …] of it (axes of length 1 aside)",
                array.shape, node.name, shape
            ),
        ));
    };
    Ok(Batch { samples, data: array.data })
}

/// Runs every sample of `batches` (one per input of `graph`, as
/// [`read_inputs`] gives them) on `chip` of `engine`, split over `threads`
/// (samples are independent and keyed by their index: any split gives the
/// same bits).
pub fn run(graph: &Graph, engine: &Engine, chip: &crate::engine::Chip, batches: &[Batch], threads: usize) -> Outputs {
    let samples = batches.first().map_or(0, |b| b.samples);
    let per_thread = samples.div_ceil(threads.max(1)).max(1);
    let mut values: Vec<Vec<Vec<f32>>> = vec![vec![]; samples];
    let inputs = input_nodes(graph);
    std::thread::scope(|s| {
        for (chunk_index, chunk) in values.chunks_mut(per_thread).enumerate() {
            let inputs = &inputs;
            s.spawn(move || {
                let first = chunk_index * per_thread;
                let n = chunk.len();
                let xs: Vec<&[f32]> = inputs
                    .iter()
                    .zip(batches)
                    .map(|(node, b)| {
                        let size: usize = input_shape(node).iter().product();
                        &b.data[first * size..(first + n) * size]
                    })
                    .collect();
                let ys = engine.run(chip, &mut engine.workspace(), first as u32, &xs, n);
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
    Outputs {
        names: graph.outputs.iter().map(|(n, _)| n.clone()).collect(),
        shapes: graph.outputs.iter().map(|(_, id)| graph.node(*id).shape.clone()).collect(),
        values,
    }
}

impl Outputs {
    /// One line per output and sample: the values and their argmax.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for (k, name) in self.names.iter().enumerate() {
            for (i, r) in self.values.iter().enumerate() {
                let values: Vec<String> = r[k].iter().map(|v| format!("{v}")).collect();
                text.push_str(&format!("{name}[{i}] = [{}]  argmax {}\n", values.join(", "), argmax(&r[k])));
            }
        }
        text
    }

    /// Writes the outputs as float32 `.npy`, batch first: to `path` when there
    /// is one output, else one `NAME.npy` each in the folder `path`. Each file
    /// goes through a temporary one, so a failure leaves none.
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let targets: Vec<PathBuf> = if self.names.len() == 1 {
            vec![path.to_path_buf()]
        } else {
            std::fs::create_dir_all(path)
                .map_err(|e| Error::user(Code::OutputUnwritable, format!("cannot create `{}`: {e}", path.display())))?;
            self.names.iter().map(|n| path.join(format!("{n}.npy"))).collect()
        };
        for (k, target) in targets.iter().enumerate() {
            let shape: Vec<usize> = std::iter::once(self.values.len()).chain(self.shapes[k].iter().copied()).collect();
            let data: Vec<f32> = self.values.iter().flat_map(|r| r[k].iter().copied()).collect();
            write_atomic_with(target, |w| npy::write_f32(w, &shape, &data)).map_err(|e| {
                Error::user(Code::OutputUnwritable, format!("cannot write `{}`: {e}", target.display()))
            })?;
        }
        Ok(())
    }
}
