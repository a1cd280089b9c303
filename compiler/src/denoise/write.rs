//! The folder `analogc denoise --out DIR` writes: the model file with its
//! blocks inserted (and its relative paths moved to reach the same files from
//! DIR), and its weights: every tensor of the original file, unchanged, plus
//! the blocks', initialized as identity blocks.

use super::insert::{self, NewBlock};
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::files::{write_atomic, Lock};
use crate::model::Model;
use crate::train::init::initialize;
use crate::train::output::model_copy;
use crate::train::output::{file_names, model_dir, read_original, refuse_replacing, safetensors_file, Stored};
use crate::train::{Init, Weights};
use analog_runtime::ir::Op;
use analog_runtime::tensor::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What was written.
pub struct Written {
    pub model_file: PathBuf,
    pub weights_file: PathBuf,
}

fn unwritable(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::user(Code::OutputUnwritable, format!("cannot write `{}`: {e}", path.display()))
}

/// Writes `model` with `blocks` into the folder `out` (created if need be;
/// held while it is written). A block's `down` is drawn He normal with `seed`
/// (as `train --init kaiming` draws it), its `up` is zero, so the written
/// model computes what `model` computes.
pub fn write(model: &Model, new: &[NewBlock], out: &Path, seed: u64) -> Result<Written> {
    refuse(model, out)?;
    let lock = Lock::take(out)?;
    let dir = std::fs::canonicalize(lock.dir()).map_err(|e| unwritable(out, e))?;
    let (name, stem) = file_names(model);
    let (model_file, weights_file) = (dir.join(&name), dir.join(format!("{stem}.safetensors")));
    let original = original(model)?;
    let inserted = insert::insert(model.source_text(), new);
    let from = model_dir(model).map_err(|e| unwritable(out, e))?;
    let text = model_copy::text(&inserted, &from, &dir, &format!("{stem}.safetensors"));

    // The blocks' tensors are zero until the written model, loaded, says
    // where its nodes are: their draws are keyed by the node.
    let graph = model.graph();
    let zero: Weights = new
        .iter()
        .flat_map(|b| {
            let node = graph.nodes.iter().find(|n| n.name == b.after).expect("a layer of the model");
            let op = Op::Denoise { hidden: b.hidden, kernel: 3 };
            op.param_shapes(&node.shape).into_iter().map(move |p| {
                let n = p.shape.iter().product();
                (format!("{}.{}", b.name, p.role), Tensor::new(p.shape, vec![0.0; n]))
            })
        })
        .collect();
    let weights_bytes = |w: &Weights| safetensors_file(w, &original, HashMap::new());
    write_atomic(&weights_file, &weights_bytes(&zero)?).map_err(|e| unwritable(&weights_file, e))?;
    write_atomic(&model_file, text.as_bytes()).map_err(|e| unwritable(&model_file, e))?;

    // Checked as the model was, but with the copy's own weights file.
    let options = crate::check::Options { weights: None, ..model.check_options().clone() };
    let written = Model::load_unoptimized(&model_file, &[], options)
        .map_err(|e| Error::Internal(format!("the model written to `{}` does not load: {e}", model_file.display())))?;
    let mut g = written.graph().clone();
    let is_block: Vec<bool> = g.nodes.iter().map(|n| new.iter().any(|b| b.name == n.name)).collect();
    initialize(&mut g, Init::Kaiming, seed, &is_block);
    let initialized: Weights = g
        .nodes
        .iter()
        .zip(&is_block)
        .filter(|(_, b)| **b)
        .flat_map(|(n, _)| n.params.iter().map(|p| (p.name.clone(), p.value.clone())))
        .collect();
    write_atomic(&weights_file, &weights_bytes(&initialized)?).map_err(|e| unwritable(&weights_file, e))?;
    Ok(Written { model_file, weights_file })
}

/// E1101 if the files `write` would write into `out` are the model file or
/// its weights file.
pub fn refuse(model: &Model, out: &Path) -> Result<()> {
    let Ok(dir) = std::fs::canonicalize(out) else { return Ok(()) };
    let (name, stem) = file_names(model);
    refuse_replacing(model, out, &dir.join(name), &dir.join(format!("{stem}.safetensors")), Code::BadDenoiseOption)
}

fn original(model: &Model) -> Result<Vec<Stored>> {
    match model.weights_file() {
        Some(path) => read_original(path),
        None => Ok(vec![]),
    }
}

/// Each block's name: `<layer>_denoise`, numbered (`_denoise2`, …) when the
/// model already has a name of that form or its weights file a tensor under it.
pub fn named(model: &Model, blocks: &[(String, usize)]) -> Result<Vec<NewBlock>> {
    let original = original(model)?;
    let mut taken = insert::names(model.source_text());
    let in_file = |name: &str| original.iter().any(|s| s.name.starts_with(&format!("{name}.")));
    let mut new = vec![];
    for (after, hidden) in blocks {
        let base = format!("{after}_denoise");
        let name = (1..)
            .map(|k| if k == 1 { base.clone() } else { format!("{base}{k}") })
            .find(|n| !taken.contains(n) && !in_file(n))
            .expect("a free name");
        taken.push(name.clone());
        new.push(NewBlock { name, after: after.clone(), hidden: *hidden });
    }
    Ok(new)
}
