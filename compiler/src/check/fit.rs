//! Whether a layer's effective hardware fits it: effects only where they mean
//! something, units only where they have a reference, formats and multipliers
//! that agree with each other.

use super::hardware::*;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::Span;
use analog_runtime::ir::op::OpClass;

/// Where a checked tensor comes from, for messages.
pub struct Target<'a> {
    /// "layer `fc1` (dense)" or "input `image`".
    pub what: &'a str,
    pub class: OpClass,
    /// Inputs take output noise only, like plain ops, but never `fs`.
    pub is_input: bool,
}

/// A diagnostic about an effect: at the effect itself when the layer's own
/// block set it; at the `on PROFILE` when it came from a profile.
fn at<T>(slot: &Sourced<T>, code: Code, message: String, label: &str) -> Diagnostic {
    match slot.via {
        Some(via) => Diagnostic::error(code, message)
            .primary(via, "profile applied here")
            .secondary(slot.span, label.to_string()),
        None => Diagnostic::error(code, message).primary(slot.span, label.to_string()),
    }
}

pub fn check(hw: &Hardware, t: &Target, diags: &mut Diagnostics) {
    if t.class == OpClass::Digital {
        digital(hw, t, diags);
        return;
    }
    let mac = t.class == OpClass::Mac;
    if !mac {
        mac_only(hw, t, diags);
    }
    sigma_units(hw, t, diags);
    if mac {
        multiplier(hw, t, diags);
        accumulate(hw, t, diags);
    }
}

/// A digital block takes no effect at all.
fn digital(hw: &Hardware, t: &Target, diags: &mut Diagnostics) {
    let set: Vec<Span> = [
        hw.noise.as_ref().map(|s| (s.span, s.via)),
        hw.weight_noise.as_ref().map(|s| (s.span, s.via)),
        hw.accumulate.as_ref().map(|s| (s.span, s.via)),
        hw.format.as_ref().map(|s| (s.span, s.via)),
        hw.multiplier.as_ref().map(|s| (s.span, s.via)),
    ]
    .into_iter()
    .flatten()
    .map(|(span, via)| via.unwrap_or(span))
    .collect();
    if let Some(first) = set.first() {
        diags.push(
            Diagnostic::error(
                Code::EffectNotApplicable,
                format!("{} is a digital block and takes no hardware effects", t.what),
            )
            .primary(*first, "effects given here")
            .note("denoise blocks model noise-free digital logic between analog layers"),
        );
    }
}

/// Weight noise, accumulation, formats and multipliers need a layer that
/// multiplies and accumulates; the ideal setting of each is allowed anywhere.
fn mac_only(hw: &Hardware, t: &Target, diags: &mut Diagnostics) {
    let not_here = |name: &str| format!("`{name}` does not apply to {}", t.what);
    if let Some(s) = &hw.weight_noise {
        if s.value.kind != NoiseKind::Off {
            diags.push(at(
                s,
                Code::EffectNotApplicable,
                not_here("weight_noise"),
                "needs a layer with weights (dense, conv2d)",
            ));
        }
    }
    if let Some(s) = hw.accumulate.as_ref().filter(|s| s.value != Accumulate::Exact) {
        diags.push(at(
            s,
            Code::EffectNotApplicable,
            not_here("accumulate"),
            "accumulation order needs a multiply-accumulate layer (dense, conv2d)",
        ));
    }
    if let Some(s) = hw.format.as_ref().filter(|s| s.value != Format::Fp32) {
        diags.push(at(
            s,
            Code::EffectNotApplicable,
            not_here("format"),
            "number formats apply to multiply-accumulate layers (dense, conv2d)",
        ));
    }
    if let Some(s) = hw.multiplier.as_ref().filter(|s| s.value != Multiplier::Exact) {
        diags.push(at(
            s,
            Code::EffectNotApplicable,
            not_here("multiplier"),
            "multipliers apply to multiply-accumulate layers (dense, conv2d)",
        ));
    }
}

/// σ in `lsb` needs an ADC; σ in `fs` a full scale (a MAC layer).
fn sigma_units(hw: &Hardware, t: &Target, diags: &mut Diagnostics) {
    let mac = t.class == OpClass::Mac;
    for noise in [&hw.noise, &hw.weight_noise].into_iter().flatten() {
        let sigmas = match &noise.value.kind {
            NoiseKind::Additive { sigma } => vec![*sigma],
            NoiseKind::Mixed { add, .. } => vec![*add],
            _ => vec![],
        };
        for sigma in sigmas {
            match sigma.unit {
                SigmaUnit::Lsb if !hw.format().has_adc() => diags.push(
                    at(
                        noise,
                        Code::LsbNeedsAdc,
                        format!("noise in `lsb` needs an ADC, but {} has none", t.what),
                        "σ in ADC steps",
                    )
                    .help("give the layer `format abfp(...)` or `format analog_int(...)`, or write σ in `abs`"),
                ),
                SigmaUnit::FullScale if !mac => diags.push(
                    at(
                        noise,
                        Code::UnitNotAllowed,
                        format!("noise in `fs` needs a full scale, but {} has none", t.what),
                        "σ as a fraction of full scale",
                    )
                    .help(if t.is_input {
                        "write σ in `abs` (the input's own units)"
                    } else {
                        "`fs` is defined for dense and conv2d layers; write σ in `abs`"
                    }),
                ),
                _ => {}
            }
        }
    }
}

/// An approximate multiplier needs int8 operands, a table their signedness.
fn multiplier(hw: &Hardware, t: &Target, diags: &mut Diagnostics) {
    let format = hw.format.as_ref();
    if let Some(m) = hw.multiplier.as_ref().filter(|m| m.value != Multiplier::Exact) {
        match format.map(|f| &f.value) {
            Some(Format::Int8 { signed, .. }) => {
                if let Multiplier::Table { signed: table_signed, .. } = &m.value {
                    if table_signed != signed {
                        let word = |s: bool| if s { "signed" } else { "unsigned" };
                        let f = format.expect("int8 format");
                        diags.push(
                            at(
                                m,
                                Code::SignednessMismatch,
                                format!(
                                    "the multiplier table is for {} operands but {} quantizes to {} int8",
                                    word(*table_signed),
                                    t.what,
                                    word(*signed)
                                ),
                                "this table",
                            )
                            .secondary(f.span, format!("{} int8 here", word(*signed))),
                        );
                    }
                }
            }
            _ => {
                let mut d = at(
                    m,
                    Code::MultiplierNeedsInt8,
                    format!("an approximate multiplier needs int8 operands, but {} is not quantized to int8", t.what),
                    "approximate multiplier",
                );
                if let Some(f) = format {
                    d = d.secondary(f.span, "the layer's format");
                }
                diags.push(d.help("add `format int8(input_range = [lo, hi])` to the layer or its profile"));
            }
        }
    }
}

/// A format with an ADC accumulates in its own way: no order can be added.
fn accumulate(hw: &Hardware, t: &Target, diags: &mut Diagnostics) {
    let format = hw.format.as_ref();
    if let (Some(acc), Some(f)) = (hw.accumulate.as_ref().filter(|a| a.value != Accumulate::Exact), format) {
        if f.value.has_adc() {
            diags.push(
                at(
                    acc,
                    Code::IncompatibleEffects,
                    format!("{} accumulates inside its ADC format; an accumulation order cannot be added", t.what),
                    "accumulation order",
                )
                .secondary(f.span, "this format sums each block in analog and the blocks exactly"),
            );
        }
    }
}
