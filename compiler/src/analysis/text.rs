//! The table `analogc analyze` prints.

use super::report::{Analysis, CalibrationReport, DenoisePlacement, LayerAnalysis};
use crate::words::count;
use serde::Serialize;

/// A number in a short, readable form (4 significant digits); `—` for none
/// (and for a non-finite value, which JSON cannot hold either).
fn num(v: Option<f64>) -> String {
    match v.filter(|x| x.is_finite()) {
        Some(0.0) => "0".into(),
        Some(x) if x.abs() >= 1e5 || x.abs() < 1e-3 => format!("{x:.3e}"),
        Some(x) => {
            let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
            format!("{x:.digits$}")
        }
        None => "—".into(),
    }
}

/// A value as its JSON text (`4.0` for a float, as the `--json` report has it).
fn json(v: impl Serialize) -> String {
    serde_json::to_value(v).map(|v| v.to_string()).unwrap_or_default()
}

/// A finite value or 0 (a figure the report could not hold as a number).
fn or0(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

impl Analysis {
    /// The table `analogc analyze` prints.
    pub fn text(&self) -> String {
        let mut out = format!("{}: {} MACs and {} parameters per sample\n\n", self.model, self.macs, self.params);
        out.push_str(&format!(
            "{:<12} {:<8} {:>10} {:>9} {:>7}  hardware\n",
            "layer", "op", "MACs", "params", "fan-in"
        ));
        for l in &self.layers {
            out.push_str(&format!(
                "{:<12} {:<8} {:>10} {:>9} {:>7}  {}\n",
                l.name,
                l.op,
                l.macs.to_string(),
                l.params.to_string(),
                l.fan_in.to_string(),
                hardware(l)
            ));
        }
        let Some(c) = &self.calibration else { return out };
        out.push_str(&activations(c));
        out.push_str(&clipping(&self.layers));
        out.push_str(&multipliers(&self.layers, self.ame.flatten(), &c.output));
        if let Some(d) = &self.denoise {
            out.push_str(&placement(d, c));
        }
        out
    }
}

/// What the hardware does to a layer, in one line.
fn hardware(l: &LayerAnalysis) -> String {
    let mut hw = String::new();
    if let Some(a) = &l.abfp {
        hw = format!(
            "ABFP: an exact {}-tile needs {} bits, the ADC has {} ({} low bits lost at gain 1; gain {})",
            a.tile,
            a.bits_for_exact_tile,
            a.adc_bits,
            a.low_bits_lost_at_gain_1,
            json(a.gain)
        );
    }
    if let Some(a) = &l.accumulate {
        hw = a.clone();
    }
    if let Some(m) = l.multiplier.as_ref().and_then(|m| m.stats.as_ref()) {
        hw = format!(
            "multiplier: error rate {:.1}%, mean {:+.2}, MAE {:.2}, MRED {:.2}%, worst {}; per output: bias {:+.1}, spread {:.1} (product units)",
            100.0 * or0(m.error_rate),
            or0(m.mean_error),
            or0(m.mean_abs_error),
            100.0 * or0(m.mred),
            m.worst_case_error,
            or0(m.output_bias),
            or0(m.output_spread),
        );
    }
    hw
}

fn activations(c: &CalibrationReport) -> String {
    let mut out = format!(
        "\ncalibrated on {} ({}, every noise off, seed {})\n\n",
        c.data,
        count(c.samples as u64, "sample"),
        c.seed
    );
    out.push_str(&format!(
        "{:<12} {:<14} {:>10} {:>10} {:>10} {:>10}\n",
        "activations", "shape", "min", "max", "mean |x|", "p99.9 |x|"
    ));
    for a in &c.activations {
        let shape: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
        out.push_str(&format!(
            "{:<12} {:<14} {:>10} {:>10} {:>10} {:>10}\n",
            a.name,
            format!("[{}]", shape.join(", ")),
            num(Some(a.min as f64)),
            num(Some(a.max as f64)),
            num(Some(a.mean_abs)),
            num(Some(a.p99_9_abs as f64))
        ));
    }
    out
}

fn clipping(layers: &[LayerAnalysis]) -> String {
    let clipped: Vec<_> =
        layers.iter().filter_map(|l| Some((l, l.abfp.as_ref()?, l.abfp.as_ref()?.clipping.as_ref()?))).collect();
    if clipped.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nABFP clipping: ADC conversions with |v| > 1 at the configured gain\n");
    for (l, a, c) in clipped {
        out.push_str(&format!(
            "{:<12} {:.3}% of {} conversions (gain {})\n",
            l.name,
            100.0 * or0(c.rate),
            c.conversions,
            json(a.gain)
        ));
    }
    out
}

fn multipliers(layers: &[LayerAnalysis], ame: Option<f64>, output: &str) -> String {
    let weighted: Vec<_> =
        layers.iter().filter_map(|l| Some((l, l.multiplier.as_ref()?.data_weighted.as_ref()?))).collect();
    if weighted.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nmultipliers on the calibration data (E in product units; errors in output units)\n{:<12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}\n",
        "layer", "μ_d", "σ_d", "K·μ_d", "√K·σ_d", "s_x·s_w", "layer error", "at output"
    );
    for (l, d) in weighted {
        out.push_str(&format!(
            "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}\n",
            l.name,
            num(Some(d.mean_error)),
            num(Some(d.error_std)),
            num(Some(d.output_bias)),
            num(Some(d.output_spread)),
            num(Some(or0(d.s_x) * or0(d.s_w))),
            num(Some(d.output_error)),
            num(d.error_at_output),
        ));
    }
    out.push_str(&format!("AME {} (RMS error of `{output}` from the multipliers, in its units)\n", num(ame)));
    out
}

fn placement(d: &DenoisePlacement, c: &CalibrationReport) -> String {
    let by_midpoint = d.ranked_by == "midpoint";
    let mut out = format!(
        "\ndenoiser placement: MAC layers by {}\n",
        if by_midpoint {
            "Walking-Noise midpoint (smallest first)".to_string()
        } else {
            format!("sensitivity (RMS change of `{}` per unit of noise on the layer's output, ideal network)", c.output)
        }
    );
    out.push_str(&format!(
        "{:<5} {:<12} {:>11} {:>10}  gain of a denoise block (noise of the layer removed)\n",
        "rank", "layer", "sensitivity", "midpoint"
    ));
    let accuracy = d.accuracy.filter(|a| a.is_finite());
    for (k, e) in d.ranking.iter().enumerate() {
        let gain = match e.gain.filter(|g| g.is_finite()) {
            Some(gain) => format!(
                "{:+.2} points ({:.2}% → {:.2}%)",
                100.0 * gain,
                100.0 * accuracy.unwrap_or(0.0),
                100.0 * (accuracy.unwrap_or(0.0) + gain)
            ),
            None => "— (the layer adds no noise)".into(),
        };
        out.push_str(&format!(
            "{:<5} {:<12} {:>11} {:>10}  {gain}\n",
            k + 1,
            e.layer,
            num(e.sensitivity),
            num(e.midpoint),
        ));
    }
    if accuracy.is_some() {
        out.push_str(&format!(
            "(accuracy on {}, {}, seed {})\n",
            count(d.samples as u64, "sample"),
            count(d.trials, "trial"),
            c.seed
        ));
    }
    out
}
