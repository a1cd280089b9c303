//! `analogc import`: every ONNX fixture of `tests/fixtures/import` (made by
//! its `make.py` with the `onnx` helper API) and of `tests/fixtures/import/torch`
//! (exported by PyTorch, by `torch/make.py`) imports to a model whose text is
//! pinned, which checks clean, and whose `analogc run` equals the expected
//! outputs (`onnx.reference`'s, PyTorch's) within `TOLERANCE`; every file of
//! `bad/` gives its diagnostic and exit 1.

mod support;

use analog_runtime::npy;
use analogc::import::{import_onnx, ImportOptions, InputDtype};
use std::path::PathBuf;
use std::process::{Command, Output};
use support::repo;

/// |ours − expected| ≤ ABS + REL·|expected|: f32 sums in another order than
/// numpy's or PyTorch's differ in the last bits, never more in these small
/// networks (PyTorch's exports: 1.8e-7 at most).
const TOLERANCE: (f32, f32) = (1e-5, 1e-4);

const NETWORKS: &[&str] = &[
    "mlp",
    "lenet5",
    "residual",
    "depthwise",
    "flatten_chain",
    "old_opset",
    "global_max",
    "cnn_ops",
    "clip_attributes",
    "conv1d",
    "padding",
    "conv1d_ops",
];

/// PyTorch's own exports (`torch.onnx.export`), in `torch/`: the networks of
/// issue 14's done-when, and its layers' (asymmetric padding, a zero pad,
/// Hardswish / Hardsigmoid at opsets 17 and 13, a 1-D net with batch norm and pooling).
const TORCH_EXPORTS: &[&str] =
    &["mlp", "lenet5", "resnet", "depthwise", "conv1d", "padding", "mobilenet", "mobilenet13", "conv1d_bn"];

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/import")
}

/// Every network: the folder of its files, its name, and its snapshot's name.
fn all_networks() -> Vec<(PathBuf, &'static str, String)> {
    let helper = NETWORKS.iter().map(|n| (fixtures(), *n, n.to_string()));
    let torch = TORCH_EXPORTS.iter().map(|n| (fixtures().join("torch"), *n, format!("torch_{n}")));
    helper.chain(torch).collect()
}

fn analogc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_analogc")).args(args).current_dir(repo()).output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("analogc-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn generated_models_are_pinned() {
    for (dir, name, snapshot) in all_networks() {
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        let imported = import_onnx(&bytes, &ImportOptions { name: name.to_string(), ..Default::default() })
            .unwrap_or_else(|e| panic!("{snapshot}: {e}"));
        insta::assert_snapshot!(snapshot, imported.anl);
    }
}

#[test]
fn imported_models_check_clean_and_run_as_onnx() {
    for (dir, name, snapshot) in all_networks() {
        let out = scratch(&snapshot);
        let onnx = dir.join(format!("{name}.onnx"));
        let r = analogc(&["import", onnx.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(0), "{snapshot}: {}", text(&r.stderr));
        assert!(text(&r.stdout).starts_with("wrote "), "{}", text(&r.stdout));
        let anl = out.join(format!("{name}.anl"));
        let r = analogc(&["check", anl.to_str().unwrap()]);
        assert!(r.status.success() && r.stderr.is_empty(), "{snapshot}: {}", text(&r.stderr));
        let result = out.join("out.npy");
        let input = dir.join(format!("{name}.input.npy"));
        for backend in ["interp", "jit"] {
            let r = analogc(&[
                "run",
                anl.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--backend",
                backend,
                "--output",
                result.to_str().unwrap(),
            ]);
            assert_eq!(r.status.code(), Some(0), "{snapshot}: {}", text(&r.stderr));
            let ours = npy::read(&std::fs::read(&result).unwrap()).unwrap();
            let expected = npy::read(&std::fs::read(dir.join(format!("{name}.expected.npy"))).unwrap()).unwrap();
            assert_eq!(ours.data.len(), expected.data.len(), "{snapshot}");
            for (k, (a, b)) in ours.data.iter().zip(&expected.data).enumerate() {
                let (abs, rel) = TOLERANCE;
                assert!((a - b).abs() <= abs + rel * b.abs(), "{snapshot} ({backend}), element {k}: {a} vs {b}");
            }
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn preprocessing_options_become_input_steps() {
    let bytes = std::fs::read(fixtures().join("lenet5.onnx")).unwrap();
    let options = ImportOptions {
        name: "net-1".into(),
        input_dtype: InputDtype::U8,
        scale: Some(1.0 / 255.0),
        normalize: Some((0.1307, 0.3081)),
    };
    let imported = import_onnx(&bytes, &options).unwrap();
    assert_eq!(imported.name, "net_1");
    assert!(
        imported.anl.contains(
            "input x: u8[1, 16, 16] {\n    scale(0.00392156862745098)\n    normalize(mean = 0.1307, std = 0.3081)\n  }\n"
        ),
        "{}",
        imported.anl
    );
    let out = scratch("options");
    let onnx = fixtures().join("lenet5.onnx");
    let args = ["import", onnx.to_str().unwrap(), "--out", out.to_str().unwrap(), "--name", "digits"];
    let r = analogc(&[&args[..], &["--input-dtype", "u8", "--scale", "1/4", "--normalize", "0.5,2"]].concat());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let anl = std::fs::read_to_string(out.join("digits.anl")).unwrap();
    assert!(anl.contains("model digits {") && anl.contains("scale(0.25)\n    normalize(mean = 0.5, std = 2)"), "{anl}");
    assert!(out.join("digits.safetensors").is_file());
    std::fs::remove_dir_all(&out).unwrap();
}

/// Each file of `bad/` is named after the code it must give: E0901 truncated,
/// E0902 an opset out of range, E0903 an unsupported op, a reflecting pad, a
/// pad of ones, a product other than hard_swish's, an average excluding
/// padding and a softmax over channels,
/// E0904 a missing initializer, E0905 a dynamic shape, E0906 a wrong type,
/// E0907 external data.
#[test]
fn malformed_files_give_their_diagnostic_and_exit_1() {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(fixtures().join("bad")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 8);
    let out = scratch("bad");
    for file in &files {
        let code = &file.file_name().unwrap().to_str().unwrap()[..5];
        let r = analogc(&["import", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(1), "{}", file.display());
        let err = text(&r.stderr);
        assert!(err.starts_with(&format!("error[{code}]")), "{}: {err}", file.display());
        assert!(!out.exists(), "{}: wrote something", file.display());
    }
    let r = analogc(&["import", "no/such/file.onnx"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("error[E0901]: cannot read `no/such/file.onnx`"));
}

#[test]
fn diagnostics_name_the_op_the_node_and_what_is_supported() {
    let r = analogc(&["import", "tests/fixtures/import/bad/E0903-unsupported-op.onnx", "--out", "/nonexistent"]);
    let err = text(&r.stderr);
    assert!(err.contains("`Elu` node `/act/Elu`"), "{err}");
    assert!(err.contains("supported ONNX operators: Gemm, MatMul"), "{err}");
}

/// Cut anywhere, or with bytes changed, an ONNX file gives a diagnostic or a
/// model, never a panic (nor an internal error).
#[test]
fn mutated_files_never_panic() {
    let mut state = 14u64;
    for (dir, name, _) in all_networks() {
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        let options = ImportOptions { name: name.to_string(), ..Default::default() };
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            if let Err(e) = import_onnx(&bytes[..cut], &options) {
                assert!(!e.is_internal(), "{name} cut at {cut}: {e}");
            }
        }
        for _ in 0..1000 {
            let mut mutant = bytes.clone();
            for _ in 0..1 + support::splitmix64(&mut state) % 4 {
                let at = (support::splitmix64(&mut state) % mutant.len() as u64) as usize;
                mutant[at] = support::splitmix64(&mut state) as u8;
            }
            if let Err(e) = import_onnx(&mutant, &options) {
                assert!(!e.is_internal(), "{name}: {e}");
            }
        }
    }
}

/// `examples/import`: what the importer writes for each example's ONNX file is
/// pinned, its weights are the file beside the annotated copy, and the
/// annotated copy keeps every line of it, in order, only adding to them
/// (`// added` lines, `on …`).
#[test]
fn the_examples_are_what_the_importer_writes() {
    let lenet5 = ImportOptions {
        name: "mnist_lenet5".into(),
        input_dtype: InputDtype::U8,
        scale: Some(0.00392156862745098),
        normalize: Some((0.1307, 0.3081)),
    };
    same_as_imported("example", &repo().join("examples/import/mnist_lenet5.onnx"), &lenet5);
    // The same input steps: both networks read MNIST normalized as torchvision does.
    let resnet = ImportOptions { name: "mnist_resnet".into(), ..lenet5 };
    same_as_imported("example_resnet", &fixtures().join("torch/resnet.onnx"), &resnet);
}

fn same_as_imported(snapshot: &str, onnx: &std::path::Path, options: &ImportOptions) {
    let dir = repo().join("examples/import");
    let imported = import_onnx(&std::fs::read(onnx).unwrap(), options).unwrap();
    insta::assert_snapshot!(snapshot, imported.anl);
    let weights = dir.join(format!("{}.safetensors", options.name));
    assert!(imported.safetensors == Some(std::fs::read(weights).unwrap()), "{snapshot}");
    let annotated = std::fs::read_to_string(dir.join(format!("{}_analog.anl", options.name))).unwrap();
    let code = |line: &str| line.split("//").next().unwrap().trim_end().to_string();
    let mut lines = annotated.lines();
    for line in imported.anl.lines() {
        let wanted = code(line);
        let found =
            lines.by_ref().any(|a| a.trim() == line.trim() || !wanted.is_empty() && code(a).starts_with(&wanted));
        assert!(found, "the annotated {snapshot} lost `{line}`");
    }
}
