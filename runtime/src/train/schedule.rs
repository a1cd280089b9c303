//! Learning-rate schedules: the learning rate of update `t` (counted from 0 in
//! optimizer steps) of a run of `total` updates, from the base rate. They are
//! PyTorch's `ConstantLR` (factor 1), `CosineAnnealingLR` (`eta_min = 0`,
//! `T_max = total`) and `StepLR`, stepped once per update.

use std::f64::consts::PI;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `lr_t = lr`.
    Constant,
    /// `lr_t = lr·(1 + cos(π·t / total)) / 2`: from `lr` at the first update
    /// towards 0 at the end of the run.
    Cosine,
    /// `lr_t = lr·factor^⌊t / period⌋`: multiplied by `factor` every `period`
    /// updates.
    Step { factor: f64, period: u64 },
}

impl Schedule {
    /// The learning rate of update `t` of `total`, from the base rate `lr`
    /// (`total ≥ 1`, `period ≥ 1`).
    pub fn lr(&self, lr: f64, t: u64, total: u64) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Cosine => lr * (1.0 + (PI * t as f64 / total as f64).cos()) / 2.0,
            Schedule::Step { factor, period } => lr * factor.powf((t / period) as f64),
        }
    }
}
