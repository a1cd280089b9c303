//! A run's results as text: one line per epoch (printed as epochs finish) and
//! the summary of a finished run.

use super::dnf::DnfReport;
use super::{EpochRecord, TrainReport};
use crate::analysis::layer_error::LayerError;
use crate::words::count;

fn pct(a: f64) -> String {
    format!("{:.2}%", 100.0 * a)
}

impl EpochRecord {
    /// `epoch 3: loss 0.1234, train 96.10%, val 97.02% clean, 96.50% hardware, lr 0.001, 4.2 s, 13095 samples/s`
    pub fn line(&self) -> String {
        format!(
            "epoch {}: loss {:.4}, train {}, val {} clean, {} hardware, lr {}, {:.1} s, {:.0} samples/s\n",
            self.epoch,
            self.loss,
            pct(self.train_accuracy),
            pct(self.val_accuracy_clean),
            pct(self.val_accuracy_hardware),
            significant(self.lr),
            self.seconds,
            self.samples_per_second
        )
    }
}

impl TrainReport {
    /// The summary: what trained on what, and where the last epoch ended.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} on {} ({} training + {} validation samples), init {}, seed {}, batch {}, {}\n",
            self.model,
            self.data,
            self.train_samples,
            self.val_samples,
            match self.init {
                super::Init::Keep => "keep",
                super::Init::Kaiming => "kaiming",
                super::Init::Xavier => "xavier",
            },
            self.seed,
            self.batch,
            self.backend
        );
        out.push_str(&format!(
            "  trained {}: {}\n",
            self.trained.join(", "),
            count(self.parameters as u64, "parameter")
        ));
        if let Some(dnf) = &self.dnf {
            out.push_str(&dnf.text());
        }
        if let Some(last) = self.epochs.last() {
            out.push_str(&format!(
                "  after {}: loss {:.4}, train {}, validation {} clean, {} with the hardware\n",
                count(last.epoch, "epoch"),
                last.loss,
                pct(last.train_accuracy),
                pct(last.val_accuracy_clean),
                pct(last.val_accuracy_hardware)
            ));
        }
        let ends = self.epochs.first().zip(self.epochs.last()).filter(|(_, last)| !last.layers.is_empty());
        if let Some((first, last)) = ends {
            out.push_str(&format!(
                "  per layer, epoch {} → {}: weight norm (Frobenius), activation RMS (before its noise)\n",
                first.epoch, last.epoch
            ));
            for (a, b) in first.layers.iter().zip(&last.layers) {
                out.push_str(&format!(
                    "    {}: {} → {}, {} → {}\n",
                    a.layer,
                    significant(a.weight_norm),
                    significant(b.weight_norm),
                    significant(a.activation_rms),
                    significant(b.activation_rms)
                ));
            }
        }
        out.push_str(&format!("  {:.1} s\n", self.seconds));
        out
    }
}

impl DnfReport {
    /// What was measured: per layer the error's σ and mean at the first
    /// measurement and, when refreshed, at the last.
    pub fn text(&self) -> String {
        let (Some(first), Some(last)) = (self.measurements.first(), self.measurements.last()) else {
            return String::new();
        };
        let epochs: Vec<String> = self.measurements.iter().map(|m| m.epoch.to_string()).collect();
        let mut out = format!(
            "  DNF: hardware error (y_hardware - y_fp32) measured on {} before {} {} ({:.1} s)\n",
            count(self.samples as u64, "training sample"),
            if epochs.len() == 1 { "epoch" } else { "epochs" },
            epochs.join(", "),
            self.seconds
        );
        for (i, layer) in first.layers.iter().enumerate() {
            let at = |e: &LayerError| format!("σ {}, mean {}", significant(e.std), significant(e.mean));
            out.push_str(&format!("    {}: {}", layer.layer, at(layer)));
            if self.measurements.len() > 1 {
                out.push_str(&format!(" → epoch {}: {}", last.epoch, at(&last.layers[i])));
            }
            out.push_str(&format!(" (output rms {})\n", significant(layer.output_rms)));
        }
        out
    }
}

/// `v` to 4 significant digits, without trailing zeros: 0.000904580058 → `0.0009046`.
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let decimals = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Init, LayerRecord};
    use super::*;

    fn record(epoch: u32) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: 0.123456,
            train_accuracy: 0.9612,
            val_accuracy_clean: 0.97,
            val_accuracy_hardware: 0.965,
            lr: 0.001,
            seconds: 4.21,
            samples_per_second: 13095.2,
            layers: vec![],
        }
    }

    #[test]
    fn rates_keep_four_significant_digits() {
        assert_eq!(significant(0.000904580058130443), "0.0009046");
        assert_eq!(significant(0.001), "0.001");
        assert_eq!(significant(0.05), "0.05");
        assert_eq!(significant(1234.5678), "1235");
    }

    #[test]
    fn an_epoch_is_one_line() {
        assert_eq!(
            record(3).line(),
            "epoch 3: loss 0.1235, train 96.12%, val 97.00% clean, 96.50% hardware, lr 0.001, 4.2 s, 13095 samples/s\n"
        );
    }

    fn report(epochs: Vec<EpochRecord>) -> TrainReport {
        TrainReport {
            model: "mnist_mlp".into(),
            data: "data/mnist".into(),
            train_samples: 55000,
            val_samples: 5000,
            trained: vec!["fc1".into(), "fc2".into()],
            parameters: 1234,
            init: Init::Kaiming,
            seed: 0,
            batch: 64,
            epochs,
            step_losses: vec![0.5, 0.25],
            seconds: 8.44,
            backend: "jit",
            dnf: None,
        }
    }

    #[test]
    fn the_summary_names_the_run_and_its_last_epoch() {
        assert_eq!(
            report(vec![record(1), record(2)]).text(),
            "mnist_mlp on data/mnist (55000 training + 5000 validation samples), init kaiming, seed 0, \
             batch 64, jit\n  trained fc1, fc2: 1234 parameters\n  after 2 epochs: loss 0.1235, train 96.12%, \
             validation 97.00% clean, 96.50% with the hardware\n  8.4 s\n"
        );
    }

    #[test]
    fn the_summary_gives_each_layers_growth_from_the_first_epoch_to_the_last() {
        let layer =
            |name: &str, weight_norm, activation_rms| LayerRecord { layer: name.into(), weight_norm, activation_rms };
        let first = EpochRecord { layers: vec![layer("fc1", 10.0, 0.5), layer("fc2", 4.0, 2.25)], ..record(1) };
        let last = EpochRecord { layers: vec![layer("fc1", 12.5, 0.875), layer("fc2", 4.0, 3.0)], ..record(2) };
        let text = report(vec![first, last]).text();
        assert!(
            text.contains(
                "  per layer, epoch 1 → 2: weight norm (Frobenius), activation RMS (before its noise)\n    \
                 fc1: 10 → 12.5, 0.5 → 0.875\n    fc2: 4 → 4, 2.25 → 3\n  8.4 s\n"
            ),
            "{text}"
        );
    }
}
