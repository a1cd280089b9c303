//! The reference reverse-mode rule of every op: plain loops over slices, f32
//! in and out like the forward (`interp::ops`, `interp::mac`), written to be
//! read and checked (`runtime/tests/train_gradcheck.rs` compares each with
//! central finite differences), not to be fast.
//!
//! # Conventions
//!
//! - A rule works on a whole batch: every tensor is `[batch][sample…]`
//!   row-major, a sample laid out as in the forward (`[n]` or `[c, h, w]`;
//!   dense weights `[out, in]`, conv2d weights `[out, in/groups, kh, kw]`).
//! - A rule takes what its forward saved (its input, its output, or both) and
//!   the gradient of the loss with respect to its output, `dy`, and returns the
//!   gradients with respect to its input and its parameters.
//! - A MAC layer takes the weights its forward multiplied by: with weight noise
//!   those are the noisy weights, and their gradient goes to the clean ones.
//! - Every sum runs in a fixed order written in the loops (the batch index
//!   outermost for parameter gradients), so a gradient is the same bits
//!   whatever computes the other elements, and for any thread count. Sums over
//!   the batch of a parameter gradient are f32 like the forward's sums;
//!   batchnorm's per-channel sums (its statistics, `Σ dy`, `Σ dy·x̂`) are f64.
//! - Flatten and reshape move no value: their rule is the identity on the
//!   row-major buffer ([`elementwise::flatten`]).
//!
//! `docs/language.md` ("Backward rules") states each rule as a formula.

pub mod batchnorm;
pub mod denoise;
pub mod elementwise;
pub mod mac;
pub mod pool;

/// Output size of a sliding window along one axis with `[before, after]` padding:
/// `⌊(size + before + after − kernel) / stride⌋ + 1`.
fn window(size: usize, kernel: usize, stride: usize, padding: [usize; 2]) -> usize {
    (size + padding[0] + padding[1] - kernel) / stride + 1
}

/// Along one axis, the input index that tap `u` of output `i` reads, `None`
/// in the padding (`before`: the padding before the input).
fn tap(i: usize, u: usize, stride: usize, before: usize, size: usize) -> Option<usize> {
    (i * stride + u).checked_sub(before).filter(|r| *r < size)
}
