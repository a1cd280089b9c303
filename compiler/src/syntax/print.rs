//! A stable, indented text form of the syntax tree (`analogc emit --stage ast`).
//! Each node ends with its byte span `@start..end`.

use super::ast::*;
use crate::source::Span;
use std::fmt::Write;

pub fn print_file(file: &File) -> String {
    let mut out = String::from("file\n");
    for item in &file.items {
        match item {
            Item::Import(i) => line(&mut out, 1, &format!("import {:?}", i.path.value), i.span),
            Item::Profile(p) => {
                let base = p.extends.as_ref().map_or(String::new(), |b| format!(" extends {}", b.name));
                line(&mut out, 1, &format!("profile {}{base}", p.name.name), p.span);
                effects(&mut out, 2, &p.effects);
            }
            Item::Model(m) => model(&mut out, m),
        }
    }
    out
}

fn model(out: &mut String, m: &Model) {
    line(out, 1, &format!("model {}", m.name.name), m.span);
    for stmt in &m.stmts {
        match stmt {
            Stmt::Weights(w) => line(out, 2, &format!("weights {:?}", w.value), w.span),
            Stmt::Data(d) => line(out, 2, &format!("data {:?}", d.value), d.span),
            Stmt::Input(i) => {
                let dims: Vec<_> = i.shape.iter().map(value).collect();
                line(out, 2, &format!("input {}: {}[{}]", i.name.name, i.dtype.name, dims.join(", ")), i.span);
                for s in &i.steps {
                    line(out, 3, &format!("step {}", call(s)), s.span);
                }
                effects(out, 3, &i.effects);
            }
            Stmt::Layer(l) => {
                let on = l.profile.as_ref().map_or(String::new(), |p| format!(" on {}", p.name));
                line(out, 2, &format!("layer {} = {}{on}", l.name.name, call(&l.op)), l.span);
                effects(out, 3, &l.effects);
            }
            Stmt::Output(o) => line(out, 2, &format!("output {} = {}", o.name.name, o.source.name), o.span),
        }
    }
}

fn effects(out: &mut String, depth: usize, list: &[Effect]) {
    for e in list {
        line(out, depth, &format!("effect {} {}", e.key.name, call(&e.design)), e.span);
    }
}

fn line(out: &mut String, depth: usize, text: &str, span: Span) {
    let _ = writeln!(out, "{:indent$}{text} @{}..{}", "", span.start, span.end, indent = depth * 2);
}

fn call(c: &Call) -> String {
    if c.args.is_empty() {
        return c.name.name.clone();
    }
    let args: Vec<_> = c
        .args
        .iter()
        .map(|a| match &a.name {
            Some(n) => format!("{} = {}", n.name, value(&a.value)),
            None => value(&a.value),
        })
        .collect();
    format!("{}({})", c.name.name, args.join(", "))
}

fn value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Number { value, unit } => {
            let n = number(*value);
            match unit {
                Some(u) => format!("{n} {}", u.name),
                None => n,
            }
        }
        ValueKind::Str(s) => format!("{s:?}"),
        ValueKind::Word(w) => w.clone(),
        ValueKind::List(items) => format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", ")),
    }
}

/// `s` as a string literal of the language: `"` and `\` escaped, line
/// breaks and tabs as `\n`, `\t` (for text the tools write: imported models,
/// a training run's model copy).
pub(crate) fn string_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whole numbers print without a fraction; others in Rust's shortest
/// round-trip form.
pub(crate) fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}
