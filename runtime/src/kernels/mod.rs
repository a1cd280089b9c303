//! Host kernels: vectorized loops with the interpreter's bits, shared by
//! the JIT (which calls them from compiled code) and training's fast path.

pub mod conv;
pub mod dot;
pub(crate) mod fma;
pub mod gemm;
pub(crate) mod lanes;
pub mod peak;
pub mod transpose;
pub(crate) mod wide;
