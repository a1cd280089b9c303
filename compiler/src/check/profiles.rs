//! Profiles: every profile of every loaded file, its own effects bound, and
//! `extends` resolved base first (unknown bases and cycles reported).

use super::hardware::Hardware;
use super::{dir_of, effects, Loaded};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Loader, Span};
use crate::syntax::ast;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// A profile's definition and the folder its file is in.
type Defs<'f> = HashMap<String, (&'f ast::Profile, PathBuf)>;

/// Each profile's effective hardware (its bases' effects under its own) and
/// where it is defined. A profile whose `extends` chain is broken was
/// reported and resolves to the ideal hardware, so layers using it get no
/// further error.
pub(super) fn resolve(
    files: &[Loaded],
    loader: &dyn Loader,
    diags: &mut Diagnostics,
) -> HashMap<String, (Hardware, Span)> {
    let defs = definitions(files, diags);
    let mut names: Vec<&String> = defs.keys().collect();
    names.sort_by_key(|n| (defs[*n].0.span.file, defs[*n].0.span.start));
    let mut own: HashMap<&str, Hardware> = HashMap::new();
    for name in &names {
        let (p, dir) = &defs[*name];
        let ctx = effects::Ctx { loader, dir };
        own.insert(name.as_str(), effects::bind_block(&p.effects, &ctx, diags));
    }
    let mut done: HashMap<String, (Hardware, Span)> = HashMap::new();
    let mut in_cycle: HashSet<String> = HashSet::new();
    let mut broken = vec![];
    for name in names {
        let Some(chain) = chain(name, &defs, &done, &mut in_cycle, diags) else {
            broken.push(name.clone());
            continue;
        };
        // Fold base to derived. Every profile on the way is resolved too, so no
        // chain is walked twice: linear in the number of profiles.
        let mut hw = Hardware::default();
        for n in chain.iter().rev() {
            hw = match done.get(*n) {
                Some((h, _)) => h.clone(),
                None => hw.overlay(&own[*n]),
            };
            done.entry(n.to_string()).or_insert_with(|| (hw.clone(), defs[*n].0.span));
        }
    }
    for name in broken {
        let span = defs[name.as_str()].0.span;
        done.insert(name, (Hardware::default(), span));
    }
    done
}

/// Every profile definition; `digital` and second definitions are reported.
fn definitions<'f>(files: &'f [Loaded], diags: &mut Diagnostics) -> Defs<'f> {
    let mut defs: Defs = HashMap::new();
    for f in files {
        for item in &f.ast.items {
            let ast::Item::Profile(p) = item else { continue };
            if p.name.name == "digital" {
                diags.push(
                    Diagnostic::error(Code::DuplicateProfile, "`digital` is the built-in ideal profile")
                        .primary(p.name.span, "cannot be redefined")
                        .help("choose another name, and write `extends digital` if you mean to start from it"),
                );
                continue;
            }
            if let Some((first, _)) = defs.get(&p.name.name) {
                diags.push(
                    Diagnostic::error(Code::DuplicateProfile, format!("profile `{}` is defined twice", p.name.name))
                        .primary(p.name.span, "defined again here")
                        .secondary(first.name.span, "first defined here"),
                );
                continue;
            }
            defs.insert(p.name.name.clone(), (p, dir_of(&f.path)));
        }
    }
    defs
}

/// The `extends` chain from `name` down to its base (or to a profile already
/// resolved in `done`), derived first; `None` when it is broken: an unknown
/// base, or a cycle (reported once, at the member that closes it).
fn chain<'d>(
    name: &'d str,
    defs: &'d Defs,
    done: &HashMap<String, (Hardware, Span)>,
    in_cycle: &mut HashSet<String>,
    diags: &mut Diagnostics,
) -> Option<Vec<&'d str>> {
    let mut chain: Vec<&str> = vec![];
    // Where each member is in `chain`, to find a cycle in constant time.
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut cur = name;
    loop {
        if let Some(&pos) = at.get(cur) {
            let cycle = &chain[pos..];
            if !cycle.iter().any(|c| in_cycle.contains(*c)) {
                in_cycle.extend(cycle.iter().map(|c| c.to_string()));
                report_cycle(cycle, cur, defs, diags);
            }
            return None;
        }
        at.insert(cur, chain.len());
        chain.push(cur);
        if done.contains_key(cur) {
            return Some(chain);
        }
        match &defs[cur].0.extends {
            None => return Some(chain),
            Some(b) if b.name == "digital" => return Some(chain),
            Some(b) if defs.contains_key(&b.name) => cur = defs.get_key_value(&b.name).expect("present").0,
            Some(b) => {
                let known = diags.budgeted(defs.keys().map(String::as_str).chain(["digital"]));
                diags.push(
                    Diagnostic::error(
                        Code::UnknownProfile,
                        format!("profile `{}` extends unknown profile `{}`", cur, b.name),
                    )
                    .primary(b.span, "unknown profile")
                    .suggest(&b.name, known),
                );
                return None;
            }
        }
    }
}

fn report_cycle(cycle: &[&str], cur: &str, defs: &Defs, diags: &mut Diagnostics) {
    let last = defs[*cycle.last().expect("non-empty")].0;
    let message = match cycle.len() {
        1 => format!("profile `{cur}` extends itself"),
        _ => format!(
            "profiles {} extend each other",
            cycle.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    diags.push(
        Diagnostic::error(Code::ProfileCycle, message)
            .primary(last.extends.as_ref().map_or(last.name.span, |e| e.span), "closes the cycle")
            .note(format!("cycle: {} → {cur}", cycle.join(" → "))),
    );
}
