//! The model file as a run folder holds it: the same text, with its `weights`
//! statement naming the run's weights and every other relative path (imports,
//! `data`, multiplier tables) rewritten to reach the same file from the folder.
//! The edits are made at the spans of the syntax tree; the rest of the text,
//! comments included, stays as written.

use crate::check::normalize;
use crate::diag::Diagnostics;
use crate::source::FileId;
use crate::syntax::ast::{self, Effect, Item, Stmt, StrLit, ValueKind};
use crate::syntax::print::string_literal;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

/// The copy of `source` (the model file, read from `model_dir`) for the
/// folder `out_dir` (both absolute), its weights in `weights` beside it.
pub fn text(source: &str, model_dir: &Path, out_dir: &Path, weights: &str) -> String {
    let file = crate::syntax::parse(FileId(0), source, &mut Diagnostics::default());
    let moved =
        |lit: &StrLit| relocated(&lit.value, model_dir, out_dir).map(|p| (lit.span.range(), string_literal(&p)));
    let mut edits: Vec<(Range<usize>, String)> = vec![];
    for item in &file.items {
        match item {
            // `std/…` names the library the binary carries, not a path.
            Item::Import(imp) if crate::stdlib::name(&imp.path.value).is_some() => {}
            Item::Import(imp) => edits.extend(moved(&imp.path)),
            Item::Profile(p) => edits.extend(tables(&p.effects, &moved)),
            Item::Model(m) => {
                let mut named = false;
                for stmt in &m.stmts {
                    match stmt {
                        Stmt::Weights(w) => {
                            named = true;
                            edits.push((w.span.range(), string_literal(weights)));
                        }
                        Stmt::Data(d) => edits.extend(moved(d)),
                        Stmt::Input(i) => edits.extend(tables(&i.effects, &moved)),
                        Stmt::Layer(l) => edits.extend(tables(&l.effects, &moved)),
                        Stmt::Output(_) => {}
                    }
                }
                if !named {
                    edits.extend(weights_statement(source, m, weights));
                }
            }
        }
    }
    apply_edits(source, edits)
}

/// `source` with each byte range of `edits` (not overlapping) replaced by its text.
pub(crate) fn apply_edits(source: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(source.len() + edits.iter().map(|(_, new)| new.len()).sum::<usize>());
    let mut at = 0;
    for (range, new) in edits {
        out.push_str(&source[at..range.start]);
        out.push_str(&new);
        at = range.end;
    }
    out.push_str(&source[at..]);
    out
}

/// The file argument of every `multiplier table("file", …)` in `effects`, moved.
fn tables(
    effects: &[Effect],
    moved: &impl Fn(&StrLit) -> Option<(Range<usize>, String)>,
) -> Vec<(Range<usize>, String)> {
    let mut edits = vec![];
    for e in effects.iter().filter(|e| e.key.name == "multiplier" && e.design.name.name == "table") {
        let args = &e.design.args;
        let file = args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == "file"))
            .or_else(|| args.iter().find(|a| a.name.is_none()));
        if let Some(ast::Arg { value: ast::Value { kind: ValueKind::Str(s), span }, .. }) = file {
            edits.extend(moved(&StrLit { value: s.clone(), span: *span }));
        }
    }
    edits
}

/// A `weights` statement inserted right after the model's `{` (which is on
/// the line of its name: the grammar allows no line break before it).
fn weights_statement(source: &str, m: &ast::Model, weights: &str) -> Option<(Range<usize>, String)> {
    let after_name = m.name.span.end as usize;
    let brace = after_name + source[after_name..].find('{')? + 1;
    let rest = source[brace..].trim_start_matches([' ', '\t']);
    let line_ends = rest.is_empty() || rest.starts_with(['\n', '\r']) || rest.starts_with("//");
    let statement = format!("\n  weights {}{}", string_literal(weights), if line_ends { "" } else { "\n" });
    Some((brace..brace, statement))
}

/// The path that reaches `model_dir/path` from `out_dir`; `None` for an
/// absolute path (left as written).
fn relocated(path: &str, model_dir: &Path, out_dir: &Path) -> Option<String> {
    if Path::new(path).is_absolute() {
        return None;
    }
    // The front end resolves a path against the file's folder without
    // following links; the folders it then reaches are compared for real.
    let lexical = normalize(&model_dir.join(path));
    let target = std::fs::canonicalize(&lexical).unwrap_or(lexical);
    Some(relative(out_dir, &target).to_string_lossy().into_owned())
}

/// `to` relative to the folder `from` (both absolute): `..` up to their
/// common ancestor, then down.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let (from, to): (Vec<Component>, Vec<Component>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        // No shared root (another drive): only the absolute path reaches it.
        return to.iter().collect();
    }
    let mut out: PathBuf = from[common..].iter().map(|_| Component::ParentDir).collect();
    out.extend(&to[common..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(relative(Path::new("/a/b/run"), Path::new("/a/data/mnist")), PathBuf::from("../../data/mnist"));
        assert_eq!(relative(Path::new("/a"), Path::new("/a/w.safetensors")), PathBuf::from("w.safetensors"));
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), PathBuf::from(""));
    }

    #[test]
    fn paths_are_moved_and_the_weights_named() {
        let source = "import \"chips.anl\" // lib\nprofile p { multiplier table(\"m/t.npy\", layout = torchapprox) }\n\
                      model m {\n  weights \"w/old.safetensors\"\n  data \"/abs/data\"\n  input x: f32[4]\n  \
                      fc = dense(x, 2) { multiplier table(file = \"t\\\"q.npy\", layout = tfapprox) }\n  output y = fc\n}\n";
        let mut diags = Diagnostics::default();
        crate::syntax::parse(FileId(0), source, &mut diags);
        assert!(!diags.has_errors());
        let copy = text(source, Path::new("/proj/models"), Path::new("/proj/runs/r1"), "m.safetensors");
        let expected = "import \"../../models/chips.anl\" // lib\n\
                        profile p { multiplier table(\"../../models/m/t.npy\", layout = torchapprox) }\n\
                        model m {\n  weights \"m.safetensors\"\n  data \"/abs/data\"\n  input x: f32[4]\n  \
                        fc = dense(x, 2) { multiplier table(file = \"../../models/t\\\"q.npy\", layout = tfapprox) }\n  \
                        output y = fc\n}\n";
        assert_eq!(copy, expected);
    }

    #[test]
    fn library_imports_stay_as_written() {
        let source = "import \"std/aihwkit\"\nmodel m {\n  input x: f32[4]\n  output y = x\n}\n";
        let copy = text(source, Path::new("/proj/models"), Path::new("/proj/runs/r1"), "m.st");
        assert!(copy.starts_with("import \"std/aihwkit\"\n"), "{copy}");
    }

    #[test]
    fn a_model_without_weights_gets_a_statement() {
        let copy = text("model m {\n  input x: f32[4]\n  output y = x\n}\n", Path::new("/a"), Path::new("/a"), "m.st");
        assert_eq!(copy, "model m {\n  weights \"m.st\"\n  input x: f32[4]\n  output y = x\n}\n");
        let copy = text("model m { input x: f32[4]; output y = x }", Path::new("/a"), Path::new("/a"), "m.st");
        assert_eq!(copy, "model m {\n  weights \"m.st\"\n input x: f32[4]; output y = x }");
        let mut diags = Diagnostics::default();
        crate::syntax::parse(FileId(0), &copy, &mut diags);
        assert!(!diags.has_errors());
    }
}
