//! Hoisting: the part of a network before its first random draw computes the
//! same values for every chip and every grid point, so trials and sweeps
//! compute it once per sample and run only the rest ([`split`]) per trial.
//! The results are the bits of the whole graph: the suffix reads the values
//! the prefix computed, and every draw is keyed by its site or node uid and
//! the sample's index, none of which the cut changes.
//!
//! The prefix's values are held for one chunk of samples at a time, at most
//! [`CACHE_BYTES`] (a chunk is never smaller than one batch).

mod split;

pub use split::{split, Split};

use crate::control::Control;
use crate::data::Samples;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::{engine_for, Exec};
use analog_runtime::dataset::Dataset;
use analog_runtime::ir::{Graph, NodeKind};
use std::ops::Range;
use std::sync::Mutex;

/// How trials of `graph` run with `exec`: on the suffix of its split, or
/// whole (`None`) when not hoisting, or when the prefix only preprocesses
/// the inputs (caching that costs a pass and saves little: the README's
/// `eval`, noisy from its input on, ran 1.70 s whole and 1.93 s hoisted).
pub fn hoisted(graph: &Graph, exec: &Exec) -> Option<Split> {
    if !exec.hoist {
        return None;
    }
    let s = split(graph)?;
    s.prefix.nodes.iter().any(|n| matches!(n.kind, NodeKind::Op { .. })).then_some(s)
}

/// The most bytes of prefix values cached at once.
pub const CACHE_BYTES: usize = 64 << 20;

/// Samples per call of an engine when computing a prefix.
const BATCH: usize = 64;

/// The prefix of the graphs whose trials are run (the graph a group of grid
/// points shares), compiled; or none, and the trials run on the dataset.
pub struct Prefix<'g> {
    engine: Option<Engine<'g>>,
    /// Values per sample of each output of the prefix.
    sizes: Vec<usize>,
    exec: Exec,
    /// The most bytes of values a chunk holds ([`CACHE_BYTES`]).
    cache_bytes: usize,
}

impl<'g> Prefix<'g> {
    /// Compiles `split`'s prefix (none: the trials read the dataset).
    pub fn new(split: Option<&'g Split>, exec: &Exec) -> Result<Prefix<'g>> {
        let engine = split.map(|s| engine_for(&s.prefix, exec.backend, exec.kernels)).transpose()?;
        let sizes = split.map_or(vec![], |s| {
            s.prefix.outputs.iter().map(|(_, o)| s.prefix.node(*o).shape.iter().product()).collect()
        });
        Ok(Prefix { engine, sizes, exec: *exec, cache_bytes: CACHE_BYTES })
    }

    /// Samples `0..n` in chunks whose prefix values fit in the cache.
    pub fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        let bytes = 4 * self.sizes.iter().sum::<usize>();
        let len = match bytes {
            0 => n.max(1),
            _ => (self.cache_bytes / bytes / BATCH).max(1) * BATCH,
        };
        (0..n).step_by(len).map(|start| start..(start + len).min(n)).collect()
    }

    /// The inputs of the trials for samples `range` of `data`: the prefix's
    /// values, or the samples themselves. `None` when cancelled.
    pub fn inputs<'d>(&self, data: &'d Dataset, range: Range<usize>, control: Control) -> Option<Chunk<'d>> {
        let Some(engine) = &self.engine else { return Some(Chunk { data, range, values: None }) };
        let len = range.len();
        let mut values: Vec<Vec<f32>> = self.sizes.iter().map(|s| vec![0.0; len * s]).collect();
        {
            // Each batch's slice of every output, filled by whichever thread takes the batch.
            let mut parts: Vec<_> = values.iter_mut().zip(&self.sizes).map(|(v, s)| v.chunks_mut(BATCH * s)).collect();
            let batches: Vec<(usize, Vec<&mut [f32]>)> = (0..len.div_ceil(BATCH))
                .map(|b| (b * BATCH, parts.iter_mut().map(|p| p.next().expect("a part per batch")).collect()))
                .collect();
            let batches = Mutex::new(batches.into_iter());
            let chip = engine.chip(self.exec.seed, 0);
            std::thread::scope(|s| {
                for _ in 0..self.exec.threads.max(1) {
                    s.spawn(|| {
                        let mut ws = engine.workspace();
                        loop {
                            let next = batches.lock().expect("no thread panics holding it").next();
                            let Some((start, outs)) = next else { return };
                            if control.cancelled() {
                                return;
                            }
                            let (first, end) = (range.start + start, range.start + (start + BATCH).min(len));
                            let ys = engine.run(&chip, &mut ws, first as u32, &[data.samples(first..end)], end - first);
                            for (out, y) in outs.into_iter().zip(ys) {
                                out.copy_from_slice(&y);
                            }
                        }
                    });
                }
            });
        }
        (!control.cancelled()).then_some(Chunk { data, range, values: Some(values) })
    }
}

/// One chunk of samples as the trials read it.
pub struct Chunk<'d> {
    data: &'d Dataset,
    range: Range<usize>,
    /// The prefix's values, or none: the dataset's samples.
    values: Option<Vec<Vec<f32>>>,
}

impl Chunk<'_> {
    pub fn samples(&self) -> Samples<'_> {
        match &self.values {
            None => Samples::of(self.data, self.range.clone()),
            Some(values) => Samples {
                inputs: values.iter().map(|v| &v[..]).collect(),
                labels: &self.data.labels[self.range.clone()],
                first: self.range.start,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;
    use crate::evaluate::{correct, correct_on};
    use crate::model::Model;

    #[test]
    fn chunks_of_a_small_cache_count_what_the_whole_graph_counts() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let quiet = ["image", "fc1", "h1"].map(|n| format!("{n}.noise=none"));
        let model = Model::load(root.join("examples/mnist_mlp_walking.anl"), &quiet).unwrap();
        let data = Data::open(&model, None, Some(300)).unwrap();
        let exec = Exec { threads: 2, ..Exec::default() };
        let s = split(model.graph()).expect("fc2's op is the same for every chip");
        let mut prefix = Prefix::new(Some(&s), &exec).unwrap();
        // h1: 256 values per sample; two batches of them per chunk.
        prefix.cache_bytes = 2 * BATCH * 4 * 256;
        let chunks = prefix.chunks(data.n);
        assert_eq!(chunks, [0..128, 128..256, 256..300]);
        let (whole, suffix) = (
            model.engine(exec.backend, exec.kernels).unwrap(),
            engine_for(&s.suffix, exec.backend, exec.kernels).unwrap(),
        );
        for trial in 0..2 {
            let want = correct(&whole, &whole.chip(3, trial), &data.set, data.n, 2, 64, Control::none());
            let chip = suffix.chip(3, trial);
            let got = chunks.iter().map(|r| {
                let chunk = prefix.inputs(&data.set, r.clone(), Control::none()).unwrap();
                correct_on(&suffix, &chip, &chunk.samples(), 2, 64, Control::none()).unwrap()
            });
            assert_eq!(Some(got.sum::<usize>()), want);
        }
    }
}
