//! The Cranelift backend: the optimized graph compiled into native kernels,
//! one function per layer and a driver that calls them in order, with every
//! shape, σ and hardware constant an immediate.
//!
//! Compiled code agrees with the reference interpreter bit for bit: every
//! dot product is summed in the interpreter's order (kernels vectorize across
//! outputs and samples, never within a sum), every draw comes from the same
//! counter-based generator, and transcendental functions are the host's libm,
//! as in the interpreter. `docs/architecture.md` describes the kernels.
//!
//! Each module uses only modules to its right: `layers` (layers compiled
//! alone, for training and measurement) → `build` (compile a graph) →
//! `driver`, `link`, `timing` → `dynamic` → `exec` → `mac` (its kernels over
//! `mac::geometry`), `ops` → `noise` (the epilogue) → `layer` →
//! `activation`, `rng` → `emit` (`Fx`) → `layout`, `module`, `host` (symbol
//! names). This file only declares them, defines `Kernels` (read at every
//! level) and re-exports the API.

mod activation;
mod build;
mod driver;
mod dynamic;
mod emit;
mod exec;
mod host;
mod layer;
mod layers;
pub mod layout;
mod link;
mod mac;
mod module;
mod noise;
mod ops;
mod rng;
mod timing;

pub use build::{clif, compile};
pub use exec::{Chip, Compiled, Workspace};
pub use layers::{alone, JitLayers};
pub use mac::mac_count;

/// Where the hot loops come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Cranelift code, calling precompiled Rust micro-kernels (with run-time
    /// CPU-feature dispatch) for the FP32 GEMM and the Gaussian generator.
    #[default]
    Native,
    /// Cranelift code only (slower; the same results).
    Cranelift,
}
