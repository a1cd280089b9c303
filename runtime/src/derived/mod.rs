//! The constants both backends derive from a node's hardware and shape: the
//! reference interpreter evaluates its formulas with them, the JIT turns them
//! into immediates. Each is one f32 (or integer) expression, computed here
//! once for both, so the backends cannot drift apart on a level count, a
//! range or a window size (`docs/language.md` §6 defines them).
//!
//! - [`format`]: int8 input scales and zero points, the ABFP output step,
//!   analog_int input and ADC ranges, accumulation bounds (the quantizers
//!   themselves, levels and codes, are [`crate::quant`]'s);
//! - [`noise`]: which output noise is on, its σ, where its draws are keyed;
//! - [`window`]: sliding windows (pooling, convolutions), preprocessing and
//!   batch-norm constants.

pub mod format;
pub mod noise;
pub mod window;
