//! One argument's value against its parameter's [`Kind`]: its type, unit and
//! range, each error with its own code.

use super::args::{Bound, Kind, Param, Unit, Val};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::Span;
use crate::syntax::ast::{Ident, Value, ValueKind};

/// The value bound to `param`, or `None` after reporting why not.
pub fn bind(value: &Value, param: &Param, diags: &mut Diagnostics) -> Option<Val> {
    match param.kind {
        Kind::Tensor | Kind::Bool | Kind::Str | Kind::BoolOrStr => literal(value, param, diags),
        Kind::Int { min, max } => {
            let v = plain_number(value, param, diags)?;
            whole(v, value.span, param, min, max, diags).map(Val::Int)
        }
        Kind::Float { min, max, units } => float(value, param, min, max, units, diags),
        Kind::Choice(choices) => choice(value, param, choices, diags),
        Kind::IntPair { min } => int_pair(value, param, min, diags),
        Kind::Padding { axes, max } => padding(value, param, axes, max, diags),
        Kind::Range => range(value, param, diags),
        Kind::Floats { min } => floats(value, param, min, diags),
        Kind::Ints => ints(value, param, diags),
    }
}

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Tensor => "a tensor name",
        Kind::Int { .. } => "a whole number",
        Kind::Float { .. } => "a number",
        Kind::Bool => "`true` or `false`",
        Kind::Str => "a string",
        Kind::Choice(_) => "one of the listed words",
        Kind::IntPair { .. } => "a whole number or a list `[h, w]`",
        Kind::Padding { axes: 1, .. } => "a whole number or a list `[left, right]`",
        Kind::Padding { .. } => "a whole number, a list `[h, w]` or a list `[top, bottom, left, right]`",
        Kind::Range => "a list `[lo, hi]`",
        Kind::Floats { .. } => "a number or a list of numbers",
        Kind::Ints => "a list of whole numbers",
        Kind::BoolOrStr => "`true`, `false` or a tensor name in quotes",
    }
}

fn wrong_type(value: &Value, param: &Param, diags: &mut Diagnostics) {
    let found = match &value.kind {
        ValueKind::Number { .. } => "a number".to_string(),
        ValueKind::Str(_) => "a string".to_string(),
        ValueKind::Word(_) => "a name".to_string(),
        ValueKind::List(items) if items.len() == 1 => "a list of 1 value".to_string(),
        ValueKind::List(items) => format!("a list of {} values", items.len()),
    };
    let mut d = Diagnostic::error(
        Code::WrongType,
        format!("`{}` expects {}, found {found}", param.name, type_name(param.kind)),
    )
    .primary(value.span, format!("expected {}", type_name(param.kind)));
    if let (Kind::Str | Kind::BoolOrStr, ValueKind::Word(w)) = (param.kind, &value.kind) {
        d = d.help(format!("write it in quotes: \"{w}\""));
    }
    if let Kind::Choice(choices) = param.kind {
        d = d.note(format!("one of: {}", choices.join(", ")));
    }
    diags.push(d);
}

/// A tensor name, `true`/`false` or a string, as the kind accepts them.
fn literal(value: &Value, param: &Param, diags: &mut Diagnostics) -> Option<Val> {
    let bool_ok = matches!(param.kind, Kind::Bool | Kind::BoolOrStr);
    let str_ok = matches!(param.kind, Kind::Str | Kind::BoolOrStr);
    match &value.kind {
        ValueKind::Word(w) if matches!(param.kind, Kind::Tensor) => Some(Val::Tensor(w.clone())),
        ValueKind::Word(w) if bool_ok && w == "true" => Some(Val::Bool(true)),
        ValueKind::Word(w) if bool_ok && w == "false" => Some(Val::Bool(false)),
        ValueKind::Str(s) if str_ok => Some(Val::Str(s.clone())),
        _ => {
            wrong_type(value, param, diags);
            None
        }
    }
}

/// A number with no unit, or `None` after reporting why not. NaN means the
/// literal was already reported as malformed.
fn plain_number(value: &Value, param: &Param, diags: &mut Diagnostics) -> Option<f64> {
    match &value.kind {
        ValueKind::Number { value: v, unit } => {
            if v.is_nan() {
                return None;
            }
            if let Some(u) = unit {
                diags.push(
                    Diagnostic::error(
                        Code::UnitNotAllowed,
                        format!("`{}` takes a plain number, without a unit", param.name),
                    )
                    .primary(u.span, "remove this unit"),
                );
                return None;
            }
            Some(*v)
        }
        _ => {
            wrong_type(value, param, diags);
            None
        }
    }
}

fn whole(v: f64, span: Span, param: &Param, min: i64, max: i64, diags: &mut Diagnostics) -> Option<i64> {
    if v.fract() != 0.0 {
        diags.push(
            Diagnostic::error(Code::NotInteger, format!("`{}` must be a whole number, found {v}", param.name))
                .primary(span, "not a whole number"),
        );
        return None;
    }
    if v < min as f64 || v > max as f64 {
        let range = if max == i64::MAX { format!("at least {min}") } else { format!("from {min} to {max}") };
        diags.push(
            Diagnostic::error(Code::OutOfRange, format!("`{}` must be {range}, found {v}", param.name))
                .primary(span, "out of range"),
        );
        return None;
    }
    Some(v as i64)
}

fn check_bounds(v: f64, span: Span, name: &str, min: Bound, max: Bound, diags: &mut Diagnostics) -> bool {
    let below = match min {
        Bound::None => None,
        Bound::Incl(m) if v < m => Some(format!("≥ {m}")),
        Bound::Excl(m) if v <= m => Some(format!("> {m}")),
        _ => None,
    };
    let above = match max {
        Bound::None => None,
        Bound::Incl(m) if v > m => Some(format!("≤ {m}")),
        Bound::Excl(m) if v >= m => Some(format!("< {m}")),
        _ => None,
    };
    if let Some(rule) = below.or(above) {
        diags.push(
            Diagnostic::error(Code::OutOfRange, format!("`{name}` must be {rule}, found {v}"))
                .primary(span, "out of range"),
        );
        return false;
    }
    if v.abs() > f32::MAX as f64 {
        diags.push(
            Diagnostic::error(Code::NotRepresentable, format!("`{name}` = {v:e} does not fit in f32"))
                .primary(span, "larger than f32's largest value (3.4e38)"),
        );
        return false;
    }
    true
}

/// A number with one of `units` (or none), in bounds; `%` is divided by 100.
fn float(value: &Value, param: &Param, min: Bound, max: Bound, units: &[Unit], diags: &mut Diagnostics) -> Option<Val> {
    let ValueKind::Number { value: v, unit } = &value.kind else {
        wrong_type(value, param, diags);
        return None;
    };
    if v.is_nan() {
        return None;
    }
    let unit = match unit {
        None => None,
        Some(u) => Some(allowed_unit(u, param, units, diags)?),
    };
    let v = if unit == Some(Unit::Percent) { v / 100.0 } else { *v };
    check_bounds(v, value.span, param.name, min, max, diags).then_some(Val::Float { value: v, unit })
}

/// The unit written as `u`, if it is one of `units`.
fn allowed_unit(u: &Ident, param: &Param, units: &[Unit], diags: &mut Diagnostics) -> Option<Unit> {
    let Some((_, parsed)) = Unit::ALL.iter().find(|(s, _)| *s == u.name) else {
        // Suggest only units that would be accepted here.
        let allowed = Unit::ALL.iter().filter(|(_, unit)| units.contains(unit)).map(|(s, _)| *s);
        diags.push(
            Diagnostic::error(Code::UnknownUnit, format!("unknown unit `{}`", u.name))
                .primary(u.span, "unknown unit")
                .suggest(&u.name, allowed)
                .note("units: abs (absolute), lsb (ADC steps), fs (fraction of full scale), % (relative)"),
        );
        return None;
    };
    if !units.contains(parsed) {
        let allowed: Vec<_> = units.iter().map(|u| format!("`{}`", u.as_str())).collect();
        let d =
            Diagnostic::error(Code::UnitNotAllowed, format!("unit `{}` has no meaning for `{}`", u.name, param.name))
                .primary(u.span, "not allowed here");
        diags.push(if allowed.is_empty() {
            d.help(format!("`{}` is a plain number", param.name))
        } else {
            d.help(format!("allowed here: {}", allowed.join(", ")))
        });
        return None;
    }
    Some(*parsed)
}

fn choice(value: &Value, param: &Param, choices: &'static [&'static str], diags: &mut Diagnostics) -> Option<Val> {
    let ValueKind::Word(w) = &value.kind else {
        wrong_type(value, param, diags);
        return None;
    };
    match choices.iter().find(|c| **c == w.as_str()) {
        Some(c) => Some(Val::Choice(c)),
        None => {
            diags.push(
                Diagnostic::error(Code::BadChoice, format!("`{w}` is not a valid `{}`", param.name))
                    .primary(value.span, "not one of the choices")
                    .suggest(w, choices.iter().copied())
                    .note(format!("one of: {}", choices.join(", "))),
            );
            None
        }
    }
}

/// One whole number for both axes, or `[h, w]`.
fn int_pair(value: &Value, param: &Param, min: i64, diags: &mut Diagnostics) -> Option<Val> {
    let items: Vec<&Value> = match &value.kind {
        ValueKind::List(items) if items.len() == 2 => items.iter().collect(),
        ValueKind::Number { .. } => vec![value, value],
        _ => {
            wrong_type(value, param, diags);
            return None;
        }
    };
    let mut out = [0i64; 2];
    for (slot, item) in out.iter_mut().zip(items) {
        let v = plain_number(item, param, diags)?;
        *slot = whole(v, item.span, param, min, 1 << 20, diags)?;
    }
    Some(Val::Pair(out))
}

/// Padding as per-axis `[before, after]` pairs: one number for every side,
/// one per axis (both sides alike), or one per side in axis order.
fn padding(value: &Value, param: &Param, axes: usize, max: i64, diags: &mut Diagnostics) -> Option<Val> {
    let items: Vec<&Value> = match &value.kind {
        ValueKind::Number { .. } => vec![value; 2 * axes],
        ValueKind::List(items) if items.len() == 2 * axes => items.iter().collect(),
        ValueKind::List(items) if axes == 2 && items.len() == 2 => items.iter().flat_map(|i| [i, i]).collect(),
        _ => {
            wrong_type(value, param, diags);
            return None;
        }
    };
    let mut sides = Vec::with_capacity(items.len());
    for item in items {
        let v = plain_number(item, param, diags)?;
        sides.push(whole(v, item.span, param, 0, max, diags)?);
    }
    Some(Val::Padding(sides.chunks(2).map(|s| [s[0], s[1]]).collect()))
}

/// `[lo, hi]` with lo < hi.
fn range(value: &Value, param: &Param, diags: &mut Diagnostics) -> Option<Val> {
    let ValueKind::List(items) = &value.kind else {
        wrong_type(value, param, diags);
        return None;
    };
    if items.len() != 2 {
        wrong_type(value, param, diags);
        return None;
    }
    let lo = plain_number(&items[0], param, diags)?;
    let hi = plain_number(&items[1], param, diags)?;
    if !check_bounds(lo, items[0].span, param.name, Bound::None, Bound::None, diags)
        || !check_bounds(hi, items[1].span, param.name, Bound::None, Bound::None, diags)
    {
        return None;
    }
    if lo >= hi {
        diags.push(
            Diagnostic::error(Code::EmptyRange, format!("`{}` = [{lo}, {hi}] is empty", param.name))
                .primary(value.span, "lower bound must be below upper bound"),
        );
        return None;
    }
    Some(Val::Range([lo, hi]))
}

/// One number, or a non-empty list of them.
fn floats(value: &Value, param: &Param, min: Bound, diags: &mut Diagnostics) -> Option<Val> {
    let items: Vec<&Value> = match &value.kind {
        ValueKind::List(items) if !items.is_empty() => items.iter().collect(),
        ValueKind::Number { .. } => vec![value],
        _ => {
            wrong_type(value, param, diags);
            return None;
        }
    };
    let mut out = vec![];
    for item in items {
        let v = plain_number(item, param, diags)?;
        if !check_bounds(v, item.span, param.name, min, Bound::None, diags) {
            return None;
        }
        out.push(v);
    }
    Some(Val::Floats(out))
}

/// A list of whole numbers ≥ 1 (a shape).
fn ints(value: &Value, param: &Param, diags: &mut Diagnostics) -> Option<Val> {
    let ValueKind::List(items) = &value.kind else {
        wrong_type(value, param, diags);
        return None;
    };
    let mut out = vec![];
    for item in items {
        let v = plain_number(item, param, diags)?;
        out.push(whole(v, item.span, param, 1, 1 << 24, diags)?);
    }
    Some(Val::Ints(out))
}
