//! Effect statements → typed [`Hardware`]: each design's parameters, units
//! and ranges. What does not depend on the layer is checked here; whether an
//! effect fits its layer is `check::fit`'s job.

use super::args::{bind, exclusive, param, required, Args, Bound, Kind, Param, Unit};
use super::hardware::*;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Loader, Span};
use crate::syntax::ast::Effect;
use analog_runtime::product_table::{Layout, ProductTable};
use std::path::Path;

pub const KEYS: &[&str] = &["noise", "weight_noise", "accumulate", "format", "multiplier"];

/// Where files named by effects (multiplier tables) are found.
pub struct Ctx<'a> {
    pub loader: &'a dyn Loader,
    /// The folder of the file the effect is written in.
    pub dir: &'a Path,
}

const fn float(min: Bound, max: Bound, units: &'static [Unit]) -> Kind {
    Kind::Float { min, max, units }
}
const NONNEG: Bound = Bound::Incl(0.0);
const POSITIVE: Bound = Bound::Excl(0.0);
const ANY: Bound = Bound::None;
const BITS: Kind = Kind::Int { min: 2, max: 24 };

const DRAW: Param = param("draw", Kind::Choice(&["dynamic", "static"]));
const REPEAT: Param = param("repeat", Kind::Int { min: 1, max: 1_000_000 });
const DURING: Param = param("during", Kind::Choice(&["eval", "train", "both"]));
const ORDER_MIX: Param = param("order", Kind::Choice(&["mul_first", "add_first"]));

const ADDITIVE: &[Param] =
    &[required("sigma", float(NONNEG, ANY, &[Unit::Abs, Unit::Lsb, Unit::FullScale])), DRAW, REPEAT, DURING];
const MULTIPLICATIVE: &[Param] = &[required("sigma", float(NONNEG, ANY, &[Unit::Percent])), DRAW, REPEAT, DURING];
const MIXED: &[Param] = &[
    param("add", float(NONNEG, ANY, &[Unit::Abs, Unit::Lsb, Unit::FullScale])),
    param("mul", float(NONNEG, ANY, &[Unit::Percent])),
    param("amplitude", float(NONNEG, ANY, &[Unit::Abs])),
    param("ratio", float(Bound::Incl(0.0), Bound::Incl(1.0), &[Unit::Percent])),
    ORDER_MIX,
    DRAW,
    REPEAT,
    DURING,
];
// Weight noise: `lsb` means nothing for a stored weight; `fs` is a fraction of max |w|.
const W_ADDITIVE: &[Param] =
    &[required("sigma", float(NONNEG, ANY, &[Unit::Abs, Unit::FullScale])), DRAW, REPEAT, DURING];
const W_MIXED: &[Param] = &[
    param("add", float(NONNEG, ANY, &[Unit::Abs, Unit::FullScale])),
    param("mul", float(NONNEG, ANY, &[Unit::Percent])),
    param("amplitude", float(NONNEG, ANY, &[Unit::Abs])),
    param("ratio", float(Bound::Incl(0.0), Bound::Incl(1.0), &[Unit::Percent])),
    ORDER_MIX,
    DRAW,
    REPEAT,
    DURING,
];

const ORDERED: &[Param] = &[
    param(
        "order",
        Kind::Choice(&["natural", "reversed", "ascending", "descending", "positive_first", "negative_first", "random"]),
    ),
    required("lo", float(ANY, ANY, &[Unit::Abs])),
    required("hi", float(ANY, ANY, &[Unit::Abs])),
    param("leak", float(POSITIVE, Bound::Incl(1.0), &[])),
];
const CLAMP: &[Param] = &[required("lo", float(ANY, ANY, &[Unit::Abs])), required("hi", float(ANY, ANY, &[Unit::Abs]))];

const ABFP: &[Param] = &[
    required("block", Kind::Int { min: 1, max: 1 << 16 }),
    required("input_bits", BITS),
    required("weight_bits", BITS),
    required("adc_bits", BITS),
    param("gain", float(POSITIVE, ANY, &[])),
    param("adc_noise", float(NONNEG, ANY, &[Unit::Lsb])),
    param("adc_noise_kind", Kind::Choice(&["gaussian", "uniform"])),
];
const INT8: &[Param] = &[
    param("signed", Kind::Bool),
    param("weight_scale", Kind::Choice(&["per_tensor", "per_channel"])),
    required("input_range", Kind::Range),
];
const ANALOG_INT: &[Param] = &[
    required("block", Kind::Int { min: 1, max: 1 << 16 }),
    required("input_bits", Kind::Int { min: 1, max: 16 }),
    param("input_signed", Kind::Bool),
    required("weight_bits", Kind::Int { min: 2, max: 16 }),
    required("adc_bits", BITS),
    required("gain", float(POSITIVE, ANY, &[])),
    required("input_scale", float(POSITIVE, ANY, &[])),
    param("adc_noise", float(NONNEG, ANY, &[Unit::Lsb])),
];

// All positional, as `docs/language.md` writes it: `table("file", layout, signed)`.
const TABLE: &[Param] = &[
    Param { name: "file", kind: Kind::Str, required: true, positional: true, repeats: false },
    Param {
        name: "layout",
        kind: Kind::Choice(&["torchapprox", "adapt", "tfapprox"]),
        required: true,
        positional: true,
        repeats: false,
    },
    Param { name: "signed", kind: Kind::Bool, required: false, positional: true, repeats: false },
];
const TRUNCATED: &[Param] =
    &[Param { name: "bits", kind: Kind::Int { min: 1, max: 15 }, required: true, positional: true, repeats: false }];
const DRUM: &[Param] =
    &[Param { name: "k", kind: Kind::Int { min: 3, max: 8 }, required: true, positional: true, repeats: false }];

/// The designs of one effect key, with their parameters.
pub fn designs(key: &str) -> &'static [(&'static str, &'static [Param])] {
    match key {
        "noise" => &[("additive", ADDITIVE), ("multiplicative", MULTIPLICATIVE), ("mixed", MIXED), ("none", &[])],
        "weight_noise" => {
            &[("additive", W_ADDITIVE), ("multiplicative", MULTIPLICATIVE), ("mixed", W_MIXED), ("none", &[])]
        }
        "accumulate" => &[("exact", &[]), ("ordered", ORDERED), ("clamp", CLAMP)],
        "format" => &[("fp32", &[]), ("abfp", ABFP), ("int8", INT8), ("analog_int", ANALOG_INT)],
        "multiplier" => {
            &[("exact", &[]), ("table", TABLE), ("truncated", TRUNCATED), ("mitchell", &[]), ("drum", DRUM)]
        }
        _ => &[],
    }
}

/// Binds a block of effect statements (a profile's, a layer's or an input's).
pub fn bind_block(effects: &[Effect], ctx: &Ctx, diags: &mut Diagnostics) -> Hardware {
    let mut hw = Hardware::default();
    let mut seen: Vec<(&str, Span)> = vec![];
    for e in effects {
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == e.key.name) {
            diags.push(
                Diagnostic::error(Code::DuplicateEffect, format!("`{}` is set twice in this block", e.key.name))
                    .primary(e.span, "set again here")
                    .secondary(*first, "first set here")
                    .help("a block sets each effect once; a layer's own block overrides its profile"),
            );
            continue;
        }
        if KEYS.contains(&e.key.name.as_str()) {
            seen.push((&e.key.name, e.span));
        }
        bind_effect(e, ctx, &mut hw, diags);
    }
    hw
}

fn bind_effect(e: &Effect, ctx: &Ctx, hw: &mut Hardware, diags: &mut Diagnostics) {
    let key = e.key.name.as_str();
    if !KEYS.contains(&key) {
        diags.push(
            Diagnostic::error(Code::UnknownEffect, format!("unknown effect `{key}`"))
                .primary(e.key.span, "unknown effect")
                .suggest(key, KEYS.iter().copied())
                .note(format!("effects: {}", KEYS.join(", "))),
        );
        return;
    }
    let design = e.design.name.name.as_str();
    let Some((_, params)) = designs(key).iter().find(|(d, _)| *d == design) else {
        let names: Vec<_> = designs(key).iter().map(|(d, _)| *d).collect();
        diags.push(
            Diagnostic::error(Code::UnknownDesign, format!("`{design}` is not a kind of `{key}`"))
                .primary(e.design.name.span, format!("unknown `{key}` kind"))
                .suggest(design, names.iter().copied())
                .note(format!("kinds of `{key}`: {}", names.join(", "))),
        );
        return;
    };
    let what = format!("`{key} {design}`");
    let args = bind(&e.design, params, &what, diags);
    if !args.ok {
        return;
    }
    let span = e.span;
    match key {
        "noise" | "weight_noise" => {
            let Some(noise) = noise(design, &args, key == "weight_noise", &what, diags) else { return };
            let slot = if key == "noise" { &mut hw.noise } else { &mut hw.weight_noise };
            *slot = Some(Sourced { value: noise, span, via: None });
        }
        "accumulate" => {
            let Some(acc) = accumulate(design, &args, diags) else { return };
            hw.accumulate = Some(Sourced { value: acc, span, via: None });
        }
        "format" => hw.format = Some(Sourced { value: format(design, &args), span, via: None }),
        "multiplier" => {
            let Some(m) = multiplier(design, &args, ctx, diags) else { return };
            hw.multiplier = Some(Sourced { value: m, span, via: None });
        }
        _ => unreachable!("key checked above"),
    }
}

fn sigma(args: &Args, name: &str) -> Option<Sigma> {
    let value = args.float(name)?;
    let unit = match args.unit(name) {
        None | Some(Unit::Abs) | Some(Unit::Percent) => SigmaUnit::Abs,
        Some(Unit::Lsb) => SigmaUnit::Lsb,
        Some(Unit::FullScale) => SigmaUnit::FullScale,
    };
    Some(Sigma { value, unit })
}

fn noise(design: &str, args: &Args, on_weights: bool, what: &str, diags: &mut Diagnostics) -> Option<Noise> {
    let kind = match design {
        "none" => NoiseKind::Off,
        "additive" => NoiseKind::Additive { sigma: sigma(args, "sigma")? },
        "multiplicative" => NoiseKind::Multiplicative { sigma: args.float("sigma")? },
        "mixed" => {
            if !exclusive(args, &[&["add", "mul"], &["amplitude", "ratio"]], what, diags) {
                return None;
            }
            let order = match args.choice("order") {
                Some("add_first") => MixOrder::AddFirst,
                _ => MixOrder::MulFirst,
            };
            if args.has("amplitude") || args.has("ratio") {
                let (Some(a), Some(r)) = (args.float("amplitude"), args.float("ratio")) else {
                    let missing = if args.has("amplitude") { "ratio" } else { "amplitude" };
                    diags.push(
                        Diagnostic::error(Code::MissingArg, format!("{what} with an amplitude also needs `{missing}`"))
                            .primary(args.call_span.expect("bound call"), format!("`{missing}` missing"))
                            .note("σ_add = amplitude · ratio, σ_mul = amplitude · (1 − ratio)"),
                    );
                    return None;
                };
                NoiseKind::Mixed { add: Sigma { value: a * r, unit: SigmaUnit::Abs }, mul: a * (1.0 - r), order }
            } else {
                let (Some(add), Some(mul)) = (sigma(args, "add"), args.float("mul")) else {
                    diags.push(
                        Diagnostic::error(
                            Code::MissingArg,
                            format!("{what} needs `add` and `mul`, or `amplitude` and `ratio`"),
                        )
                        .primary(args.call_span.expect("bound call"), "noise levels missing"),
                    );
                    return None;
                };
                NoiseKind::Mixed { add, mul, order }
            }
        }
        _ => unreachable!("design checked"),
    };
    let draw = match args.choice("draw") {
        Some("static") => Draw::Static,
        Some(_) => Draw::Dynamic,
        None if on_weights => Draw::Static,
        None => Draw::Dynamic,
    };
    let repeat = args.int("repeat").unwrap_or(1) as u32;
    if repeat > 1 && draw == Draw::Static {
        diags.push(
            Diagnostic::error(
                Code::ConflictingArgs,
                "`repeat` averages fresh draws, but static draws are the same each time",
            )
            .primary(args.span("repeat").expect("given"), "repeat with static noise")
            .note(if on_weights && !args.has("draw") {
                "weight noise is static (drawn once per chip) unless `draw = dynamic`"
            } else {
                "static noise is drawn once per chip"
            })
            .help("use `draw = dynamic`, or drop `repeat`"),
        );
        return None;
    }
    let during = match args.choice("during") {
        Some("eval") => Phase::Eval,
        Some("train") => Phase::Train,
        _ => Phase::Both,
    };
    Some(Noise { kind, draw, repeat, during })
}

fn check_bounds_order(args: &Args, diags: &mut Diagnostics) -> Option<(f64, f64)> {
    let (lo, hi) = (args.float("lo")?, args.float("hi")?);
    if lo >= hi {
        diags.push(
            Diagnostic::error(Code::EmptyRange, format!("saturation bounds lo = {lo} and hi = {hi} leave no room"))
                .primary(args.span("lo").expect("given"), "lo")
                .secondary(args.span("hi").expect("given"), "hi")
                .help("`lo` must be below `hi`"),
        );
        return None;
    }
    Some((lo, hi))
}

fn accumulate(design: &str, args: &Args, diags: &mut Diagnostics) -> Option<Accumulate> {
    Some(match design {
        "exact" => Accumulate::Exact,
        "clamp" => {
            let (lo, hi) = check_bounds_order(args, diags)?;
            Accumulate::Clamp { lo, hi }
        }
        "ordered" => {
            let (lo, hi) = check_bounds_order(args, diags)?;
            let order = match args.choice("order").unwrap_or("natural") {
                "reversed" => Order::Reversed,
                "ascending" => Order::Ascending,
                "descending" => Order::Descending,
                "positive_first" => Order::PositiveFirst,
                "negative_first" => Order::NegativeFirst,
                "random" => Order::Random,
                _ => Order::Natural,
            };
            Accumulate::Ordered { order, lo, hi, leak: args.float("leak").unwrap_or(1.0) }
        }
        _ => unreachable!("design checked"),
    })
}

fn format(design: &str, args: &Args) -> Format {
    let int = |n: &str| args.int(n).unwrap_or(0) as u32;
    match design {
        "fp32" => Format::Fp32,
        "abfp" => Format::Abfp {
            block: int("block"),
            input_bits: int("input_bits"),
            weight_bits: int("weight_bits"),
            adc_bits: int("adc_bits"),
            gain: args.float("gain").unwrap_or(1.0),
            adc_noise: args.float("adc_noise").unwrap_or(0.0),
            adc_noise_kind: if args.choice("adc_noise_kind") == Some("uniform") {
                NoiseShape::Uniform
            } else {
                NoiseShape::Gaussian
            },
        },
        "int8" => Format::Int8 {
            signed: args.bool("signed").unwrap_or(true),
            weight_scale: if args.choice("weight_scale") == Some("per_tensor") {
                WeightScale::PerTensor
            } else {
                WeightScale::PerChannel
            },
            input_range: args.range("input_range").unwrap_or([0.0, 1.0]),
        },
        "analog_int" => Format::AnalogInt {
            block: int("block"),
            input_bits: int("input_bits"),
            input_signed: args.bool("input_signed").unwrap_or(false),
            weight_bits: int("weight_bits"),
            adc_bits: int("adc_bits"),
            gain: args.float("gain").unwrap_or(1.0),
            input_scale: args.float("input_scale").unwrap_or(1.0),
            adc_noise: args.float("adc_noise").unwrap_or(0.0),
        },
        _ => unreachable!("design checked"),
    }
}

fn multiplier(design: &str, args: &Args, ctx: &Ctx, diags: &mut Diagnostics) -> Option<Multiplier> {
    Some(match design {
        "exact" => Multiplier::Exact,
        "mitchell" => Multiplier::Mitchell,
        "truncated" => Multiplier::Truncated { bits: args.int("bits")? as u32 },
        "drum" => Multiplier::Drum { k: args.int("k")? as u32 },
        "table" => {
            let file = args.str("file")?;
            let layout = match args.choice("layout")? {
                "tfapprox" => TableLayout::TfApprox,
                _ => TableLayout::TorchApprox,
            };
            let signed = args.bool("signed").unwrap_or(layout == TableLayout::TorchApprox);
            let path = super::normalize(&ctx.dir.join(file));
            let file_span = args.span("file").expect("required");
            let bytes = match ctx.loader.read_bytes(&path) {
                Ok(b) => b,
                Err(e) => {
                    diags.push(
                        Diagnostic::error(
                            Code::BadTable,
                            format!("cannot read multiplier table `{}`: {e}", path.display()),
                        )
                        .primary(file_span, "this file")
                        .note("the path is relative to the file it is written in"),
                    );
                    return None;
                }
            };
            let rt_layout = match layout {
                TableLayout::TfApprox => Layout::TfApprox,
                TableLayout::TorchApprox => Layout::TorchApprox,
            };
            if let Err(why) = ProductTable::parse(&bytes, rt_layout, signed) {
                let span = if layout == TableLayout::TfApprox && signed {
                    args.span("signed").unwrap_or(file_span)
                } else {
                    file_span
                };
                diags.push(
                    Diagnostic::error(Code::BadTable, format!("multiplier table `{file}` cannot be used: {why}"))
                        .primary(span, "this table"),
                );
                return None;
            }
            Multiplier::Table { path, layout, signed }
        }
        _ => unreachable!("design checked"),
    })
}
