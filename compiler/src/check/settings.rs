//! `--set PATH=VALUE`: overrides an annotation from the command line, by
//! editing the syntax tree before the checks, so an override gets exactly
//! the checks and diagnostics it would get in the file.
//!
//! - `TARGET.KEY=DESIGN(…)` (or a bare word: `fc1.accumulate=exact`) sets a
//!   whole effect on a layer, an input or a profile;
//! - `TARGET.KEY.PARAM=VALUE` sets one parameter of the effect the target has,
//!   its own or inherited from its profile (then copied into its own block).

use super::effects::{designs, KEYS};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::{Arg, Call, Effect, File, Ident, Item, SetValue, Setting, Stmt, ValueKind};

/// Applies `s` to `files` (the root file first). Reports what it cannot apply.
pub fn apply(files: &mut [&mut File], s: &Setting, diags: &mut Diagnostics) {
    let fail = |diags: &mut Diagnostics, at: &Ident, msg: String| {
        diags.push(Diagnostic::error(Code::BadSetting, msg).primary(at.span, "in this `--set`"));
    };
    if s.path.len() > 3 {
        fail(diags, &s.path[3], "a `--set` path is TARGET.EFFECT or TARGET.EFFECT.PARAMETER".into());
        return;
    }
    let (target, key) = (&s.path[0], &s.path[1]);
    if !KEYS.contains(&key.name.as_str()) {
        diags.push(
            Diagnostic::error(Code::BadSetting, format!("`{}` is not an effect", key.name))
                .primary(key.span, "not an effect")
                .suggest(&key.name, KEYS.iter().copied())
                .note(format!("effects: {}", KEYS.join(", "))),
        );
        return;
    }
    // The effect the target has now, for a parameter override.
    let inherited = match s.path.len() {
        3 => match current(files, &target.name, &key.name) {
            Some(e) => Some(e),
            None => {
                let known = known_targets(files);
                if known.contains(&target.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::BadSetting,
                            format!("`{}` has no `{}` whose parameter could be set", target.name, key.name),
                        )
                        .primary(key.span, "nothing to change")
                        .help(format!("set the whole effect: --set {}.{}=DESIGN(…)", target.name, key.name)),
                    );
                } else {
                    unknown_target(diags, target, &known);
                }
                return;
            }
        },
        _ => None,
    };
    let effect = match (&s.value, inherited) {
        (SetValue::Call(call), None) => Effect { key: key.clone(), design: call.clone(), span: s.span },
        (SetValue::Value(v), None) => match &v.kind {
            ValueKind::Word(w) => Effect {
                key: key.clone(),
                design: Call { name: Ident { name: w.clone(), span: v.span }, args: vec![], span: v.span },
                span: s.span,
            },
            _ => {
                diags.push(
                    Diagnostic::error(
                        Code::BadSetting,
                        format!("`{}` takes a design, like `additive(sigma = 0.1)`", key.name),
                    )
                    .primary(v.span, "not a design"),
                );
                return;
            }
        },
        (SetValue::Value(v), Some(mut e)) => {
            set_param(&mut e.design, &key.name, &s.path[2], v.clone());
            e
        }
        (SetValue::Call(c), Some(_)) => {
            diags.push(
                Diagnostic::error(Code::BadSetting, "a parameter takes a value, not a design")
                    .primary(c.span, "a design")
                    .help(format!("to set the whole effect: --set {}.{}=…", target.name, key.name)),
            );
            return;
        }
    };
    if !put(files, &target.name, effect) {
        unknown_target(diags, target, &known_targets(files));
    }
}

fn unknown_target(diags: &mut Diagnostics, target: &Ident, known: &[String]) {
    let known = diags.budgeted(known.iter().map(String::as_str));
    diags.push(
        Diagnostic::error(Code::BadSetting, format!("no layer, input or profile named `{}`", target.name))
            .primary(target.span, "unknown")
            .suggest(&target.name, known),
    );
}

fn known_targets(files: &[&mut File]) -> Vec<String> {
    let mut out = vec![];
    for f in files {
        for item in &f.items {
            match item {
                Item::Profile(p) => out.push(p.name.name.clone()),
                Item::Model(m) => out.extend(m.stmts.iter().filter_map(|s| match s {
                    Stmt::Layer(l) => Some(l.name.name.clone()),
                    Stmt::Input(i) => Some(i.name.name.clone()),
                    _ => None,
                })),
                Item::Import(_) => {}
            }
        }
    }
    out
}

/// The effect `key` that `target` has now: its own, or its profile's
/// (following `extends`).
fn current(files: &[&mut File], target: &str, key: &str) -> Option<Effect> {
    let own = |effects: &[Effect]| effects.iter().find(|e| e.key.name == key).cloned();
    let mut profile: Option<String> = None;
    for f in files.iter() {
        for item in &f.items {
            match item {
                Item::Model(m) => {
                    for s in &m.stmts {
                        match s {
                            Stmt::Layer(l) if l.name.name == target => {
                                if let Some(e) = own(&l.effects) {
                                    return Some(e);
                                }
                                profile = l.profile.as_ref().map(|p| p.name.clone());
                            }
                            Stmt::Input(i) if i.name.name == target => return own(&i.effects),
                            _ => {}
                        }
                    }
                }
                Item::Profile(p) if p.name.name == target => profile = Some(target.to_string()),
                _ => {}
            }
        }
    }
    // Follow the profile chain (bounded: a cycle is reported by the checks).
    for _ in 0..64 {
        let name = profile.take()?;
        let p = files.iter().flat_map(|f| f.items.iter()).find_map(|i| match i {
            Item::Profile(p) if p.name.name == name => Some(p),
            _ => None,
        })?;
        if let Some(e) = own(&p.effects) {
            return Some(e);
        }
        profile = p.extends.as_ref().map(|b| b.name.clone());
    }
    None
}

/// Replaces or adds parameter `param` of `design`.
fn set_param(design: &mut Call, key: &str, param: &Ident, value: crate::syntax::ast::Value) {
    let params = designs(key).iter().find(|(d, _)| *d == design.name.name).map_or(&[][..], |(_, p)| *p);
    let slot = params.iter().filter(|p| p.positional).position(|p| p.name == param.name);
    if let Some(k) = slot {
        if let Some(arg) = design.args.iter_mut().filter(|a| a.name.is_none()).nth(k) {
            arg.value = value;
            return;
        }
    }
    design.args.retain(|a| a.name.as_ref().is_none_or(|n| n.name != param.name));
    let span = param.span.to(value.span);
    design.args.push(Arg { name: Some(param.clone()), value, span });
}

/// Puts `effect` into `target`'s own block, replacing one of the same key.
fn put(files: &mut [&mut File], target: &str, effect: Effect) -> bool {
    let replace = |effects: &mut Vec<Effect>, effect: Effect| {
        effects.retain(|e| e.key.name != effect.key.name);
        effects.push(effect);
    };
    for f in files.iter_mut() {
        for item in &mut f.items {
            match item {
                Item::Profile(p) if p.name.name == target => {
                    replace(&mut p.effects, effect);
                    return true;
                }
                Item::Model(m) => {
                    for s in &mut m.stmts {
                        match s {
                            Stmt::Layer(l) if l.name.name == target => {
                                replace(&mut l.effects, effect);
                                return true;
                            }
                            Stmt::Input(i) if i.name.name == target => {
                                replace(&mut i.effects, effect);
                                return true;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    false
}
