//! What makes [`TrainOptions`] usable: counts in their ranges (E0020),
//! rates and factors finite and of the right sign (E1001), and an
//! initialization the model allows.

use super::{Init, TrainOptions};
use crate::diag::{closest, Code, Diagnostic};
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
        if let Some(dnf) = self.dnf {
            limits::count("dnf-refresh", dnf.refresh.into(), MAX_EPOCHS)?;
        }
        Ok(())
    }

    fn check_decay(&self, weight_decay: f64) -> Result<()> {
        if sign_ok(weight_decay, false) {
            return Ok(());
        }
        bad(format!("`--weight-decay {weight_decay}`: the weight decay must be a number ≥ 0"))
    }

    /// Checks the options against the model: `Init::Keep` needs weights to
    /// keep, [`trained_layers`](Self::trained_layers) must be usable, and
    /// `dnf` needs layers to measure ([`dnf::check`](super::dnf::check)).
    pub fn check_model(&self, model: &Model) -> Result<()> {
        if self.init == Init::Keep && !model.has_weights_file() {
            return bad(format!(
                "`--init keep`: `{}` names no weights file, so there are no weights to keep; \
                 start from `--init kaiming` or `--init xavier`",
                model.file().display()
            ));
        }
        self.trained_layers(model)?;
        match self.dnf {
            Some(_) => super::dnf::check(model.graph()),
            None => Ok(()),
        }
    }

    /// The layers that learn, in the model's order: those `train` names (all
    /// with weights when it is empty) but not `freeze`. A name that is not a
    /// layer with weights is E1002; an empty result E1003.
    pub fn trained_layers(&self, model: &Model) -> Result<Vec<String>> {
        let layers = model.layers_with_weights();
        for (flag, names) in [("train", &self.train), ("freeze", &self.freeze)] {
            if let Some(name) = names.iter().find(|n| !layers.contains(&n.as_str())) {
                let mut d = Diagnostic::error(
                    Code::UnknownLayer,
                    format!("`--{flag} {}`: `{name}` is not a layer with weights", names.join(",")),
                );
                if let Some(near) = closest(name, layers.iter().copied()) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                let d = if layers.is_empty() {
                    d.note(format!("`{}` has no layer with weights", model.name()))
                } else {
                    d.note(format!("the layers with weights: {}", layers.join(", ")))
                };
                return Err(Error::User { sources: Box::default(), diagnostics: vec![d] });
            }
        }
        let chosen: Vec<String> = layers
            .iter()
            .filter(|l| self.train.is_empty() || self.train.iter().any(|t| t == *l))
            .filter(|l| !self.freeze.iter().any(|f| f == *l))
            .map(|l| l.to_string())
            .collect();
        if chosen.is_empty() {
            let why = if layers.is_empty() {
                format!("`{}` has no layer with weights", model.name())
            } else {
                format!("every layer with weights is frozen ({})", layers.join(", "))
            };
            return Err(Error::user(Code::NothingToTrain, format!("no layer is left to train: {why}")));
        }
        Ok(chosen)
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
