//! The graph IR before and after the pass pipeline, snapshotted for the
//! `lower` fixtures and every example; and the passes keep the meaning: the
//! reference interpreter gives the same outputs before and after them.

mod support;

use analog_runtime::interp::Interpreter;
use analog_runtime::ir::{print_graph, Graph};
use analogc::check::check_file;
use analogc::passes::run_pipeline;
use std::path::Path;
use support::{anl_files, inputs, lowered, repo, Rooted};

fn stages(root: &Path, path: &Path) -> String {
    let mut l = lowered(root, path);
    let ir = print_graph(&l.graph);
    let ran: String = run_pipeline(&mut l).iter().map(|(name, n)| format!("pass {name}: {n} changed\n")).collect();
    format!("## ir\n{ir}\n## passes\n{ran}\n## opt\n{}", print_graph(&l.graph))
}

#[test]
fn lower_fixtures() {
    let root = repo().join("tests/fixtures");
    insta::glob!("fixtures/lower/*.anl", |path| {
        let rel = path.strip_prefix(&root).unwrap();
        insta::assert_snapshot!(stages(&root, rel));
    });
}

#[test]
fn examples() {
    let root = repo();
    for file in anl_files(&root.join("examples")) {
        let path = Path::new("examples").join(&file);
        let fe = check_file(&path, &Rooted::new(root.clone()));
        if fe.model.is_none() {
            continue; // a profile library
        }
        let name = file.to_string_lossy().replace(['/', '.'], "_");
        insta::assert_snapshot!(format!("example_{name}"), stages(&root, &path));
    }
}

fn outputs(g: &Graph, seed: u64, samples: usize) -> Vec<Vec<f32>> {
    let interp = Interpreter::new(g, |p| std::fs::read(p)).expect("tables load");
    let trial = interp.trial(seed, 1);
    (0..samples)
        .flat_map(|s| {
            let x = inputs(g, s);
            let refs: Vec<&[f32]> = x.iter().map(|v| &v[..]).collect();
            interp.run(&trial, s as u32, &refs)
        })
        .collect()
}

/// Passes never renumber noise sites or node uids, so the same draws land in
/// the same places: outputs agree up to the f32 rounding of folding.
#[test]
fn passes_keep_the_meaning() {
    let cases = [
        (repo().join("tests/fixtures"), "lower/all_ops.anl"),
        (repo(), "examples/mnist_mlp.anl"),
        (repo(), "examples/mnist_lenet5.anl"),
    ];
    for (root, file) in cases {
        let mut l = lowered(&root, Path::new(file));
        let before = outputs(&l.graph, 7, 8);
        run_pipeline(&mut l);
        let after = outputs(&l.graph, 7, 8);
        for (b, a) in before.iter().zip(&after) {
            for (x, y) in b.iter().zip(a) {
                // Relative 1e-4: a folded batch-norm rounds its products differently.
                assert!((x - y).abs() <= 1e-4 * x.abs().max(y.abs()).max(1.0), "{file}: {x} before, {y} after");
            }
        }
    }
}
