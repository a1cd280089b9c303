//! The table `analogc fit-ame` prints.

use super::fit_ame::FitAmeReport;
use crate::words::count;

/// A finite value, or `None` (what the `--json` report holds as null).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl FitAmeReport {
    pub fn text(&self) -> String {
        let f = |v: f64| finite(v).unwrap_or(f64::NAN);
        let pct = |v: Option<f64>| v.and_then(finite).map_or("—".to_string(), |a| format!("{:.2}%", 100.0 * a));
        let pts = |v: Option<f64>| v.and_then(finite).map_or("—".to_string(), |a| format!("{:.2}", 100.0 * a));
        let mut out = format!(
            "{} on {} ({}, {} per multiplier, seed {}); multipliers on {}\nAME from one calibration on {} with exact multipliers ({:.1} s)\n\n",
            self.model,
            self.data,
            count(self.samples as u64, "sample"),
            count(self.trials, "trial"),
            self.seed,
            self.int8_layers.join(", "),
            count(self.calibration_samples as u64, "sample"),
            f(self.calibration_seconds),
        );
        let w = self.multipliers.iter().map(|m| m.multiplier.len()).max().unwrap_or(10).max(10);
        out.push_str(&format!(
            "{:<w$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
            "multiplier", "AME", "accuracy", "fitted", "left out", "|dev|", "simulated"
        ));
        for m in &self.multipliers {
            out.push_str(&format!(
                "{:<w$} {:>10.4} {:>9} {:>9} {:>9} {:>9} {:>9.1}s\n",
                m.multiplier,
                f(m.ame),
                pct(Some(m.accuracy)),
                pct(Some(m.fitted)),
                pct(m.left_out_prediction),
                pts(m.left_out_deviation),
                f(m.simulation_seconds),
            ));
        }
        let fit = &self.fit;
        out.push_str(&format!(
            "\naccuracy ≈ {:.6e}·AME² {:+.6e}·AME {:+.6}\nmean absolute deviation: {} points in the fit, {} points on multipliers left out of it (max {})\nrank correlation of AME and accuracy (Spearman) {}; one accuracy's sampling error ±{} points (binomial s.e.)\n",
            f(fit.c2),
            f(fit.c1),
            f(fit.c0),
            pts(fit.mean_abs_deviation),
            pts(fit.left_out_mean_abs_deviation),
            pts(fit.left_out_max_abs_deviation),
            fit.spearman.and_then(finite).map_or("—".into(), |r| format!("{r:+.2}")),
            pts(Some(self.accuracy_standard_error)),
        ));
        let n = self.multipliers.len().max(1) as f64;
        out.push_str(&format!(
            "prediction {:.3} ms per multiplier, simulation {:.2} s: {:.0}× faster (plus the one calibration)\n",
            1e3 * f(self.prediction_seconds) / n,
            f(self.simulation_seconds) / n,
            f(self.speed_ratio),
        ));
        out
    }
}
