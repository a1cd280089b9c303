//! The labelled data a model is evaluated on: found by path or name, read,
//! and checked against the model's input and output.

use crate::diag::Code;
use crate::error::{Error, Result};
use crate::model::Model;
use analog_runtime::dataset::{self, Dataset, Split};
use analog_runtime::ir::{Graph, NodeKind};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A dataset opened for a model, and how many of its samples are used.
pub struct Data {
    /// The folder it was read from.
    pub dir: PathBuf,
    pub set: Dataset,
    /// The samples used: the first `n` (`limit`, or all).
    pub n: usize,
}

impl Data {
    /// The dataset `arg` names (a folder, or a name looked up in
    /// `$ANALOGC_DATA`, `./data` and the model's `../data`), or the model's own
    /// `data`; its first `limit` samples (all when `None`).
    pub fn open(model: &Model, arg: Option<&str>, limit: Option<usize>) -> Result<Data> {
        let dir = locate(arg, model.data(), model.file()).map_err(|e| Error::user(Code::DataUnreadable, e))?;
        let set = Dataset::open_samples(&dir, Split::Test, limit).map_err(|e| Error::user(Code::DataCorrupt, e))?;
        fits(model.graph(), &set).map_err(|(code, e)| Error::user(code, e))?;
        let n = limit.map_or(set.len(), |l| l.min(set.len()));
        if n == 0 {
            return Err(Error::user(Code::DataShape, "no samples to evaluate"));
        }
        Ok(Data { dir, set, n })
    }
}

/// Samples `first..first + labels.len()` as an engine takes them: `inputs[i]`
/// holds the values of the graph's `i`-th input, sample after sample.
pub struct Samples<'a> {
    pub inputs: Vec<&'a [f32]>,
    pub labels: &'a [u32],
    /// The index of the first sample in the dataset (dynamic draws are keyed by it).
    pub first: usize,
}

impl<'a> Samples<'a> {
    /// Samples `range` of a dataset.
    pub fn of(data: &'a Dataset, range: Range<usize>) -> Samples<'a> {
        Samples { inputs: vec![data.samples(range.clone())], labels: &data.labels[range.clone()], first: range.start }
    }
}

/// The training split of the dataset `arg` names (or the model's own), for
/// `train`: its folder and samples, checked against the model.
pub fn open_training(model: &Model, arg: Option<&str>) -> Result<(PathBuf, Dataset)> {
    let dir = locate(arg, model.data(), model.file()).map_err(|e| Error::user(Code::DataUnreadable, e))?;
    let set = Dataset::open_split(&dir, Split::Train).map_err(|e| Error::user(Code::DataUnreadable, e))?;
    fits(model.graph(), &set).map_err(|(code, e)| Error::user(code, e))?;
    Ok((dir, set))
}

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
    let NodeKind::Input { dtype, shape, .. } = &input.kind else { unreachable!("filtered to inputs above") };
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
