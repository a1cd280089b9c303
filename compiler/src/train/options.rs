//! What makes [`TrainOptions`] usable: counts in their ranges (E0020),
//! rates and factors finite and of the right sign (E1001), and an
//! initialization the model allows.

use super::{Init, TrainOptions};
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::limits;
use crate::model::Model;
use analog_runtime::train::optim::Optimizer;
use analog_runtime::train::schedule::Schedule;

/// Passes over the training samples per run.
pub const MAX_EPOCHS: u64 = 10_000;

fn bad(message: String) -> Result<()> {
    Err(Error::user(Code::BadTrainOption, message))
}

/// `value` is finite and above zero (`strict`) or at least zero.
fn sign_ok(value: f64, strict: bool) -> bool {
    value.is_finite() && if strict { value > 0.0 } else { value >= 0.0 }
}

impl TrainOptions {
    /// Checks the options on their own (before any model is read).
    pub fn check(&self) -> Result<()> {
        limits::count("epochs", self.epochs.into(), MAX_EPOCHS)?;
        limits::batch(self.batch)?;
        limits::threads(self.threads)?;
        if !sign_ok(self.lr, true) {
            return bad(format!("`--lr {}`: the learning rate must be a positive number", self.lr));
        }
        match self.optimizer {
            Optimizer::Sgd { momentum, nesterov, weight_decay } => {
                if !sign_ok(momentum, false) {
                    return bad(format!("`--momentum {momentum}`: momentum must be a number ≥ 0"));
                }
                if nesterov && momentum == 0.0 {
                    return bad("`--nesterov` needs a momentum: give `--momentum M` with M > 0".into());
                }
                self.check_decay(weight_decay)?;
            }
            Optimizer::Adam { beta1, beta2, eps, weight_decay }
            | Optimizer::AdamW { beta1, beta2, eps, weight_decay } => {
                if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2)) {
                    return bad(format!("Adam's betas ({beta1}, {beta2}) must be in [0, 1)"));
                }
                if !sign_ok(eps, true) {
                    return bad(format!("Adam's eps {eps} must be a positive number"));
                }
                self.check_decay(weight_decay)?;
            }
        }
        if let Schedule::Step { factor, period } = self.schedule {
            limits::count("step-every", period, u64::from(u32::MAX))?;
            if !sign_ok(factor, true) {
                return bad(format!("`--step-factor {factor}`: the factor must be a positive number"));
            }
        }
        if let Some(clip) = self.clip.filter(|c| !sign_ok(*c, true)) {
            return bad(format!("`--clip {clip}`: the gradient norm bound must be a positive number"));
        }
        if self.val == 0 {
            return bad("`--val 0`: validation needs at least one held-out sample".into());
        }
        if self.limit == Some(0) {
            return bad("`--limit 0`: training needs at least one sample".into());
        }
        Ok(())
    }

    fn check_decay(&self, weight_decay: f64) -> Result<()> {
        if sign_ok(weight_decay, false) {
            return Ok(());
        }
        bad(format!("`--weight-decay {weight_decay}`: the weight decay must be a number ≥ 0"))
    }

    /// Checks the options against the model: `Init::Keep` needs weights to keep.
    pub fn check_model(&self, model: &Model) -> Result<()> {
        if self.init == Init::Keep && !model.has_weights_file() {
            return bad(format!(
                "`--init keep`: `{}` names no weights file, so there are no weights to keep; \
                 start from `--init kaiming` or `--init xavier`",
                model.file().display()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(options: TrainOptions) -> Option<&'static str> {
        options.check().err().map(|e| e.diagnostics()[0].code.as_str())
    }

    #[test]
    fn the_defaults_are_usable() {
        assert_eq!(code(TrainOptions::default()), None);
    }

    #[test]
    fn counts_are_e0020_and_rates_e1001() {
        let d = TrainOptions::default;
        assert_eq!(code(TrainOptions { epochs: 0, ..d() }), Some("E0020"));
        assert_eq!(code(TrainOptions { epochs: 10_001, ..d() }), Some("E0020"));
        assert_eq!(code(TrainOptions { batch: 0, ..d() }), Some("E0020"));
        assert_eq!(code(TrainOptions { schedule: Schedule::Step { factor: 0.5, period: 0 }, ..d() }), Some("E0020"));
        for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(code(TrainOptions { lr, ..d() }), Some("E1001"), "lr {lr}");
        }
        let sgd = |momentum, nesterov, weight_decay| Optimizer::Sgd { momentum, nesterov, weight_decay };
        assert_eq!(code(TrainOptions { optimizer: sgd(-0.1, false, 0.0), ..d() }), Some("E1001"));
        assert_eq!(code(TrainOptions { optimizer: sgd(0.0, true, 0.0), ..d() }), Some("E1001"));
        assert_eq!(code(TrainOptions { optimizer: sgd(0.9, true, f64::NAN), ..d() }), Some("E1001"));
        assert_eq!(code(TrainOptions { optimizer: sgd(0.9, true, 1e-4), ..d() }), None);
        assert_eq!(code(TrainOptions { clip: Some(0.0), ..d() }), Some("E1001"));
        assert_eq!(code(TrainOptions { schedule: Schedule::Step { factor: -1.0, period: 5 }, ..d() }), Some("E1001"));
        assert_eq!(code(TrainOptions { val: 0, ..d() }), Some("E1001"));
        assert_eq!(code(TrainOptions { limit: Some(0), ..d() }), Some("E1001"));
    }
}
