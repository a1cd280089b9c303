//! pest → AST. pest's types never leave this file.
//!
//! The grammar has error productions (`bad_item`, `bad_stmt`) so one parse
//! finds every malformed statement; each is re-parsed alone with the entry
//! rule of its context to explain what was expected there.

use super::ast::*;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, Span};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;
use std::sync::Once;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/analog.pest"]
struct Grammar;

/// Parses one source file. Syntax errors are pushed to `diags`; the returned
/// tree holds everything that parsed.
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> File {
    static DETAIL: Once = Once::new();
    // Literal tokens (`)`, `=`) in "expected …" messages need pest's error detail.
    DETAIL.call_once(|| pest::set_error_detail(true));

    let mut p = P { file, text, diags };
    match Grammar::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let root = pairs.next().expect("the file rule matched");
            p.file_node(root)
        }
        Err(e) => {
            p.report(e, 0);
            File { items: vec![] }
        }
    }
}

/// Parses a `--set PATH=VALUE` held in its own (virtual) source file.
pub fn parse_setting(file: FileId, text: &str, diags: &mut Diagnostics) -> Option<Setting> {
    let mut p = P { file, text, diags };
    match Grammar::parse(Rule::setting, text) {
        Ok(mut pairs) => {
            let root = pairs.next().expect("the setting rule matched");
            let span = p.span(&root);
            let mut path = vec![];
            let mut value = None;
            for pair in root.into_inner() {
                match pair.as_rule() {
                    Rule::ident => path.push(p.ident(pair)),
                    Rule::set_call => value = Some(SetValue::Call(p.call(pair))),
                    Rule::EOI => {}
                    _ => value = Some(SetValue::Value(p.value(pair))),
                }
            }
            Some(Setting { path, value: value.expect("setting has a value"), span })
        }
        Err(e) => {
            p.report(e, 0);
            None
        }
    }
}

struct P<'a> {
    file: FileId,
    text: &'a str,
    diags: &'a mut Diagnostics,
}

impl P<'_> {
    /// A pair's span without the blanks and comment pest's implicit
    /// whitespace may leave at its end.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), trimmed_end(self.text, s.start(), s.end()))
    }

    fn file_node(&mut self, root: Pair<Rule>) -> File {
        let mut items = vec![];
        for pair in root.into_inner() {
            match pair.as_rule() {
                Rule::import => items.push(Item::Import(self.import(pair))),
                Rule::profile => items.push(Item::Profile(self.profile(pair))),
                Rule::model => items.push(Item::Model(self.model(pair))),
                Rule::bad_item => self.explain(pair, Rule::item_only),
                Rule::EOI => {}
                r => unreachable!("file child {r:?}"),
            }
        }
        File { items }
    }

    fn import(&mut self, pair: Pair<Rule>) -> Import {
        let span = self.span(&pair);
        let path = self.string(pair.into_inner().next().expect("import path"));
        Import { path, span }
    }

    fn profile(&mut self, pair: Pair<Rule>) -> Profile {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("profile name"));
        let mut extends = None;
        let mut effects = vec![];
        for p in inner {
            match p.as_rule() {
                Rule::extends => extends = Some(self.ident(p.into_inner().next().expect("base"))),
                Rule::effects => effects = self.effects(p),
                r => unreachable!("profile child {r:?}"),
            }
        }
        Profile { name, extends, effects, span }
    }

    fn effects(&mut self, pair: Pair<Rule>) -> Vec<Effect> {
        let mut out = vec![];
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::effect => out.push(self.effect(p)),
                Rule::bad_stmt => self.explain(p, Rule::effect_only),
                r => unreachable!("effects child {r:?}"),
            }
        }
        out
    }

    fn effect(&mut self, pair: Pair<Rule>) -> Effect {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let key = self.ident(inner.next().expect("effect key"));
        let design = self.call(inner.next().expect("effect design"));
        Effect { key, design, span }
    }

    /// A `call` or `set_call` pair.
    fn call(&mut self, pair: Pair<Rule>) -> Call {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("call name"));
        let args = match inner.next() {
            Some(args) => args.into_inner().map(|a| self.arg(a)).collect(),
            None => vec![],
        };
        Call { name, args, span }
    }

    fn arg(&mut self, pair: Pair<Rule>) -> Arg {
        let span = self.span(&pair);
        let mut inner: Vec<_> = pair.into_inner().collect();
        let value = self.value(inner.pop().expect("arg value"));
        let name = inner.pop().map(|p| self.ident(p));
        Arg { name, value, span }
    }

    fn value(&mut self, pair: Pair<Rule>) -> Value {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::quantity => {
                let mut value = f64::NAN;
                let mut unit = None;
                let mut divisor = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::number if value.is_nan() && divisor.is_none() => {
                            value = self.number(&p);
                            divisor = Some(None);
                        }
                        Rule::number => divisor = Some(Some(self.number(&p))),
                        Rule::unit => unit = Some(Ident { name: p.as_str().to_string(), span: self.span(&p) }),
                        r => unreachable!("quantity child {r:?}"),
                    }
                }
                if let Some(Some(d)) = divisor {
                    value = if d == 0.0 {
                        self.diags.push(
                            Diagnostic::error(Code::BadNumber, "division by zero in a number")
                                .primary(span, "this divides by zero"),
                        );
                        f64::NAN
                    } else if !(value / d).is_finite() && value.is_finite() {
                        self.diags.push(
                            Diagnostic::error(Code::BadNumber, "this ratio is too large to be a number")
                                .primary(span, "not a finite number"),
                        );
                        f64::NAN
                    } else {
                        value / d
                    };
                }
                ValueKind::Number { value, unit }
            }
            Rule::string => ValueKind::Str(self.string(pair).value),
            Rule::word => ValueKind::Word(pair.as_str().to_string()),
            Rule::list => ValueKind::List(pair.into_inner().map(|p| self.value(p)).collect()),
            r => unreachable!("value {r:?}"),
        };
        Value { kind, span }
    }

    /// A number literal; NaN (already reported) when it is not finite.
    fn number(&mut self, pair: &Pair<Rule>) -> f64 {
        match pair.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.diags.push(
                    Diagnostic::error(Code::BadNumber, format!("`{}` is too large to be a number", pair.as_str()))
                        .primary(self.span(pair), "not a finite number"),
                );
                f64::NAN
            }
        }
    }

    fn string(&mut self, pair: Pair<Rule>) -> StrLit {
        let span = self.span(&pair);
        let raw = pair.into_inner().next().map_or("", |p| p.as_str());
        let mut value = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(c) => value.push(c),
                    None => {}
                }
            } else {
                value.push(c);
            }
        }
        StrLit { value, span }
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(&pair) }
    }

    fn model(&mut self, pair: Pair<Rule>) -> Model {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("model name"));
        let mut stmts = vec![];
        for p in inner.next().expect("model body").into_inner() {
            match p.as_rule() {
                Rule::weights => stmts.push(Stmt::Weights(self.string(p.into_inner().next().expect("path")))),
                Rule::data => stmts.push(Stmt::Data(self.string(p.into_inner().next().expect("path")))),
                Rule::input => stmts.push(Stmt::Input(self.input(p))),
                Rule::output => stmts.push(Stmt::Output(self.output(p))),
                Rule::layer => stmts.push(Stmt::Layer(self.layer(p))),
                Rule::bad_stmt => self.explain(p, Rule::model_stmt_only),
                r => unreachable!("model child {r:?}"),
            }
        }
        Model { name, stmts, span }
    }

    fn input(&mut self, pair: Pair<Rule>) -> Input {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("input name"));
        let dtype = self.ident(inner.next().expect("input dtype"));
        let shape_pair = inner.next().expect("input shape");
        let shape_span = self.span(&shape_pair);
        let shape = shape_pair.into_inner().map(|p| self.value(p)).collect();
        let mut steps = vec![];
        let mut effects = vec![];
        if let Some(body) = inner.next() {
            for p in body.into_inner() {
                match p.as_rule() {
                    Rule::effect => effects.push(self.effect(p)),
                    Rule::call => steps.push(self.call(p)),
                    Rule::bad_stmt => self.explain(p, Rule::input_stmt_only),
                    r => unreachable!("input child {r:?}"),
                }
            }
        }
        Input { name, dtype, shape, shape_span, steps, effects, span }
    }

    fn output(&mut self, pair: Pair<Rule>) -> Output {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("output name"));
        let source = inner.next().map_or_else(|| name.clone(), |p| self.ident(p));
        Output { name, source, span }
    }

    fn layer(&mut self, pair: Pair<Rule>) -> Layer {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("layer name"));
        let op = self.call(inner.next().expect("layer op"));
        let mut profile = None;
        let mut effects = vec![];
        for p in inner {
            match p.as_rule() {
                Rule::on => profile = Some(self.ident(p.into_inner().next().expect("profile"))),
                Rule::effects => effects = self.effects(p),
                r => unreachable!("layer child {r:?}"),
            }
        }
        Layer { name, op, profile, effects, span }
    }

    /// Reports a malformed statement: re-parses it alone with `rule` to find
    /// the position and what was expected there.
    fn explain(&mut self, bad: Pair<Rule>, rule: Rule) {
        let start = bad.as_span().start();
        match Grammar::parse(rule, bad.as_str()) {
            Err(e) => self.report(e, start),
            Ok(_) => {
                let span = self.span(&bad);
                self.diags.push(
                    Diagnostic::error(Code::Syntax, "this statement is not allowed here")
                        .primary(span, "unexpected statement"),
                );
            }
        }
    }

    /// Turns a pest error at `offset` into the file into a diagnostic.
    fn report(&mut self, e: pest::error::Error<Rule>, offset: usize) {
        let mut pos = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        let mut expected: Vec<String> = vec![];
        let mut dropped: Vec<String> = vec![];
        // The furthest position any rule reached explains the error best; the
        // variant's `positives` describe the position pest gave up at.
        match e.parse_attempts() {
            Some(attempts) if attempts.max_position >= pos => {
                pos = attempts.max_position;
                for stack in &attempts.call_stacks {
                    if let Some(name) = stack.deepest.get_rule().copied().and_then(rule_name) {
                        expected.push(name.to_string());
                    }
                }
                for token in attempts.expected_tokens() {
                    let t = token.to_string();
                    // Character ranges (`a..z`) are the inside of names, said already.
                    let range = t.chars().count() == 4 && &t[1..3] == "..";
                    // The insides of numbers, units and strings: "a number" says it.
                    let inner = matches!(t.as_str(), "E" | "e" | "." | "+" | "-" | "/" | "%" | "\"" | "_");
                    if !range && !t.trim().is_empty() && !matches!(t.as_str(), "//" | ";" | "BUILTIN_RULE") {
                        if inner {
                            dropped.push(t);
                        } else {
                            expected.push(format!("`{t}`"));
                        }
                    }
                }
            }
            _ => {
                if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
                    expected.extend(positives.iter().filter_map(|r| rule_name(*r)).map(str::to_string));
                }
            }
        }
        // Tokens that only start or continue a value: "a value" says it, unless
        // nothing else is expected (an unterminated string still wants `"`).
        if expected.is_empty() {
            expected.extend(dropped.iter().map(|t| format!("`{t}`")));
        } else if dropped.iter().any(|t| matches!(t.as_str(), "\"" | "-" | "."))
            && !expected.iter().any(|e| matches!(e.as_str(), "a number" | "a string"))
        {
            expected.push("a value".into());
        }
        expected.sort();
        expected.dedup();
        let pos = (offset + pos).min(self.text.len());
        // Point at the next token, not at the blanks before it.
        let pos = pos + (self.text[pos..].len() - self.text[pos..].trim_start_matches([' ', '\t']).len());
        let (found, len) = describe_found(&self.text[pos..]);
        let span = Span::new(self.file, pos, pos + len);
        // At the end of the file, an open block is the one thing worth saying.
        let unclosed = pos == self.text.len() && expected.iter().any(|e| e == "`}`");
        if unclosed {
            self.diags.push(
                Diagnostic::error(Code::Syntax, "expected `}`, found end of file")
                    .primary(span, "the file ends here")
                    .help("a `{` is never closed"),
            );
            return;
        }
        let message = match expected.len() {
            0 => format!("unexpected {found}"),
            _ => format!("expected {}, found {found}", join_or(&expected)),
        };
        self.diags.push(Diagnostic::error(Code::Syntax, message).primary(span, format!("unexpected {found}")));
    }
}

fn trimmed_end(text: &str, start: usize, mut end: usize) -> usize {
    loop {
        let trimmed = text[start..end].trim_end_matches([' ', '\t', '\r', '\n']);
        end = start + trimmed.len();
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&trimmed[line_start..]) {
            Some(c) => end = start + line_start + c,
            None => return end,
        }
    }
}

/// Where a `//` comment starts in `line`, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '/' if !in_string && line[i..].starts_with("//") => return Some(i),
            _ => {}
        }
    }
    None
}

/// What stands at the start of `rest`, for "found …", and its length in bytes.
fn describe_found(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else { return ("end of file".into(), 0) };

    if c == '\n' || c == '\r' {
        return ("end of line".into(), 0);
    }
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.').collect();
        return (format!("`{word}`"), word.len());
    }
    (format!("`{c}`"), c.len_utf8())
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::word | Rule::ident_chars => "a name",
        Rule::number | Rule::quantity => "a number",
        Rule::string => "a string",
        Rule::list | Rule::shape => "a list `[...]`",
        Rule::args => "arguments `(...)`",
        Rule::unit => "a unit",
        Rule::effect => "an effect",
        Rule::call => "an operation",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
