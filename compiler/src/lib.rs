//! analogc: a compiler for neural networks together with the analog or
//! approximate hardware they run on.
//!
//! The pipeline, one stage per module: [`source`] text → [`syntax`] tree →
//! [`check`]ed model. Diagnostics ([`diag`]) are data collected by every stage
//! and rendered once. See `docs/architecture.md`.

pub mod check;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod jit;
pub mod lower;
pub mod passes;
pub mod source;
pub mod syntax;
