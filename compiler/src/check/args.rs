//! Binding a call's arguments to a declared parameter list: positional and
//! keyword arguments, types, units and ranges, each error with its own code.
//! Ops, preprocessing steps and effect designs all go through here.

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::Span;
use crate::syntax::ast::{Call, Value, ValueKind};

/// A unit a number may carry. `%` is divided by 100 when bound.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    Abs,
    Lsb,
    FullScale,
    Percent,
}

impl Unit {
    pub const ALL: &'static [(&'static str, Unit)] =
        &[("abs", Unit::Abs), ("lsb", Unit::Lsb), ("fs", Unit::FullScale), ("%", Unit::Percent)];

    pub fn as_str(self) -> &'static str {
        Unit::ALL.iter().find(|(_, u)| *u == self).map_or("?", |(s, _)| s)
    }
}

#[derive(Copy, Clone, Debug)]
pub enum Bound {
    None,
    Incl(f64),
    Excl(f64),
}

#[derive(Copy, Clone, Debug)]
pub enum Kind {
    /// A tensor defined earlier in the model, by name.
    Tensor,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: Bound,
        max: Bound,
        units: &'static [Unit],
    },
    Bool,
    Str,
    Choice(&'static [&'static str]),
    /// One whole number for both spatial axes, or `[h, w]`.
    IntPair {
        min: i64,
    },
    /// `[lo, hi]` with lo < hi.
    Range,
    /// One number for every channel, or a list with one per channel.
    Floats {
        min: Bound,
    },
    /// A list of whole numbers ≥ 1 (a shape).
    Ints,
    /// `true`, `false`, or a tensor name in the weights file.
    BoolOrStr,
}

#[derive(Copy, Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// May be given without `name =`, in declaration order.
    pub positional: bool,
}

pub const fn param(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: false, positional: false }
}

pub const fn required(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: true, positional: false }
}

pub const fn positional(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: true, positional: true }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Tensor(String),
    Int(i64),
    Float { value: f64, unit: Option<Unit> },
    Bool(bool),
    Str(String),
    Choice(&'static str),
    Pair([i64; 2]),
    Range([f64; 2]),
    Floats(Vec<f64>),
    Ints(Vec<i64>),
}

/// The bound arguments of one call; each value keeps the span it came from.
#[derive(Debug, Default)]
pub struct Args {
    pub values: Vec<(&'static str, Val, Span)>,
    /// Whether every argument bound cleanly (errors were reported otherwise).
    pub ok: bool,
    pub call_span: Option<Span>,
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.values.iter().find(|(n, _, _)| *n == name).map(|(_, v, _)| v)
    }

    pub fn span(&self, name: &str) -> Option<Span> {
        self.values.iter().find(|(n, _, _)| *n == name).map(|(_, _, s)| *s)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Val::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Val::Float { value, .. } => Some(*value),
            _ => None,
        }
    }

    pub fn unit(&self, name: &str) -> Option<Unit> {
        match self.get(name)? {
            Val::Float { unit, .. } => *unit,
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Val::Bool(v) => Some(*v),
            _ => None,
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Val::Str(v) => Some(v),
            _ => None,
        }
    }

    pub fn choice(&self, name: &str) -> Option<&'static str> {
        match self.get(name)? {
            Val::Choice(v) => Some(v),
            _ => None,
        }
    }

    pub fn tensor(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Val::Tensor(v) => Some(v),
            _ => None,
        }
    }

    pub fn pair(&self, name: &str) -> Option<[i64; 2]> {
        match self.get(name)? {
            Val::Pair(v) => Some(*v),
            _ => None,
        }
    }

    pub fn range(&self, name: &str) -> Option<[f64; 2]> {
        match self.get(name)? {
            Val::Range(v) => Some(*v),
            _ => None,
        }
    }

    pub fn floats(&self, name: &str) -> Option<&[f64]> {
        match self.get(name)? {
            Val::Floats(v) => Some(v),
            _ => None,
        }
    }

    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.get(name)? {
            Val::Ints(v) => Some(v),
            _ => None,
        }
    }
}

/// Binds `call`'s arguments to `params`. `what` names the call in messages
/// (e.g. "`dense`", "noise design `additive`").
pub fn bind(call: &Call, params: &[Param], what: &str, diags: &mut Diagnostics) -> Args {
    let mut args = Args { ok: true, call_span: Some(call.span), ..Args::default() };
    let mut next_positional = params.iter().filter(|p| p.positional);
    let mut seen_keyword = false;
    for arg in &call.args {
        let param = match &arg.name {
            Some(name) => {
                seen_keyword = true;
                match params.iter().find(|p| p.name == name.name) {
                    Some(p) => p,
                    None => {
                        let names = params.iter().map(|p| p.name);
                        diags.push(
                            Diagnostic::error(Code::UnknownParam, format!("{what} has no parameter `{}`", name.name))
                                .primary(name.span, "unknown parameter")
                                .suggest(&name.name, names)
                                .note(param_list(params)),
                        );
                        args.ok = false;
                        continue;
                    }
                }
            }
            None => match next_positional.next() {
                Some(p) if !seen_keyword => p,
                _ => {
                    let d =
                        Diagnostic::error(Code::TooManyPositional, format!("too many positional arguments for {what}"))
                            .primary(arg.span, "unexpected positional argument");
                    let d = if seen_keyword {
                        d.help("positional arguments come before `name = value` arguments")
                    } else {
                        d.note(param_list(params))
                    };
                    diags.push(d);
                    args.ok = false;
                    continue;
                }
            },
        };
        if let Some(prev) = args.span(param.name) {
            diags.push(
                Diagnostic::error(Code::DuplicateArg, format!("`{}` is given twice", param.name))
                    .primary(arg.span, "given again here")
                    .secondary(prev, "first given here"),
            );
            args.ok = false;
            continue;
        }
        match bind_value(&arg.value, param, diags) {
            Some(v) => args.values.push((param.name, v, arg.value.span)),
            None => args.ok = false,
        }
    }
    for p in params.iter().filter(|p| p.required) {
        if !args.has(p.name) && args.ok {
            let how = if p.positional { format!("`{}` (positional)", p.name) } else { format!("`{} = …`", p.name) };
            diags.push(
                Diagnostic::error(Code::MissingArg, format!("{what} needs {how}"))
                    .primary(call.span, format!("`{}` missing", p.name))
                    .note(param_list(params)),
            );
            args.ok = false;
        }
    }
    args
}

fn param_list(params: &[Param]) -> String {
    if params.is_empty() {
        return "it takes no arguments".into();
    }
    let names: Vec<_> = params.iter().map(|p| p.name).collect();
    format!("parameters: {}", names.join(", "))
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

fn bind_value(value: &Value, param: &Param, diags: &mut Diagnostics) -> Option<Val> {
    let span = value.span;
    match param.kind {
        Kind::Tensor => match &value.kind {
            ValueKind::Word(w) => Some(Val::Tensor(w.clone())),
            _ => {
                wrong_type(value, param, diags);
                None
            }
        },
        Kind::Int { min, max } => {
            let v = plain_number(value, param, diags)?;
            whole(v, span, param, min, max, diags).map(Val::Int)
        }
        Kind::Float { min, max, units } => {
            let ValueKind::Number { value: v, unit } = &value.kind else {
                wrong_type(value, param, diags);
                return None;
            };
            if v.is_nan() {
                return None;
            }
            let mut v = *v;
            let unit = match unit {
                None => None,
                Some(u) => {
                    let Some((_, parsed)) = Unit::ALL.iter().find(|(s, _)| *s == u.name) else {
                        // Suggest only units that would be accepted here.
                        let allowed = Unit::ALL.iter().filter(|(_, unit)| units.contains(unit)).map(|(s, _)| *s);
                        diags.push(
                            Diagnostic::error(Code::UnknownUnit, format!("unknown unit `{}`", u.name))
                                .primary(u.span, "unknown unit")
                                .suggest(&u.name, allowed)
                                .note(
                                    "units: abs (absolute), lsb (ADC steps), fs (fraction of full scale), % (relative)",
                                ),
                        );
                        return None;
                    };
                    if !units.contains(parsed) {
                        let allowed: Vec<_> = units.iter().map(|u| format!("`{}`", u.as_str())).collect();
                        let d = Diagnostic::error(
                            Code::UnitNotAllowed,
                            format!("unit `{}` has no meaning for `{}`", u.name, param.name),
                        )
                        .primary(u.span, "not allowed here");
                        diags.push(if allowed.is_empty() {
                            d.help(format!("`{}` is a plain number", param.name))
                        } else {
                            d.help(format!("allowed here: {}", allowed.join(", ")))
                        });
                        return None;
                    }
                    if *parsed == Unit::Percent {
                        v /= 100.0;
                    }
                    Some(*parsed)
                }
            };
            check_bounds(v, span, param.name, min, max, diags).then_some(Val::Float { value: v, unit })
        }
        Kind::Bool => match &value.kind {
            ValueKind::Word(w) if w == "true" => Some(Val::Bool(true)),
            ValueKind::Word(w) if w == "false" => Some(Val::Bool(false)),
            _ => {
                wrong_type(value, param, diags);
                None
            }
        },
        Kind::Str => match &value.kind {
            ValueKind::Str(s) => Some(Val::Str(s.clone())),
            _ => {
                wrong_type(value, param, diags);
                None
            }
        },
        Kind::BoolOrStr => match &value.kind {
            ValueKind::Word(w) if w == "true" => Some(Val::Bool(true)),
            ValueKind::Word(w) if w == "false" => Some(Val::Bool(false)),
            ValueKind::Str(s) => Some(Val::Str(s.clone())),
            _ => {
                wrong_type(value, param, diags);
                None
            }
        },
        Kind::Choice(choices) => match &value.kind {
            ValueKind::Word(w) => match choices.iter().find(|c| **c == w.as_str()) {
                Some(c) => Some(Val::Choice(c)),
                None => {
                    diags.push(
                        Diagnostic::error(Code::BadChoice, format!("`{w}` is not a valid `{}`", param.name))
                            .primary(span, "not one of the choices")
                            .suggest(w, choices.iter().copied())
                            .note(format!("one of: {}", choices.join(", "))),
                    );
                    None
                }
            },
            _ => {
                wrong_type(value, param, diags);
                None
            }
        },
        Kind::IntPair { min } => {
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
        Kind::Range => {
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
                        .primary(span, "lower bound must be below upper bound"),
                );
                return None;
            }
            Some(Val::Range([lo, hi]))
        }
        Kind::Floats { min } => {
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
        Kind::Ints => {
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
    }
}

/// Reports `arg` names that exclude each other, when more than one is given.
pub fn exclusive(args: &Args, groups: &[&[&str]], what: &str, diags: &mut Diagnostics) -> bool {
    let given: Vec<_> = groups.iter().filter(|g| g.iter().any(|n| args.has(n))).collect();
    if given.len() <= 1 {
        return true;
    }
    let a = given[0].iter().find(|n| args.has(n)).expect("given");
    let b = given[1].iter().find(|n| args.has(n)).expect("given");
    diags.push(
        Diagnostic::error(Code::ConflictingArgs, format!("{what} takes `{a}` or `{b}`, not both"))
            .primary(args.span(b).expect("given"), format!("`{b}` given here"))
            .secondary(args.span(a).expect("given"), format!("`{a}` given here")),
    );
    false
}
