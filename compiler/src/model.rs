//! A model file loaded through the whole front end: checked (with `--set`
//! overrides), lowered to the graph IR and optimized by the pass pipeline.
//! The door every client starts from.

use crate::check::{self, FrontEnd};
use crate::diag::{Code, Diagnostic};
use crate::engine::{Backend, Engine, EngineError};
use crate::error::{Error, Result};
use crate::jit::Kernels;
use crate::lower::{self, Lowered};
use crate::passes;
use crate::source::{FsLoader, SourceMap};
use analog_runtime::ir::Graph;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A checked, lowered model; optimized unless loaded with [`Model::load_unoptimized`].
pub struct Model {
    file: PathBuf,
    settings: Vec<String>,
    front: FrontEnd,
    lowered: Lowered,
    optimized: bool,
    /// What the front end checked (its `data` folder, the size limits).
    options: check::Options,
    /// The passes run and how many changes each made (none when unoptimized).
    passes_run: Vec<(&'static str, usize)>,
    /// Weights and tables read once, shared by every model loaded from this one.
    loader: Arc<FsLoader>,
}

impl Model {
    /// Loads `file` with `settings` (`--set` overrides, `PATH=VALUE`), checks
    /// it, lowers it and runs the pass pipeline.
    pub fn load(file: impl AsRef<Path>, settings: &[String]) -> Result<Model> {
        Model::load_checked(file, settings, check::Options::default())
    }

    /// As [`Model::load`], with the front end's [`check::Options`]: not
    /// checking the model's own `data` (a command that reads another dataset),
    /// or other size limits.
    pub fn load_checked(file: impl AsRef<Path>, settings: &[String], options: check::Options) -> Result<Model> {
        Model::load_with(file.as_ref(), settings, Arc::default(), true, options)
    }

    /// As [`Model::load`], without the passes (the graph as lowered).
    pub fn load_unoptimized(file: impl AsRef<Path>, settings: &[String], options: check::Options) -> Result<Model> {
        Model::load_with(file.as_ref(), settings, Arc::default(), false, options)
    }

    /// The same file loaded again with `extra` overrides after this model's own
    /// (weights and tables are not read again).
    pub fn with_settings(&self, extra: &[String]) -> Result<Model> {
        let settings: Vec<String> = self.settings.iter().chain(extra).cloned().collect();
        Model::load_with(&self.file, &settings, self.loader.clone(), self.optimized, self.options.clone())
    }

    /// The same model as lowered, without the passes (training needs every
    /// tensor where the file puts it: no batchnorm folded into a layer).
    pub fn unoptimized(&self) -> Result<Model> {
        Model::load_with(&self.file, &self.settings, self.loader.clone(), false, self.options.clone())
    }

    fn load_with(
        file: &Path,
        settings: &[String],
        loader: Arc<FsLoader>,
        optimize: bool,
        options: check::Options,
    ) -> Result<Model> {
        let front = check::check_file_for(file, &*loader, settings, options.clone());
        if front.diags.has_errors() {
            return Err(Error::User { sources: Box::new(front.map), diagnostics: front.diags.list });
        }
        let Some(checked) = &front.model else {
            let d = Diagnostic::error(Code::NoModel, format!("`{}` defines no model", file.display()))
                .note("a profile library can be checked, but there is nothing to compile");
            let mut diagnostics = front.diags.list;
            diagnostics.push(d);
            return Err(Error::User { sources: Box::new(front.map), diagnostics });
        };
        let mut lowered = match lower::lower(checked, &*loader) {
            Ok(l) => l,
            Err(d) => {
                let mut diagnostics = front.diags.list;
                diagnostics.push(*d);
                return Err(Error::User { sources: Box::new(front.map), diagnostics });
            }
        };
        let passes_run = if optimize { passes::run_pipeline(&mut lowered) } else { vec![] };
        Ok(Model {
            file: file.to_path_buf(),
            settings: settings.to_vec(),
            front,
            lowered,
            optimized: optimize,
            options,
            passes_run,
            loader,
        })
    }

    /// What the front end checked it with.
    pub fn check_options(&self) -> &check::Options {
        &self.options
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.lowered.graph.name
    }

    /// The file it was loaded from, as given.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The `--set` overrides it was loaded with.
    pub fn settings(&self) -> &[String] {
        &self.settings
    }

    pub fn graph(&self) -> &Graph {
        &self.lowered.graph
    }

    /// The passes run, with how many changes each made.
    pub fn passes_run(&self) -> &[(&'static str, usize)] {
        &self.passes_run
    }

    /// The front end's warnings (the model loaded, so there is no error).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.front.diags.list
    }

    /// The source files read, for rendering [`Model::warnings`].
    pub fn sources(&self) -> &SourceMap {
        &self.front.map
    }

    /// The `data` folder the model names, if any (resolved against its file).
    pub fn data(&self) -> Option<&Path> {
        self.front.model.as_ref().and_then(|m| m.data.as_deref())
    }

    /// The weights file the model names, if any (resolved against its file).
    pub fn weights_file(&self) -> Option<&Path> {
        self.front.model.as_ref().and_then(|m| m.weights.as_deref())
    }

    /// Whether the model names a weights file (a model checked as
    /// [`untrained`](check::Options::untrained) may not: its weights are zero).
    pub fn has_weights_file(&self) -> bool {
        self.weights_file().is_some()
    }

    /// The layers that have weights (dense, conv2d, batchnorm, denoise), in the
    /// order the file writes them; the passes do not change this list.
    pub fn layers_with_weights(&self) -> Vec<&str> {
        let layers = self.front.model.iter().flat_map(|m| &m.layers);
        layers.filter(|l| !l.tensors.is_empty()).map(|l| l.name.as_str()).collect()
    }

    /// The text of the model file as it was checked (before `--set` overrides).
    pub fn source_text(&self) -> &str {
        // The front end reads the model file first: it is file 0 of the map.
        &self.front.map.get(crate::source::FileId(0)).text
    }

    /// The number of classes: elements of the first output.
    pub fn classes(&self) -> usize {
        let g = self.graph();
        g.node(g.outputs[0].1).shape.iter().product()
    }

    /// The model's graph compiled for a backend.
    pub fn engine(&self, backend: Backend, kernels: Kernels) -> Result<Engine<'_>> {
        engine_for(self.graph(), backend, kernels)
    }
}

/// An engine for any graph (a variant of a model's: without noise, ideal…).
pub fn engine_for(graph: &Graph, backend: Backend, kernels: Kernels) -> Result<Engine<'_>> {
    Engine::new(graph, backend, kernels).map_err(|e| match e {
        EngineError::Table(msg) => Error::user(Code::BadTable, msg),
        // Every op has a JIT path, so this is a bug of ours, not of the model.
        EngineError::Jit(msg) => {
            Error::Internal(format!("the JIT could not compile this model: {msg} (`--backend interp` runs it)"))
        }
    })
}

/// How commands that execute a model run it. Results never depend on
/// `threads`, `backend`, `kernels` or `hoist`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// The seed of every random draw.
    pub seed: u64,
    pub threads: usize,
    pub backend: Backend,
    pub kernels: Kernels,
    /// Trials and sweeps compute the part of the network before its first
    /// random draw once per sample (`hoist`), instead of for every chip.
    pub hoist: bool,
}

impl Default for Exec {
    fn default() -> Self {
        Exec { seed: 0, threads: default_threads(), backend: Backend::Jit, kernels: Kernels::Native, hoist: true }
    }
}

impl Exec {
    pub fn check(&self) -> Result<()> {
        crate::limits::threads(self.threads)
    }
}

/// One thread per core (within [`limits::MAX_THREADS`](crate::limits::MAX_THREADS)).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(crate::limits::MAX_THREADS as usize)
}
