//! The front end after parsing: imports, profiles, and the model's checks.
//! [`check_file`] runs the whole front end; every problem found becomes a
//! diagnostic, and a model comes back only when there is no error.

pub(crate) mod args;
mod data;
pub mod effects;
mod fit;
pub mod hardware;
pub mod model;
pub mod ops;
mod profiles;
mod settings;
mod shapes;
mod value;
mod weights;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, Loader, SourceMap, Span};
use crate::stdlib;
use crate::syntax::{self, ast};
pub use model::CheckedModel;
use std::path::{Component, Path, PathBuf};

/// Everything one front-end run produced.
pub struct FrontEnd {
    pub map: SourceMap,
    pub diags: Diagnostics,
    /// The root file's syntax tree (when it could be read).
    pub ast: Option<ast::File>,
    /// The checked model, when the root file has one and no error was found.
    pub model: Option<CheckedModel>,
}

/// Parses the file at `path` (no checks).
pub fn parse_file(path: &Path, loader: &dyn Loader) -> FrontEnd {
    let mut fe = FrontEnd { map: SourceMap::default(), diags: Diagnostics::default(), ast: None, model: None };
    let Some(text) = read_root(path, loader, &mut fe.diags) else { return fe };
    let id = fe.map.add(path.to_path_buf(), text);
    let file = syntax::parse(id, &fe.map.get(id).text.clone(), &mut fe.diags);
    fe.ast = Some(file);
    fe
}

fn read_root(path: &Path, loader: &dyn Loader, diags: &mut Diagnostics) -> Option<String> {
    match loader.read_source(path) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(Diagnostic::error(Code::FileUnreadable, format!("cannot read `{}`: {e}", path.display())));
            None
        }
    }
}

/// Runs the whole front end on the file at `path`.
pub fn check_file(path: &Path, loader: &dyn Loader) -> FrontEnd {
    check_file_with(path, loader, &[])
}

/// Runs the whole front end on the file at `path`, with `--set` overrides.
pub fn check_file_with(path: &Path, loader: &dyn Loader, settings: &[String]) -> FrontEnd {
    check_file_for(path, loader, settings, Options::default())
}

/// What the front end checks beyond the file itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Check the model's `data` folder (a command given another dataset does not read it).
    pub own_data: bool,
    /// The most values one tensor of one sample may hold (outputs, a conv's
    /// patches), and a tenth of the most multiply-accumulates per layer and sample.
    pub max_elements: u64,
    /// A model that is to be trained from scratch may name no weights file:
    /// its layers then get zero tensors of the right shapes (named as they
    /// would be looked up in a file) instead of error E0601.
    pub untrained: bool,
    /// A weights file that replaces the one the model names (`--weights`):
    /// a path as given, not relative to the model file.
    pub weights: Option<PathBuf>,
}

/// 2^24 values: 64 MiB of f32 per tensor and sample. The JIT holds 64
/// samples per thread, so a model at the limit needs a few GiB per thread.
pub const MAX_ELEMENTS: u64 = 1 << 24;

impl Default for Options {
    fn default() -> Self {
        Options { own_data: true, max_elements: MAX_ELEMENTS, untrained: false, weights: None }
    }
}

/// As [`check_file_with`], with [`Options`].
pub fn check_file_for(path: &Path, loader: &dyn Loader, settings: &[String], options: Options) -> FrontEnd {
    let mut diags = Diagnostics::default();
    match read_root(path, loader, &mut diags) {
        Some(text) => check_source_with(path, text, loader, settings, options),
        None => FrontEnd { map: SourceMap::default(), diags, ast: None, model: None },
    }
}

/// Runs the whole front end on `text`, as if read from `path` (imports and
/// weights are found relative to it).
pub fn check_source(path: &Path, text: String, loader: &dyn Loader) -> FrontEnd {
    check_source_with(path, text, loader, &[], Options::default())
}

fn check_source_with(
    path: &Path,
    text: String,
    loader: &dyn Loader,
    settings: &[String],
    options: Options,
) -> FrontEnd {
    let mut c = Checker { loader, map: SourceMap::default(), diags: Diagnostics::default(), files: vec![], options };
    let root = c.load(normalize(path), text, None);
    // The replacement weights file gets a source of its own, for diagnostics to point at.
    let weights = c.options.weights.clone().map(|p| {
        let text = p.display().to_string();
        let id = c.map.add(PathBuf::from("--weights"), text.clone());
        (p, Span::new(id, 0, text.len()))
    });
    let syntax_ok = !c.diags.has_errors();
    if syntax_ok {
        for s in settings {
            let id = c.map.add(PathBuf::from("--set"), s.clone());
            let Some(setting) = syntax::parse_setting(id, s, &mut c.diags) else { continue };
            let mut files: Vec<&mut ast::File> = c.files.iter_mut().map(|f| &mut f.ast).collect();
            settings::apply(&mut files, &setting, &mut c.diags);
        }
    }
    let fe_ast = c.files.iter().find(|f| f.id == root).map(|f| f.ast.clone());
    // A bad `--set` does not hide what the checks would say about the rest.
    let model = if syntax_ok { c.check_all(root, weights) } else { None };
    let model = if c.diags.has_errors() { None } else { model };
    FrontEnd { map: c.map, diags: c.diags, ast: fe_ast, model }
}

struct Loaded {
    id: FileId,
    path: PathBuf,
    ast: ast::File,
}

struct Checker<'a> {
    loader: &'a dyn Loader,
    map: SourceMap,
    diags: Diagnostics,
    files: Vec<Loaded>,
    options: Options,
}

/// A path with `.` and `a/..` removed, so one file is one path.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `import "std/NAME"` with no library file `NAME`.
fn unknown_std_file(name: &str, span: Span) -> Diagnostic {
    let names: Vec<&str> = stdlib::FILES.iter().map(|(n, _)| *n).collect();
    Diagnostic::error(Code::UnknownStdFile, format!("the standard library has no `{name}`"))
        .primary(span, "imported here")
        .suggest(name, names.iter().copied())
        .note(format!("the standard library (`{}NAME`, shipped with analogc): {}", stdlib::PREFIX, names.join(", ")))
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Checker<'_> {
    /// Parses `text` as the file at `path` and, depth first, every file it
    /// imports. `chain` is the import stack, to find cycles.
    fn load(&mut self, path: PathBuf, text: String, chain: Option<&[(PathBuf, Span)]>) -> FileId {
        let id = self.map.add(path.clone(), text);
        let text = self.map.get(id).text.clone();
        let file = syntax::parse(id, &text, &mut self.diags);
        let imports: Vec<ast::Import> = file
            .items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Import(imp) => Some(imp.clone()),
                _ => None,
            })
            .collect();
        self.files.push(Loaded { id, path: path.clone(), ast: file });
        let mut stack: Vec<(PathBuf, Span)> = chain.map(<[_]>::to_vec).unwrap_or_default();
        stack.push((path.clone(), Span::new(id, 0, 0)));
        for imp in imports {
            let library = stdlib::name(&imp.path.value);
            let target = match library {
                Some(_) => PathBuf::from(&imp.path.value),
                None => normalize(&dir_of(&path).join(&imp.path.value)),
            };
            if let Some(pos) = stack.iter().position(|(p, _)| *p == target) {
                let cycle: Vec<String> = stack[pos..].iter().map(|(p, _)| p.display().to_string()).collect();
                self.diags.push(
                    Diagnostic::error(
                        Code::ImportCycle,
                        format!("`{}` imports itself through a cycle", target.display()),
                    )
                    .primary(imp.path.span, "this import closes the cycle")
                    .note(format!("cycle: {} → {}", cycle.join(" → "), target.display())),
                );
                continue;
            }
            if self.files.iter().any(|f| f.path == target) {
                continue;
            }
            let text = match library {
                Some(name) => match stdlib::source(name) {
                    Some(text) => text.to_string(),
                    None => {
                        self.diags.push(unknown_std_file(name, imp.path.span));
                        continue;
                    }
                },
                None => match self.loader.read_source(&target) {
                    Ok(text) => text,
                    Err(e) => {
                        self.diags.push(
                            Diagnostic::error(
                                Code::ImportNotFound,
                                format!("cannot import `{}`: {e}", target.display()),
                            )
                            .primary(imp.path.span, "imported here")
                            .note("an import path is relative to the file that imports it"),
                        );
                        continue;
                    }
                },
            };
            let mut inner = stack.clone();
            inner.last_mut().expect("pushed").1 = imp.span;
            self.load(target, text, Some(&inner));
        }
        id
    }

    fn check_all(&mut self, root: FileId, weights: Option<(PathBuf, Span)>) -> Option<CheckedModel> {
        let profiles = profiles::resolve(&self.files, self.loader, &mut self.diags);
        let mut models = vec![];
        for f in &self.files {
            for item in &f.ast.items {
                if let ast::Item::Model(m) = item {
                    if f.id == root {
                        models.push(m);
                    } else {
                        self.diags.push(
                            Diagnostic::error(
                                Code::ModelInImport,
                                format!("imported file `{}` defines model `{}`", f.path.display(), m.name.name),
                            )
                            .primary(m.name.span, "a model here")
                            .note("imported files hold profiles only; put the model in its own file"),
                        );
                    }
                }
            }
        }
        for extra in models.iter().skip(1) {
            self.diags.push(
                Diagnostic::error(Code::MultipleModels, format!("a second model `{}` in one file", extra.name.name))
                    .primary(extra.name.span, "second model")
                    .secondary(models[0].name.span, "first model")
                    .help("one model per file; share hardware between files with profiles and `import`"),
            );
        }
        let model = *models.first()?;
        let root_path = &self.files.iter().find(|f| f.id == root).expect("root loaded").path;
        let dir = dir_of(root_path);
        let mut mc = model::ModelChecker {
            loader: self.loader,
            dir: &dir,
            profiles: &profiles,
            diags: &mut self.diags,
            defining: None,
            options: self.options.clone(),
            weights,
        };
        let checked = mc.check(model);
        if self.diags.has_errors() {
            None
        } else {
            checked
        }
    }
}
