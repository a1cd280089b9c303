//! Binding a call's arguments to a declared parameter list: positional and
//! keyword arguments, each error with its own code (a value's type, unit and
//! range are [`super::value`]'s). Ops, preprocessing steps and effect designs
//! all go through here.

use super::value;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::Span;
use crate::syntax::ast::Call;

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
    /// Zeros around a window's input, each side at most `max`: on `axes = 2`
    /// one whole number for every side, `[h, w]` (each axis symmetric) or
    /// `[top, bottom, left, right]`; on `axes = 1` one number or `[left, right]`.
    Padding {
        axes: usize,
        max: i64,
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
    /// The last positional parameter, taking every further positional
    /// argument too (`concat(a, b, c)`).
    pub repeats: bool,
}

pub const fn param(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: false, positional: false, repeats: false }
}

pub const fn required(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: true, positional: false, repeats: false }
}

pub const fn positional(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: true, positional: true, repeats: false }
}

/// A required positional parameter that takes one or more arguments.
pub const fn repeated(name: &'static str, kind: Kind) -> Param {
    Param { name, kind, required: true, positional: true, repeats: true }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Tensor(String),
    Int(i64),
    Float {
        value: f64,
        unit: Option<Unit>,
    },
    Bool(bool),
    Str(String),
    Choice(&'static str),
    Pair([i64; 2]),
    /// Per axis, `[before, after]`.
    Padding(Vec<[i64; 2]>),
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

    pub fn padding(&self, name: &str) -> Option<&[[i64; 2]]> {
        match self.get(name)? {
            Val::Padding(v) => Some(v),
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
    // Once the positional parameters are used up, a repeating one takes the rest.
    let rest = params.iter().find(|p| p.repeats);
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
            None => match next_positional.next().or(rest) {
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
        let another = param.repeats && arg.name.is_none();
        if let Some(prev) = args.span(param.name).filter(|_| !another) {
            diags.push(
                Diagnostic::error(Code::DuplicateArg, format!("`{}` is given twice", param.name))
                    .primary(arg.span, "given again here")
                    .secondary(prev, "first given here"),
            );
            args.ok = false;
            continue;
        }
        match value::bind(&arg.value, param, diags) {
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
