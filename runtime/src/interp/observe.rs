//! Watching the interpreter work: [`Interpreter::run_observed`] calls an
//! [`Observer`] with the values a run produces, so an analysis (calibration:
//! activation ranges, ADC clipping, multiplier operand histograms) sees exactly
//! what the reference semantics compute, without a second implementation.
//!
//! Every method has an empty default. [`Interpreter::run`] passes [`Ignore`];
//! the interpreter is generic over the observer, so those calls compile to
//! nothing and `run` costs what it did without them.
//!
//! [`Interpreter::run_observed`]: super::Interpreter::run_observed
//! [`Interpreter::run`]: super::Interpreter::run

use crate::ir::NodeId;

pub trait Observer {
    /// Whether to call [`operands`](Self::operands): the interpreter then
    /// quantizes each input a second time, outside its product loop, which
    /// stays as fast as without an observer.
    fn wants_operands(&self) -> bool {
        true
    }

    /// The output of node `id` for the current sample, after its output noise
    /// (and after averaging, with `repeat`).
    fn node(&mut self, _id: NodeId, _y: &[f32]) {}

    /// The output of node `id` for the current sample before its output noise,
    /// once per repeat (`repeat = R` computes it `R` times).
    fn clean(&mut self, _id: NodeId, _y: &[f32]) {}

    /// One ABFP ADC conversion of node `id`: its input `v = (G/n)·p + ν·δ_out`
    /// before quantization (docs/language.md §6.3); `|v| > 1` clips.
    fn adc(&mut self, _id: NodeId, _v: f32) {}

    /// One int8 product of node `id`: the operand codes `(x_q, w_q)` as the
    /// multiplier `M(x_q, w_q)` sees them (raw codes, before zero-point
    /// corrections, when unsigned).
    fn operands(&mut self, _id: NodeId, _x: i32, _w: i32) {}
}

/// The observer that watches nothing.
pub struct Ignore;

impl Observer for Ignore {
    fn wants_operands(&self) -> bool {
        false
    }
}
