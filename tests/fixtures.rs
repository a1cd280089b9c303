//! Fixture folders by outcome, one `insta::glob!` test each:
//! - `parse-ok/`: parses cleanly → the AST dump;
//! - `parse-err/`: syntax errors → the rendered diagnostics;
//! - `check-err/NAME.anl`, NAME starting with a code (`E0101-…`): the front
//!   end reports that code → the rendered diagnostics.
//!
//! Plus: every example and profile checks clean, every code has a fixture.

mod support;

use analogc::check::{check_file, parse_file, FrontEnd};
use analogc::diag::{render, Code, Severity};
use analogc::syntax::{ast, print_file};
use std::path::Path;
use support::{anl_files, repo, Rooted};

fn fixtures() -> std::path::PathBuf {
    repo().join("tests/fixtures")
}

/// Runs `f` on `path` relative to the fixtures folder, so diagnostics name it
/// `check-err/….anl` whatever the machine.
fn relative(path: &Path) -> std::path::PathBuf {
    path.strip_prefix(fixtures()).expect("fixture below tests/fixtures").to_path_buf()
}

fn rendered(fe: &FrontEnd) -> String {
    render::to_string(&fe.map, &fe.diags.list)
}

#[test]
fn parse_ok() {
    insta::glob!("fixtures/parse-ok/*.anl", |path| {
        let loader = Rooted::new(fixtures());
        let fe = parse_file(&relative(path), &loader);
        assert!(fe.diags.list.is_empty(), "unexpected diagnostics:\n{}", rendered(&fe));
        let ast = fe.ast.as_ref().expect("parsed");
        assert_spans_nest(ast);
        insta::assert_snapshot!(print_file(ast));
    });
}

#[test]
fn parse_err() {
    insta::glob!("fixtures/parse-err/*.anl", |path| {
        let loader = Rooted::new(fixtures());
        let fe = parse_file(&relative(path), &loader);
        assert!(fe.diags.has_errors(), "no syntax error reported");
        for d in &fe.diags.list {
            assert!(matches!(d.code, Code::Syntax | Code::BadNumber), "not a syntax error: {}", d.code.as_str());
        }
        insta::assert_snapshot!(rendered(&fe));
    });
}

#[test]
fn check_err() {
    insta::glob!("fixtures/check-err/*.anl", |path| {
        let loader = Rooted::new(fixtures());
        let fe = check_file(&relative(path), &loader);
        let name = path.file_name().unwrap().to_string_lossy();
        let code = &name[..5];
        assert!(
            fe.diags.list.iter().any(|d| d.code.as_str() == code),
            "{name} should report {code}, got:\n{}",
            rendered(&fe)
        );
        if code.starts_with('E') {
            assert!(fe.model.is_none(), "a model came back despite errors");
        }
        insta::assert_snapshot!(rendered(&fe));
    });
}

#[test]
fn every_code_has_a_fixture() {
    let names: Vec<String> = ["parse-err", "check-err"]
        .iter()
        .flat_map(|d| anl_files(&fixtures().join(d)))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Codes about the command line and run-time data have no model file to
    // show them: `tests/cli.rs` triggers each of those instead (`tests/import.rs`
    // the ONNX importer's, each with a file in `tests/fixtures/import/bad/`).
    let cli_tests = ["tests/cli.rs", "tests/sweep.rs", "tests/analyze.rs", "tests/import.rs"]
        .map(|f| std::fs::read_to_string(repo().join(f)).unwrap())
        .concat();
    let missing: Vec<_> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !names.iter().any(|n| n.starts_with(c)) && !cli_tests.contains(c))
        .collect();
    assert!(missing.is_empty(), "codes without a fixture `CODE-….anl` or a CLI test: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(repo().join("docs/errors.md")).expect("docs/errors.md");
    let missing: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).filter(|c| !doc.contains(&format!("## {c}"))).collect();
    assert!(missing.is_empty(), "codes without a `## CODE` section in docs/errors.md: {missing:?}");
}

#[test]
fn examples_and_profiles_check_clean() {
    let root = repo();
    let loader = Rooted::new(root.clone());
    let files = anl_files(&root.join("examples"));
    assert!(files.len() >= 4, "examples are missing");
    for file in files {
        let path = Path::new("examples").join(&file);
        let fe = check_file(&path, &loader);
        assert!(fe.diags.list.is_empty(), "{} does not check clean:\n{}", path.display(), rendered(&fe));
        let ast = fe.ast.as_ref().expect("parsed");
        assert_spans_nest(ast);
        let has_model = ast.items.iter().any(|i| matches!(i, ast::Item::Model(_)));
        assert_eq!(fe.model.is_some(), has_model, "{}", path.display());
    }
}

#[test]
fn showcase_model_reads_in_40_lines() {
    let text = std::fs::read_to_string(repo().join("examples/mnist_mlp.anl")).unwrap();
    assert!(text.lines().count() <= 40, "examples/mnist_mlp.anl has {} lines", text.lines().count());
    let fe = check_file(Path::new("examples/mnist_mlp.anl"), &Rooted::new(repo()));
    let model = fe.model.expect("checks clean");
    use analogc::check::hardware::{Accumulate, Format, Multiplier};
    let hw = |name: &str| &model.layers.iter().find(|l| l.name == name).unwrap().hardware;
    assert!(matches!(hw("fc1").accumulate.as_ref().unwrap().value, Accumulate::Ordered { .. }));
    assert!(matches!(hw("fc2").format(), Format::Abfp { .. }));
    assert!(matches!(hw("fc3").multiplier.as_ref().unwrap().value, Multiplier::Table { .. }));
    for layer in &model.layers {
        assert!(layer.hardware.noise.is_some(), "{} has no noise", layer.name);
    }
    assert!(model.inputs[0].hardware.noise.is_some());
}

#[test]
fn warnings_do_not_fail_a_check() {
    let path = fixtures().join("check-err/W0001-unused-layer.anl");
    let fe = check_file(&relative(&path), &Rooted::new(fixtures()));
    assert!(fe.diags.list.iter().all(|d| d.severity == Severity::Warning));
    assert!(fe.model.is_some());
}

/// Every node's span lies within its parent's (the ruff invariant).
fn assert_spans_nest(file: &ast::File) {
    fn inside(child: analogc::source::Span, parent: analogc::source::Span, what: &str) {
        assert!(
            child.file == parent.file && child.start >= parent.start && child.end <= parent.end,
            "{what} span {child:?} is outside its parent {parent:?}"
        );
    }
    fn call(c: &ast::Call, parent: analogc::source::Span) {
        inside(c.span, parent, "call");
        inside(c.name.span, c.span, "call name");
        for a in &c.args {
            inside(a.span, c.span, "argument");
            inside(a.value.span, a.span, "value");
        }
    }
    fn effects(list: &[ast::Effect], parent: analogc::source::Span) {
        for e in list {
            inside(e.span, parent, "effect");
            inside(e.key.span, e.span, "effect key");
            call(&e.design, e.span);
        }
    }
    for item in &file.items {
        match item {
            ast::Item::Import(i) => inside(i.path.span, i.span, "import path"),
            ast::Item::Profile(p) => {
                inside(p.name.span, p.span, "profile name");
                effects(&p.effects, p.span);
            }
            ast::Item::Model(m) => {
                inside(m.name.span, m.span, "model name");
                for s in &m.stmts {
                    match s {
                        ast::Stmt::Weights(w) | ast::Stmt::Data(w) => inside(w.span, m.span, "weights"),
                        ast::Stmt::Input(i) => {
                            inside(i.span, m.span, "input");
                            inside(i.shape_span, i.span, "shape");
                            i.steps.iter().for_each(|s| call(s, i.span));
                            effects(&i.effects, i.span);
                        }
                        ast::Stmt::Layer(l) => {
                            inside(l.span, m.span, "layer");
                            call(&l.op, l.span);
                            effects(&l.effects, l.span);
                        }
                        ast::Stmt::Output(o) => inside(o.span, m.span, "output"),
                    }
                }
            }
        }
    }
}

/// A file full of unknown names: each is reported, "did you mean" while its
/// comparison budget lasts, and the work stays linear in the file (the budget,
/// not the wall clock, is what bounds it).
#[test]
fn many_unknown_names_are_each_reported_within_the_suggestion_budget() {
    let n = 4000;
    let mut text = String::from("model big {\n  input x: f32[4]\n");
    for i in 0..n {
        text.push_str(&format!("  h{i} = relu(h{i}x)\n"));
    }
    text.push_str("  output y = x\n}\n");
    let fe = analogc::check::check_source(Path::new("big.anl"), text, &Rooted::new(repo()));
    let unknown: Vec<_> = fe.diags.list.iter().filter(|d| d.code == Code::UnknownName).collect();
    assert_eq!(unknown.len(), n);
    let suggested = unknown.iter().filter(|d| d.notes.iter().any(|n| n.contains("did you mean"))).count();
    // Each comparison set is every name of the model (4001): the budget pays for about 65.
    let per_name = n + 1;
    assert!(suggested > 0 && suggested <= analogc::diag::SUGGESTION_BUDGET / per_name, "{suggested}");
}

/// Profiles declared derived first, each extending the next: every one
/// resolves to its whole chain (each profile is resolved once, so this is
/// linear; `bench/check_scaling.py` measures it).
#[test]
fn a_long_extends_chain_resolves_every_profile_to_its_whole_chain() {
    let n = 300;
    let mut text = String::new();
    for i in (1..n).rev() {
        text.push_str(&format!("profile p{i} extends p{} {{ }}\n", i - 1));
    }
    text.push_str("profile p0 { noise multiplicative(sigma = 0.1) }\nmodel m {\n  input x: f32[4]\n");
    for i in 0..n {
        text.push_str(&format!("  h{i} = relu(x) on p{i}\n"));
    }
    text.push_str("  output y = h0\n}\n");
    let fe = analogc::check::check_source(Path::new("chain.anl"), text, &Rooted::new(repo()));
    let model = fe.model.as_ref().unwrap_or_else(|| panic!("{}", rendered(&fe)));
    assert_eq!(model.layers.len(), n);
    // The noise and where it is written; `via` is where each layer applies its profile.
    let noise = |l: &analogc::check::model::CheckedLayer| {
        let n = l.hardware.noise.as_ref().expect("inherited");
        format!("{:?} at {:?}", n.value, n.span)
    };
    let first = noise(&model.layers[0]);
    assert!(first.contains("Multiplicative { sigma: 0.1 }"), "{first}");
    for l in &model.layers {
        assert_eq!(noise(l), first, "{} inherits p0's noise through the chain", l.name);
    }
}
