//! The backends behind one interface: the reference interpreter and the
//! Cranelift JIT. Every command that executes a model goes through this.

use crate::jit::{self, Kernels};
use analog_runtime::files;
use analog_runtime::interp::{Interpreter, Trial};
use analog_runtime::ir::Graph;
use std::path::Path;
use std::sync::Arc;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// Native code compiled by Cranelift.
    #[default]
    Jit,
    /// The reference interpreter (the definition; slow).
    Interp,
}

pub enum Engine<'g> {
    Interp(Interpreter<'g>),
    /// Shared, so that a caller can keep the compiled code and run it again.
    Jit(Arc<jit::Compiled>),
}

/// One simulated chip of an engine.
pub enum Chip {
    Interp(Trial),
    Jit(jit::Chip),
}

/// Why an engine could not be built.
pub enum EngineError {
    /// A multiplier table could not be read or parsed (a user error).
    Table(String),
    /// The JIT cannot compile the graph (an internal limitation).
    Jit(String),
}

impl Backend {
    /// As `--backend` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Jit => "jit",
            Backend::Interp => "interp",
        }
    }
}

impl<'g> Engine<'g> {
    pub fn new(graph: &'g Graph, backend: Backend, kernels: Kernels) -> Result<Self, EngineError> {
        let read = |p: &Path| files::read(p, files::TABLE);
        match backend {
            Backend::Interp => Interpreter::new(graph, read).map(Engine::Interp).map_err(EngineError::Table),
            Backend::Jit => {
                // Tables are read as the interpreter reads them, so a bad one is reported the same way.
                analog_runtime::interp::load_tables(graph, read).map_err(EngineError::Table)?;
                jit::compile(graph, kernels).map(|c| Engine::Jit(Arc::new(c))).map_err(EngineError::Jit)
            }
        }
    }

    pub fn chip(&self, seed: u64, trial: u32) -> Chip {
        match self {
            Engine::Interp(i) => Chip::Interp(i.trial(seed, trial)),
            Engine::Jit(c) => Chip::Jit(c.chip(seed, trial)),
        }
    }

    /// A thread's working memory (the JIT's buffers).
    pub fn workspace(&self) -> Workspace {
        match self {
            Engine::Interp(_) => Workspace(None),
            Engine::Jit(c) => Workspace(Some(c.workspace())),
        }
    }

    /// Runs samples `first..first + n`; `inputs[i]` holds the raw values of
    /// the graph's `i`-th input for those samples, one after another. Returns
    /// each output's values, sample after sample.
    ///
    /// # Panics
    /// If `chip` and `ws` were not made by this engine ([`Engine::chip`],
    /// [`Engine::workspace`]), or `inputs` do not hold `n` samples of each input.
    pub fn run(&self, chip: &Chip, ws: &mut Workspace, first: u32, inputs: &[&[f32]], n: usize) -> Vec<Vec<f32>> {
        match (self, chip, &mut ws.0) {
            (Engine::Jit(c), Chip::Jit(chip), Some(ws)) => c.run(chip, ws, first, inputs, n),
            (Engine::Interp(interp), Chip::Interp(trial), _) => {
                let mut outs: Vec<Vec<f32>> = vec![];
                for s in 0..n {
                    let sample: Vec<&[f32]> = inputs
                        .iter()
                        .map(|x| {
                            let size = x.len() / n;
                            &x[s * size..(s + 1) * size]
                        })
                        .collect();
                    let ys = interp.run(trial, first.wrapping_add(s as u32), &sample);
                    outs.resize(ys.len(), vec![]);
                    for (o, y) in outs.iter_mut().zip(ys) {
                        o.extend(y);
                    }
                }
                outs
            }
            _ => unreachable!("a chip and workspace of this engine"),
        }
    }
}

pub struct Workspace(Option<jit::Workspace>);
