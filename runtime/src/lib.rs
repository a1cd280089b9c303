//! The runtime of analogc: what a compiled model is and how it computes,
//! without the compiler's front end. The compiler lowers a model file to an
//! [`ir::Graph`]; everything that runs one lives here, so any backend and any
//! client can link it alone.
//!
//! - [`ir`]: the graph IR (nodes with shapes, effective hardware and weights),
//!   its printer and its verifier (the IR's invariants).
//! - [`interp`]: the reference interpreter, the definition of what a graph
//!   computes; the JIT must agree with it bit for bit.
//! - [`rng`]: the counter-based generator every random draw comes from.
//! - [`quant`]: quantization shared by the passes and every backend.
//! - [`multiplier`], [`product_table`]: approximate 8-bit multipliers, closed
//!   form or as 256×256 tables.
//! - [`kernels`]: host kernels with the interpreter's bits (the FP32 GEMM),
//!   called by the JIT's compiled code and by training's fast path.
//! - [`train`]: the training engine: the batch forward with its tape, the
//!   backward rules of every op and effect, the loss, the optimizers and
//!   learning-rate schedules, the trainer that steps them.
//! - [`weights`], [`dataset`], [`npy`], [`tensor`]: safetensors weights,
//!   datasets (training and test splits, the epoch order), `.npy` arrays and
//!   the tensor type.

pub mod dataset;
pub mod derived;
pub mod files;
pub mod interp;
pub mod ir;
pub mod kernels;
pub mod multiplier;
pub mod npy;
pub mod product_table;
pub mod quant;
pub mod rng;
pub mod tensor;
pub mod train;
pub mod weights;
