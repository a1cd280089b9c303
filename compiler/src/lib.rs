//! analogc: a compiler for neural networks together with the analog or
//! approximate hardware they run on.
//!
//! The pipeline, one stage per module: [`source`] text → [`syntax`] tree →
//! [`check`]ed model → [`lower`]ed graph IR (`analog_runtime::ir`) →
//! [`passes`] → the reference interpreter or the Cranelift [`jit`], behind one
//! [`engine`]. Diagnostics ([`diag`]) are data collected by every stage and
//! rendered by the caller.
//!
//! The library API, the one door for every client (the CLI in [`cli`], the
//! Python package, tests, your own code):
//! - [`Model::load`] a model file with `--set`-style overrides: checked, lowered, optimized;
//! - [`Model::engine`] compiles it for a [`Backend`]; [`infer::run`] runs inputs through it;
//! - [`evaluate()`] accuracy over a [`Data`]set with Monte-Carlo trials;
//! - [`sweep()`] Walking Noise or any annotation over a grid, [`sweep::merge`] shards;
//! - [`analysis`]: per-layer reports, calibration, the AME fit;
//! - [`bench()`] speed;
//! - [`denoise::denoise`] blocks placed by sensitivity within a parameter budget, written as a model to train;
//! - [`train::train`] weights with the hardware in the loop; [`training`] runs it as the `train` command does;
//! - [`import::import_onnx`] an ONNX network as a model file and its weights.
//!
//! Results are typed (serde); errors are [`Error`]s; progress and
//! cancellation are the caller's ([`control`]). No library code prints, exits
//! or reads a global. See `docs/architecture.md`.

pub mod analysis;
pub mod bench;
pub mod check;
pub mod cli;
pub mod control;
pub mod data;
pub mod denoise;
pub mod diag;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod files;
pub mod hoist;
pub mod import;
pub mod infer;
pub mod jit;
pub mod json;
pub mod limits;
pub mod lower;
pub mod model;
pub mod passes;
pub mod source;
pub mod stdlib;
pub mod sweep;
pub mod syntax;
pub mod train;
pub mod training;
pub mod words;

pub use bench::bench;
pub use control::{Cancel, Control, Progress};
pub use data::Data;
pub use engine::{Backend, Engine};
pub use error::{Error, Result};
pub use evaluate::{evaluate, EvalOptions, EvalReport};
pub use jit::Kernels;
pub use model::{Exec, Model};
pub use sweep::{sweep, SweepOptions, SweepResult};
