//! The `analogc` binary: exit codes (0 ok, 1 user error, 2 internal), where
//! output goes, message formats and colors.

mod support;

use std::process::{Command, Output};
use support::repo;

fn analogc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_analogc")).args(args).current_dir(repo()).output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn clean_check_prints_nothing_and_exits_0() {
    let out = analogc(&["check", "examples/mnist_mlp.anl", "examples/mnist_lenet5.anl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn user_errors_exit_1_with_diagnostics_on_stderr() {
    let out = analogc(&["check", "tests/fixtures/check-err/E0101-unknown-name.anl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("error[E0101]"), "{err}");
    assert!(err.contains("tests/fixtures/check-err/E0101-unknown-name.anl:"), "{err}");
}

#[test]
fn the_standard_library_is_importable_from_outside_the_repository() {
    let dir = std::env::temp_dir().join(format!("analogc-std-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(repo().join("tests/fixtures/data/tiny.safetensors"), dir.join("tiny.safetensors")).unwrap();
    let model = "import \"std/lightmatter\"\nmodel m {\n  weights \"tiny.safetensors\"\n  input x: f32[4]\n  \
                 fc = dense(x, 3) on lightmatter\n  output y = fc\n}\n";
    std::fs::write(dir.join("m.anl"), model).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_analogc")).args(["check", "m.anl"]).current_dir(&dir).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn weights_replaces_the_file_the_model_names() {
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "examples/mnist_mlp_bss2.anl", "--limit", "200", "--json"];
        args.extend_from_slice(extra);
        analogc(&args)
    };
    let own = eval(&[]);
    let given = eval(&["--weights", "examples/weights/mnist_mlp.safetensors"]);
    assert_eq!(given.status.code(), Some(0), "{}", text(&given.stderr));
    // The same accuracies; only the timings differ.
    let results = |out: &Output| text(&out.stdout).split("\"samples_per_second\"").next().unwrap().to_string();
    assert_eq!(results(&own), results(&given));

    let other = eval(&["--weights", "examples/weights/mnist_lenet5.safetensors"]);
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other.stderr).contains("error[E0605]"), "{}", text(&other.stderr));

    let out = analogc(&["check", "examples/mnist_mlp.anl", "--weights", "no/such.safetensors"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[E0602]") && err.contains("--weights:1:1"), "{err}");
    assert!(err.contains("relative to the working directory"), "{err}");
}

#[test]
fn every_file_is_checked_even_after_a_failing_one() {
    let out = analogc(&["check", "tests/fixtures/check-err/E0101-unknown-name.anl", "no/such/file.anl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("E0101") && err.contains("E0010"), "{err}");
}

#[test]
fn missing_file_is_a_user_error() {
    let out = analogc(&["check", "does-not-exist.anl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error[E0010]"));
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let out = analogc(&["--message-format", "json", "check", "tests/fixtures/check-err/E0101-unknown-name.anl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<_> = err.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        assert_eq!(v["severity"], "error");
        assert!(v["code"].as_str().unwrap().starts_with('E'));
        let label = &v["labels"][0];
        assert!(label["line"].as_u64().unwrap() >= 1 && label["column"].as_u64().unwrap() >= 1);
        assert!(label["file"].as_str().unwrap().ends_with(".anl"));
    }
}

#[test]
fn color_always_colors_and_never_does_not() {
    let path = "tests/fixtures/check-err/E0101-unknown-name.anl";
    assert!(text(&analogc(&["--color", "always", "check", path]).stderr).contains("\u{1b}["));
    assert!(!text(&analogc(&["--color", "never", "check", path]).stderr).contains("\u{1b}["));
}

#[test]
fn emit_ast_prints_the_tree_on_stdout() {
    let out = analogc(&["emit", "--stage", "ast", "examples/mnist_mlp.anl"]);
    assert_eq!(out.status.code(), Some(0));
    let tree = text(&out.stdout);
    assert!(tree.starts_with("file\n"));
    assert!(tree.contains("layer fc1 = dense(image, 256) on analog"), "{tree}");
}

#[test]
fn emit_of_a_broken_file_prints_no_tree() {
    let out = analogc(&["emit", "--stage", "ast", "tests/fixtures/parse-err/unclosed-model.anl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_command_lines_are_user_errors_and_help_is_not() {
    assert_eq!(analogc(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(analogc(&["check"]).status.code(), Some(1));
    assert_eq!(analogc(&["emit", "--stage", "nope", "x.anl"]).status.code(), Some(1));
    let help = analogc(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("check"));
    assert_eq!(analogc(&["--version"]).status.code(), Some(0));
}

fn read_npy(path: &std::path::Path) -> Vec<f32> {
    analog_runtime::npy::read(&std::fs::read(path).unwrap()).unwrap().data
}

#[test]
fn run_is_the_same_for_any_thread_count_and_batch() {
    let dir = std::env::temp_dir().join(format!("analogc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let base = ["run", "examples/mnist_mlp.anl", "--seed", "5", "--trial", "2"];
    for (threads, file) in [("1", "t1.npy"), ("2", "t2.npy")] {
        let mut args = base.to_vec();
        args.extend(["--input", "tests/fixtures/run/mnist64.npy", "--threads", threads, "--output"]);
        let path = out(file);
        args.push(&path);
        let r = analogc(&args);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    }
    let (t1, t2) = (read_npy(&dir.join("t1.npy")), read_npy(&dir.join("t2.npy")));
    assert_eq!(t1.len(), 640);
    assert!(t1.iter().zip(&t2).all(|(a, b)| a.to_bits() == b.to_bits()), "threads changed the bits");
    // Sample 0 alone (a batch of one) gives the bits it gets in a batch of 64.
    let mut args = base.to_vec();
    let single = out("one.npy");
    args.extend(["--input", "tests/fixtures/run/mnist_one.npy", "--output", &single]);
    assert_eq!(analogc(&args).status.code(), Some(0));
    let one = read_npy(&dir.join("one.npy"));
    assert!(one.iter().zip(&t1[..10]).all(|(a, b)| a.to_bits() == b.to_bits()), "batch size changed the bits");
    // Another seed gives other bits.
    let mut args = vec![
        "run",
        "examples/mnist_mlp.anl",
        "--seed",
        "6",
        "--trial",
        "2",
        "--input",
        "tests/fixtures/run/mnist_one.npy",
        "--output",
    ];
    let other = out("other.npy");
    args.push(&other);
    assert_eq!(analogc(&args).status.code(), Some(0));
    assert_ne!(read_npy(&dir.join("other.npy")), one);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_prints_outputs_and_classifies_real_digits() {
    let r = analogc(&["run", "examples/mnist_lenet5.anl", "--input", "tests/fixtures/run/mnist_one.npy"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let stdout = text(&r.stdout);
    assert!(stdout.starts_with("logits[0] = ["), "{stdout}");
    assert!(stdout.trim_end().ends_with("argmax 7"), "the first MNIST test image is a 7: {stdout}");
}

#[test]
fn set_overrides_like_the_file_would() {
    let run = |set: &str| {
        analogc(&["run", "examples/mnist_lenet5.anl", "--input", "tests/fixtures/run/mnist_one.npy", "--set", set])
    };
    let zero: Vec<&str> = vec!["conv1", "conv2", "fc1", "fc2", "fc3"];
    // σ = 0 everywhere equals the profile with no noise.
    let mut args = vec!["run", "examples/mnist_lenet5.anl", "--input", "tests/fixtures/run/mnist_one.npy"];
    let sets: Vec<String> = zero.iter().map(|l| format!("{l}.noise.sigma=0")).collect();
    for s in &sets {
        args.extend(["--set", s]);
    }
    let quiet = text(&analogc(&args).stdout);
    let mut args = vec![
        "run",
        "examples/mnist_lenet5.anl",
        "--input",
        "tests/fixtures/run/mnist_one.npy",
        "--set",
        "read_noise.noise=none",
    ];
    let none = text(&analogc(&args).stdout);
    assert_eq!(quiet, none);
    args.truncate(4);
    assert_ne!(text(&analogc(&args).stdout), none, "the example is noisy by default");
    // Bad values get the file's diagnostics, pointing into the --set text.
    let r = run("fc1.noise.sigma=-1");
    assert_eq!(r.status.code(), Some(1));
    let err = text(&r.stderr);
    assert!(err.contains("error[E0303]") && err.contains("--set:1:"), "{err}");
    let r = run("fc9.noise.sigma=1");
    assert!(text(&r.stderr).contains("error[E0016]") && text(&r.stderr).contains("did you mean `fc1`?"));
    let r = run("fc1.nosie.sigma=1");
    assert!(text(&r.stderr).contains("did you mean `noise`?"));
    let r = run("a1.noise.sigma=1");
    assert!(text(&r.stderr).contains("has no `noise`"), "{}", text(&r.stderr));
    let r = run("fc1.noise=additive(sigma = 2 lsb)");
    assert!(text(&r.stderr).contains("error[E0403]"), "{}", text(&r.stderr));
    assert_eq!(run("fc1.noise = ").status.code(), Some(1));
}

#[test]
fn bad_data_is_a_diagnostic_and_leaves_no_file() {
    let dir = std::env::temp_dir().join(format!("analogc-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("y.npy").to_string_lossy().into_owned();
    for (input, code) in [
        ("tests/fixtures/run/wrong_dtype.npy", "E0702"),
        ("tests/fixtures/run/wrong_shape.npy", "E0703"),
        ("tests/fixtures/run/int32.npy", "E0702"),
        ("tests/fixtures/run/missing.npy", "E0701"),
        ("examples/mnist_mlp.anl", "E0701"),
        ("image=tests/fixtures/run/mnist_one.npy", "ok"),
        ("nope=tests/fixtures/run/mnist_one.npy", "E0704"),
    ] {
        let r = analogc(&["run", "examples/mnist_mlp.anl", "--input", input, "--output", &out]);
        if code == "ok" {
            assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
            std::fs::remove_file(&out).unwrap();
            continue;
        }
        assert_eq!(r.status.code(), Some(1), "{input}");
        assert!(text(&r.stderr).contains(&format!("error[{code}]")), "{input}: {}", text(&r.stderr));
        assert!(!std::path::Path::new(&out).exists(), "a failed run left an output file");
    }
    let r = analogc(&[
        "run",
        "examples/mnist_mlp.anl",
        "--input",
        "tests/fixtures/run/mnist_one.npy",
        "--output",
        "/nonexistent/dir/y.npy",
    ]);
    assert!(text(&r.stderr).contains("error[E0705]"));
    let r = analogc(&["emit", "--stage", "ir", "examples/profiles/aihwkit.anl"]);
    assert!(text(&r.stderr).contains("error[E0015]"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outputs_replace_only_regular_files_and_write_through_symlinks() {
    let dir = std::env::temp_dir().join(format!("analogc-dest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a-dir")).unwrap();
    let run = |out: &std::path::Path| {
        let out = out.to_string_lossy().into_owned();
        analogc(&["run", "examples/mnist_mlp.anl", "--input", "tests/fixtures/run/mnist_one.npy", "--output", &out])
    };
    // A directory, a FIFO and a symlink to nothing are refused and left as they are.
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nothing"), &dangling).unwrap();
    for (path, what) in [
        (dir.join("a-dir"), "a directory"),
        (fifo.clone(), "a device, FIFO"),
        (dangling.clone(), "a symlink to nothing"),
    ] {
        let r = run(&path);
        assert_eq!(r.status.code(), Some(1), "{}", path.display());
        let err = text(&r.stderr);
        assert!(err.contains("error[E0705]") && err.contains(what), "{err}");
    }
    assert!(dir.join("a-dir").is_dir());
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(&fifo).unwrap().file_type()));
    assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    // A symlink to a file: the file is replaced, the link stays a link.
    let target = dir.join("target.npy");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.npy");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = run(&link);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::read(&target).unwrap().starts_with(b"\x93NUMPY"));
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!names.iter().any(|n| n.to_string_lossy().contains("partial")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_sweep_on_a_busy_output_folder_fails_at_once() {
    let dir = std::env::temp_dir().join(format!("analogc-busy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let held = analogc::files::Lock::take(&dir).unwrap();
    let out = dir.to_string_lossy().into_owned();
    let sweep = ["sweep", "examples/mnist_mlp_walking.anl", "--limit", "5", "--trials", "1", "--sigma", "0.1,1"];
    let r = analogc(&[&sweep[..], &["--out", &out]].concat());
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("error[E0708]"), "{}", text(&r.stderr));
    assert!(!dir.join("sweep.json").exists());
    drop(held);
    let r = analogc(&[&sweep[..], &["--out", &out]].concat());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(dir.join("sweep.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A C-ordered uint8 `.npy` of `shape`.
fn npy_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    npy("|u1", shape, data)
}

/// A C-ordered `.npy` of dtype `descr` (`<i8`, `<f8`…) holding the raw bytes `data`.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn run_takes_inputs_by_the_rule_of_a_dataset_folder() {
    // `u8[1, 28, 28]` takes `[N, 28, 28]` as a dataset folder does, with the same outputs.
    let dir = std::env::temp_dir().join(format!("analogc-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pixels: Vec<u8> = (0..2 * 784).map(|i| (i * 37 % 256) as u8).collect();
    let outputs = |shape: &[usize]| {
        let path = dir.join(format!("x{}.npy", shape.len()));
        std::fs::write(&path, npy_u8(shape, &pixels)).unwrap();
        let r = analogc(&["run", "examples/mnist_mlp.anl", "--input", path.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(0), "{shape:?}: {}", text(&r.stderr));
        text(&r.stdout)
    };
    let batch = outputs(&[2, 1, 28, 28]);
    assert_eq!(batch.lines().count(), 2);
    assert_eq!(outputs(&[2, 28, 28]), batch);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn labels_and_tables_of_any_numeric_dtype_are_read_by_value() {
    let dir = std::env::temp_dir().join(format!("analogc-dtypes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // numpy's default integer labels (int64) feed eval.
    let images: Vec<u8> = (0..3 * 784).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(dir.join("images.npy"), npy_u8(&[3, 1, 28, 28], &images)).unwrap();
    let labels: Vec<u8> = [7i64, 2, 1].iter().flat_map(|l| l.to_le_bytes()).collect();
    std::fs::write(dir.join("labels.npy"), npy("<i8", &[3], &labels)).unwrap();
    let d = dir.to_str().unwrap();
    let r = analogc(&["eval", "examples/mnist_mlp.anl", "--data", d, "--trials", "1"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    // A label that is no class index is reported as the value it is.
    let labels: Vec<u8> = [7f32, 1e30, 1.0].iter().flat_map(|l| l.to_le_bytes()).collect();
    std::fs::write(dir.join("labels.npy"), npy("<f4", &[3], &labels)).unwrap();
    let r = analogc(&["eval", "examples/mnist_mlp.anl", "--data", d, "--trials", "1"]);
    let err = text(&r.stderr);
    assert!(err.contains("label 1.0000000150474662e30 is not a class index") && !err.contains("4294967295"), "{err}");
    // A table entry of i32::MIN fits in i32; 1e300 does not, and says so briefly.
    let table = dir.join("t.npy");
    let set = |path: &std::path::Path| format!("fc.multiplier=table({:?}, torchapprox)", path.display().to_string());
    let mut entries = vec![0i32; 65536];
    entries[3] = i32::MIN;
    std::fs::write(&table, npy("<i4", &[256, 256], &entries.iter().flat_map(|e| e.to_le_bytes()).collect::<Vec<_>>()))
        .unwrap();
    let r = analogc(&["check", "tests/fixtures/analyze/int8.anl", "--set", &set(&table)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let mut entries = vec![0f64; 65536];
    entries[3] = 1e300;
    std::fs::write(&table, npy("<f8", &[256, 256], &entries.iter().flat_map(|e| e.to_le_bytes()).collect::<Vec<_>>()))
        .unwrap();
    let r = analogc(&["check", "tests/fixtures/analyze/int8.anl", "--set", &set(&table)]);
    assert!(text(&r.stderr).contains("entry 1e300 is not a whole number"), "{}", text(&r.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn float64_inputs_are_rounded_to_float32() {
    let dir = std::env::temp_dir().join(format!("analogc-f64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values = [0.5f64, -1.0, 2.0, 0.1, 1.0, 1.5, -0.5, 3.0];
    let f64s: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f32s: Vec<u8> = values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
    let out = |name: &str, descr: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, npy(descr, &[2, 4], bytes)).unwrap();
        let r = analogc(&["run", "tests/fixtures/analyze/int8.anl", "--input", path.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        text(&r.stdout)
    };
    assert_eq!(out("x64.npy", "<f8", &f64s), out("x32.npy", "<f4", &f32s));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sizes_are_checked_before_anything_runs_and_the_limit_is_a_flag() {
    let dir = std::env::temp_dir().join(format!("analogc-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let huge_input = dir.join("input.anl");
    std::fs::write(&huge_input, "model m {\n  input x: f32[100000, 100000, 100000]\n  output y = x\n}\n").unwrap();
    let huge_conv = dir.join("conv.anl");
    std::fs::write(
        &huge_conv,
        "model m {\n  input x: f32[1, 1, 1]\n  c = conv2d(x, 4096, 1, padding = 16384)\n  output y = c\n}\n",
    )
    .unwrap();
    let input = dir.join("x.npy");
    std::fs::write(&input, npy("<f4", &[1, 1, 1], &1f32.to_le_bytes())).unwrap();
    for args in [
        vec!["check", huge_input.to_str().unwrap()],
        vec!["check", huge_conv.to_str().unwrap()],
        vec!["run", huge_conv.to_str().unwrap(), "--input", input.to_str().unwrap()],
        vec!["emit", "--stage", "clif", huge_conv.to_str().unwrap()],
        vec!["check", "examples/mnist_mlp.anl", "--max-elements", "1000"],
    ] {
        let r = analogc(&args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let err = text(&r.stderr);
        assert!(err.contains("error[E0508]") && err.contains("--max-elements"), "{args:?}: {err}");
    }
    // A big machine raises the limit.
    let r = analogc(&["check", huge_input.to_str().unwrap(), "--max-elements", "1000000000000000"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_regular_files_are_read_so_devices_and_fifos_never_hang() {
    let dir = std::env::temp_dir().join(format!("analogc-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let f = fifo.to_str().unwrap();
    // A dataset folder whose files are FIFOs.
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for name in ["images.npy", "labels.npy"] {
        assert!(Command::new("mkfifo").arg(data.join(name)).status().unwrap().success());
    }
    let weights = dir.join("w.anl");
    std::fs::write(
        &weights,
        "model m {\n  weights \"/dev/zero\"\n  input x: f32[4]\n  d = dense(x, 2)\n  output y = d\n}\n",
    )
    .unwrap();
    for (args, code) in [
        (vec!["check", f], "E0010"),
        (vec!["check", "/dev/zero"], "E0010"),
        (vec!["check", weights.to_str().unwrap()], "E0602"),
        (vec!["run", "examples/mnist_mlp.anl", "--input", f], "E0701"),
        (vec!["run", "examples/mnist_mlp.anl", "--input", "/dev/zero"], "E0701"),
        (vec!["eval", "examples/mnist_mlp.anl", "--data", data.to_str().unwrap()], "E0802"),
    ] {
        let r = analogc(&args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let err = text(&r.stderr);
        assert!(err.contains(&format!("error[{code}]")), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_idx_file_claiming_more_than_it_holds_fails_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("analogc-idx-{}", std::process::id()));
    let gz = |name: &str, dims: &[u32], body: &[u8]| {
        let mut idx = vec![0, 0, 0x08, dims.len() as u8];
        idx.extend(dims.iter().flat_map(|d| d.to_be_bytes()));
        idx.extend(body);
        std::fs::write(dir.join(name), &idx).unwrap();
        assert!(Command::new("gzip").arg("-f").arg(dir.join(name)).status().unwrap().success());
    };
    let images: Vec<u8> = (0..50 * 784).map(|i| (i % 251) as u8).collect();
    let labels: Vec<u8> = (0..50).map(|i| (i % 10) as u8).collect();
    let eval = || {
        analogc(&["eval", "examples/mnist_mlp.anl", "--data", dir.to_str().unwrap(), "--limit", "20", "--trials", "1"])
    };
    // Honest headers: the first 20 samples are read.
    std::fs::create_dir_all(&dir).unwrap();
    gz("t10k-images-idx3-ubyte", &[50, 28, 28], &images);
    gz("t10k-labels-idx1-ubyte", &[50], &labels);
    let r = eval();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(text(&r.stdout).contains("(20 samples)"), "{}", text(&r.stdout));
    // A header that claims 10 million images of 50: refused before anything is allocated.
    gz("t10k-images-idx3-ubyte", &[10_000_000, 28, 28], &images);
    gz("t10k-labels-idx1-ubyte", &[10_000_000], &labels);
    let r = eval();
    assert_eq!(r.status.code(), Some(1));
    let err = text(&r.stderr);
    assert!(err.contains("error[E0802]") && err.contains("promises 10000000 samples"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn npy_and_safetensors_files_must_be_the_length_their_headers_promise() {
    let dir = std::env::temp_dir().join(format!("analogc-promise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let refused = |args: &[&str], code: &str, promised: usize, holds: usize| {
        let r = analogc(args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let err = text(&r.stderr);
        let says = format!("the header promises {promised} bytes, the file holds {holds}");
        assert!(err.contains(&format!("error[{code}]")) && err.contains(&says), "{args:?}: {err}");
    };
    // A 136-byte `.npy` claiming 100 million f32 values (400 MB), and a truncated one.
    let lying = npy("<f4", &[100_000_000], &[0; 8]);
    std::fs::write(path("lying.npy"), &lying).unwrap();
    let header = lying.len() - 8;
    refused(&["run", "examples/mnist_mlp.anl", "--input", &path("lying.npy")], "E0701", header + 400_000_000, 136);
    let pixels = npy_u8(&[2, 1, 28, 28], &[7; 2 * 784]);
    std::fs::write(path("cut.npy"), &pixels[..pixels.len() - 1]).unwrap();
    let n = pixels.len();
    refused(&["run", "examples/mnist_mlp.anl", "--input", &path("cut.npy")], "E0701", n, n - 1);
    // The same in a dataset folder.
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("images.npy"), npy_u8(&[10_000_000, 28, 28], &[7; 784])).unwrap();
    std::fs::write(data.join("labels.npy"), npy_u8(&[1], &[3])).unwrap();
    let eval = ["eval", "examples/mnist_mlp.anl", "--data", data.to_str().unwrap()];
    refused(&eval, "E0802", header + 7_840_000_000, header + 784);
    // A safetensors header claiming a 10 GB tensor, and a truncated weights file.
    let json = r#"{"fc1.weight":{"dtype":"F32","shape":[2500000000],"data_offsets":[0,10000000000]}}"#;
    let mut st = (json.len() as u64).to_le_bytes().to_vec();
    st.extend(json.as_bytes());
    st.extend([0; 16]);
    std::fs::write(path("lying.safetensors"), &st).unwrap();
    let weights = std::fs::read(repo().join("examples/weights/mnist_mlp.safetensors")).unwrap();
    std::fs::write(path("cut.safetensors"), &weights[..weights.len() - 4]).unwrap();
    for (file, promised, holds) in [
        ("lying.safetensors", 8 + json.len() + 10_000_000_000, st.len()),
        ("cut.safetensors", weights.len(), weights.len() - 4),
    ] {
        let model = path("m.anl");
        let source =
            format!("model m {{\n  weights \"{file}\"\n  input x: f32[4]\n  d = dense(x, 2)\n  output y = d\n}}\n");
        std::fs::write(&model, source).unwrap();
        refused(&["check", &model], "E0603", promised, holds);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_takes_set_like_every_command_that_loads_a_model() {
    let r = analogc(&["check", "examples/mnist_mlp.anl", "--set", "fc1.noise.sigma=0.2"]);
    assert_eq!((r.status.code(), r.stderr.is_empty()), (Some(0), true), "{}", text(&r.stderr));
    let r = analogc(&["check", "examples/mnist_mlp.anl", "--set", "fc9.noise.sigma=0.2"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("error[E0016]"), "{}", text(&r.stderr));
}

#[test]
fn passes_are_listed_and_opt_shows_them_ran() {
    let r = analogc(&["passes"]);
    assert_eq!(r.status.code(), Some(0));
    let list = text(&r.stdout);
    for name in ["dead-nodes", "fold-batchnorm", "prepare-weights"] {
        assert!(list.contains(name), "{list}");
    }
    let r = analogc(&["emit", "--stage", "opt", "examples/mnist_mlp.anl"]);
    assert!(text(&r.stdout).contains("// pass prepare-weights: 2 changed"));
}

#[test]
fn eval_json_is_the_same_for_any_threads_and_batch() {
    let eval = |threads: &str, batch: &str| {
        let r = analogc(&[
            "eval",
            "examples/mnist_mlp_walking.anl",
            "--limit",
            "300",
            "--trials",
            "3",
            "--seed",
            "11",
            "--json",
            "--threads",
            threads,
            "--batch",
            batch,
        ]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        let mut v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("one JSON object");
        for timing in ["seconds", "samples_per_second"] {
            assert!(v[timing].as_f64().unwrap() > 0.0);
            v.as_object_mut().unwrap().remove(timing);
        }
        v
    };
    let a = eval("1", "1");
    assert_eq!(a, eval("2", "64"));
    assert_eq!(a, eval("2", "7"));
    let acc = &a["accuracy"];
    let (mean, lo, hi) =
        (acc["mean"].as_f64().unwrap(), acc["ci95"][0].as_f64().unwrap(), acc["ci95"][1].as_f64().unwrap());
    assert!(lo <= mean && mean <= hi && acc["min"].as_f64().unwrap() <= mean && mean <= acc["max"].as_f64().unwrap());
    assert!(a["clean_accuracy"].as_f64().unwrap() > 0.95, "the trained MLP classifies MNIST");
    assert_eq!(a["samples"], 300);
    let trials = a["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    assert!(trials.iter().all(|t| t["seed"] == 11 && t["accuracy"].as_f64().unwrap() > 0.9));
}

#[test]
fn eval_says_which_backend_ran_and_counts_in_words() {
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "examples/mnist_mlp_walking.anl", "--limit", "1", "--trials", "1"];
        args.extend_from_slice(extra);
        let r = analogc(&args);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        text(&r.stdout)
    };
    let backend = |extra: &[&str]| {
        let v: serde_json::Value = serde_json::from_str(&eval(&[extra, &["--json"]].concat())).unwrap();
        v["backend"].as_str().unwrap().to_string()
    };
    assert_eq!(backend(&[]), "jit");
    assert_eq!(backend(&["--backend", "interp"]), "interp");
    assert!(eval(&[]).contains("(1 sample), 1 trial, seed 0"), "{}", eval(&[]));
}

#[test]
fn counts_follow_one_rule_in_every_command() {
    let m = "examples/mnist_mlp_walking.anl";
    let input = "tests/fixtures/run/mnist_one.npy";
    for args in [
        &["eval", m, "--trials", "0"][..],
        &["eval", m, "--trials", "1000000000"],
        &["eval", m, "--threads", "100000"],
        &["eval", m, "--threads", "0"],
        &["eval", m, "--batch", "0"],
        &["sweep", m, "--trials", "0"],
        &["sweep", m, "--threads", "5000"],
        &["analyze", m, "--calibrate", "--trials", "100001"],
        &["bench", m, "--batch", "0"],
        &["bench", m, "--repeat", "0"],
        &["run", m, "--input", input, "--threads", "0"],
    ] {
        let r = analogc(args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let err = text(&r.stderr);
        assert!(err.contains("error[E0020]") && err.contains(" must be 1 to "), "{args:?}: {err}");
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_dataset_on_the_command_line_replaces_the_models_own() {
    // A model whose `data` folder does not exist here.
    let dir = std::env::temp_dir().join(format!("analogc-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::fs::read_to_string(repo().join("examples/mnist_mlp.anl")).unwrap();
    let weights = repo().join("examples/weights/mnist_mlp.safetensors");
    let source = source.replace("\"weights/mnist_mlp.safetensors\"", &format!("{:?}", weights.display().to_string()));
    let source = source.replace("\"../data/mnist\"", "\"no-such-folder\"");
    let examples = repo().join("examples");
    let source = source
        .replace("\"profiles/", &format!("\"{}/profiles/", examples.display()))
        .replace("\"multipliers/", &format!("\"{}/multipliers/", examples.display()));
    let model = dir.join("moved.anl");
    std::fs::write(&model, source).unwrap();
    let m = model.to_str().unwrap();
    let r = analogc(&["eval", m, "--limit", "10", "--trials", "1"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("error[E0801]"), "{}", text(&r.stderr));
    let data = repo().join("data/mnist");
    let d = data.to_str().unwrap();
    for args in [
        &["eval", m, "--data", d, "--limit", "10", "--trials", "1"][..],
        &["sweep", m, "--data", d, "--limit", "10", "--trials", "1", "--sigma", "0.1,1"],
        &["analyze", m, "--calibrate", d, "--limit", "10"],
        &["bench", m, "--data", d, "--limit", "10", "--repeat", "1"],
    ] {
        let r = analogc(args);
        assert_eq!(r.status.code(), Some(0), "{args:?}: {}", text(&r.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_takes_its_layout_and_signedness_by_position_as_the_docs_write_it() {
    let table = repo().join("examples/multipliers/mul8s_trunc6.npy");
    for call in [
        format!("table({:?}, torchapprox)", table.display().to_string()),
        format!("table({:?}, torchapprox, true)", table.display().to_string()),
        format!("table({:?}, layout = torchapprox)", table.display().to_string()),
    ] {
        let r = analogc(&["check", "tests/fixtures/analyze/int8.anl", "--set", &format!("fc.multiplier={call}")]);
        assert_eq!(r.status.code(), Some(0), "{call}: {}", text(&r.stderr));
    }
}

#[test]
fn eval_reports_bad_datasets() {
    let r = analogc(&["eval", "examples/mnist_mlp_walking.anl", "--data", "tests/fixtures/run", "--limit", "10"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("error[E0802]") || text(&r.stderr).contains("error[E0801]"),
        "{}",
        text(&r.stderr)
    );
    let r = analogc(&["eval", "examples/mnist_mlp_walking.anl", "--data", "no-such-dataset"]);
    assert!(text(&r.stderr).contains("error[E0801]"), "{}", text(&r.stderr));
    // Named datasets are found in ./data.
    let r = analogc(&[
        "eval",
        "examples/mnist_mlp_walking.anl",
        "--data",
        "fashion-mnist",
        "--limit",
        "20",
        "--trials",
        "1",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
}

#[test]
fn every_example_runs_on_the_interpreter() {
    let examples = support::anl_files(&repo().join("examples"));
    let mut ran = 0;
    for file in examples.iter().filter(|f| !f.starts_with("profiles")) {
        let path = format!("examples/{}", file.display());
        let r = analogc(&["run", &path, "--input", "tests/fixtures/run/mnist_one.npy", "--backend", "interp"]);
        assert_eq!(r.status.code(), Some(0), "{path}: {}", text(&r.stderr));
        assert!(text(&r.stdout).contains("argmax"), "{path}");
        ran += 1;
    }
    assert!(ran >= 9, "only {ran} examples");
}

#[test]
fn interrupting_eval_stops_cleanly() {
    let child = Command::new(env!("CARGO_BIN_EXE_analogc"))
        .args(["eval", "examples/mnist_lenet5.anl", "--trials", "50"])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("error[E0706]: interrupted"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "no partial report");
}

/// Every example's accuracies on the first 100 test images, two chips: pinned,
/// so any change of meaning anywhere in the pipeline shows up here.
#[test]
fn example_accuracies_are_pinned() {
    let mut report = String::new();
    for file in support::anl_files(&repo().join("examples")).iter().filter(|f| !f.starts_with("profiles")) {
        let path = format!("examples/{}", file.display());
        let r = analogc(&["eval", &path, "--limit", "100", "--trials", "2", "--seed", "3", "--json"]);
        assert_eq!(r.status.code(), Some(0), "{path}: {}", text(&r.stderr));
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        let trials: Vec<String> = v["trials"].as_array().unwrap().iter().map(|t| t["accuracy"].to_string()).collect();
        report.push_str(&format!("{path}: clean {} trials [{}]\n", v["clean_accuracy"], trials.join(", ")));
    }
    insta::assert_snapshot!(report);
}

/// `analyze` of every example, pinned; and its JSON figures against their definitions.
#[test]
fn analyze_reports_cost_bit_budgets_and_multiplier_errors() {
    let mut report = String::new();
    for file in support::anl_files(&repo().join("examples")).iter().filter(|f| !f.starts_with("profiles")) {
        let r = analogc(&["analyze", &format!("examples/{}", file.display())]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        report.push_str(&text(&r.stdout));
        report.push('\n');
    }
    insta::assert_snapshot!(report);

    let r = analogc(&["analyze", "examples/mnist_mlp_approx.anl", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["macs"], 784 * 256 + 256 * 256 + 256 * 10);
    let fc1 = &v["layers"][0];
    assert_eq!((fc1["name"].as_str(), fc1["fan_in"].as_u64()), (Some("fc1"), Some(784)));
    let m = &fc1["multiplier"];
    // Over a K-term dot product the error's mean grows as K·μ, its spread as √K·σ.
    let (mu, sigma) = (m["mean_error"].as_f64().unwrap(), m["error_std"].as_f64().unwrap());
    assert!((m["output_bias"].as_f64().unwrap() - 784.0 * mu).abs() < 1e-9);
    assert!((m["output_spread"].as_f64().unwrap() - 28.0 * sigma).abs() < 1e-9);
    // DRUM-4 on signed operands, from runtime::multiplier's brute-force-checked table.
    assert!((m["mred"].as_f64().unwrap() - 0.0586).abs() < 1e-3, "{m}");

    let r = analogc(&["analyze", "examples/mnist_mlp.anl", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    // b_w + b_x + log2(n) − 1 = 7 + 10 + 7 − 1 for the Lightmatter profile's 128-tiles.
    assert_eq!(v["layers"][1]["abfp"]["bits_for_exact_tile"], 23);
    assert_eq!(v["layers"][1]["abfp"]["low_bits_lost_at_gain_1"], 12);
}

/// A scratch folder for one test, empty.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("analogc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn train_refuses_bad_options_before_anything_runs() {
    let dir = scratch("train-bad");
    let out = dir.join("run");
    let out = out.to_str().unwrap();
    for (args, code) in [
        (&["--lr", "0"][..], "E1001"),
        (&["--lr", "-1"], "E1001"),
        (&["--lr", "nan"], "E1001"),
        (&["--lr", "inf"], "E1001"),
        (&["--momentum", "0.9"], "E1001"),
        (&["--optimizer", "sgd", "--momentum", "-0.5"], "E1001"),
        (&["--optimizer", "sgd", "--nesterov"], "E1001"),
        (&["--weight-decay", "-1"], "E1001"),
        (&["--optimizer", "adamw", "--weight-decay", "nan"], "E1001"),
        (&["--clip", "0"], "E1001"),
        (&["--clip", "-3"], "E1001"),
        (&["--schedule", "step"], "E1001"),
        (&["--step-every", "10"], "E1001"),
        (&["--schedule", "step", "--step-every", "10", "--step-factor", "0"], "E1001"),
        (&["--val", "0"], "E1001"),
        (&["--limit", "0"], "E1001"),
        (&["--epochs", "0"], "E0020"),
        (&["--epochs", "10001"], "E0020"),
        (&["--batch", "0"], "E0020"),
        (&["--batch", "65537"], "E0020"),
        (&["--threads", "0"], "E0020"),
        (&["--schedule", "step", "--step-every", "0"], "E0020"),
    ] {
        let r = analogc(&[&["train", "examples/mnist_mlp.anl", "--out", out][..], args].concat());
        assert_eq!(r.status.code(), Some(1), "{args:?}: {}", text(&r.stderr));
        assert!(text(&r.stderr).contains(&format!("error[{code}]")), "{args:?}: {}", text(&r.stderr));
        assert!(r.stdout.is_empty(), "{args:?}");
        assert!(!std::path::Path::new(out).exists(), "{args:?}: the folder is not created");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_without_weights_starts_from_an_initialization_not_keep() {
    let dir = scratch("train-untrained");
    let model = dir.join("tiny.anl");
    std::fs::write(&model, "model tiny {\n  input x: f32[4]\n  fc = dense(x, 3)\n  output y = fc\n}\n").unwrap();
    let model = model.to_str().unwrap();
    let r = analogc(&["train", model, "--init", "keep"]);
    assert_eq!(r.status.code(), Some(1));
    let err = text(&r.stderr);
    assert!(err.contains("error[E1001]") && err.contains("no weights to keep") && err.contains("kaiming"), "{err}");
    // The run folder may not replace the model file.
    let r = analogc(&["train", model, "--out", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r.stderr).contains("error[E1001]") && text(&r.stderr).contains("would replace"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_end_to_end_writes_a_run_folder() {
    let dir = scratch("train-e2e");
    let out = dir.join("run");
    let o = out.to_str().unwrap();
    let args =
        ["train", "examples/mnist_mlp_walking.anl", "--epochs", "1", "--limit", "1000", "--val", "500", "--out", o];
    let r = analogc(&args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let stdout = text(&r.stdout);
    assert!(stdout.starts_with("epoch 1: loss ") && stdout.contains("trained fc1, fc2, fc3"), "{stdout}");
    for f in
        ["mnist_mlp_walking.anl", "mnist_mlp_walking.safetensors", "train.csv", "train.json", "train.svg", "train.png"]
    {
        assert!(out.join(f).exists(), "{f}");
    }
    assert_eq!(std::fs::read_to_string(out.join("train.csv")).unwrap().lines().count(), 2);
    let copy = out.join("mnist_mlp_walking.anl");
    let check = analogc(&["check", copy.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(check.stdout.is_empty() && check.stderr.is_empty());
    let eval = analogc(&["eval", copy.to_str().unwrap(), "--limit", "100", "--trials", "1"]);
    assert_eq!(eval.status.code(), Some(0), "{}", text(&eval.stderr));
    let json = analogc(&[&args[..8], &["--json"]].concat());
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&json.stdout)).expect("one JSON object");
    assert_eq!(report["epochs"].as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_layers_that_are_not_there_or_all_frozen_are_diagnostics() {
    let m = "examples/mnist_mlp.anl";
    for (args, code) in [
        (&["--train", "fc9"][..], "E1002"),
        (&["--freeze", "fc1,nosuch"], "E1002"),
        (&["--train", "h1"], "E1002"),
        (&["--freeze", "fc1,fc2,fc3"], "E1003"),
    ] {
        let r = analogc(&[&["train", m][..], args].concat());
        assert_eq!(r.status.code(), Some(1), "{args:?}: {}", text(&r.stderr));
        assert!(text(&r.stderr).contains(&format!("error[{code}]")), "{args:?}: {}", text(&r.stderr));
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn train_that_diverges_stops_with_a_diagnostic() {
    let args = ["train", "examples/mnist_mlp.anl", "--epochs", "1", "--limit", "256", "--val", "64", "--lr", "1e30"];
    let r = analogc(&args);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("error[E1004]"), "{}", text(&r.stderr));
}

#[test]
fn train_on_a_dataset_without_a_training_split_is_a_diagnostic() {
    let dir = scratch("train-no-split");
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(repo().join("data/mnist").join(f), dir.join(f)).unwrap();
    }
    let r = analogc(&["train", "examples/mnist_mlp_walking.anl", "--data", dir.to_str().unwrap(), "--epochs", "1"]);
    assert_eq!(r.status.code(), Some(1));
    let err = text(&r.stderr);
    assert!(err.contains("error[E0801]") && err.contains("has no training split"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_refuses_a_batch_of_one_for_a_vector_batchnorm() {
    let dir = scratch("train-bn-one");
    let model = dir.join("bn.anl");
    let data = repo().join("data/mnist");
    std::fs::write(
        &model,
        format!(
            "model bn {{\n  data \"{}\"\n  input x: u8[1, 28, 28] {{\n    scale(1/255)\n    flatten\n  }}\n  \
             fc1 = dense(x, 16)\n  bn1 = batchnorm(fc1)\n  fc2 = dense(bn1, 10)\n  output y = fc2\n}}\n",
            data.display()
        ),
    )
    .unwrap();
    let m = model.to_str().unwrap();
    let r = analogc(&["train", m, "--epochs", "1", "--limit", "65", "--batch", "64", "--val", "100"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    let err = text(&r.stderr);
    assert!(err.contains("error[E1001]") && err.contains("batch of one sample"), "{err}");
    let r = analogc(&["train", m, "--epochs", "1", "--limit", "66", "--batch", "64", "--val", "100", "--json"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_dnf_needs_a_layer_to_measure_and_its_own_options() {
    for (args, code) in [
        (&["examples/mnist_mlp_walking.anl", "--dnf"][..], "E1005"),
        (&["examples/mnist_mlp_abfp.anl", "--dnf-refresh", "2"], "E1001"),
        (&["examples/mnist_mlp_abfp.anl", "--dnf", "--dnf-refresh", "0"], "E0020"),
        (&["examples/mnist_mlp_abfp.anl", "--dnf", "--set", "fc1.noise=multiplicative(sigma = 5 %)"], "E1001"),
    ] {
        let r = analogc(&[&["train"][..], args].concat());
        assert_eq!(r.status.code(), Some(1), "{args:?}: {}", text(&r.stderr));
        assert!(text(&r.stderr).contains(&format!("error[{code}]")), "{args:?}: {}", text(&r.stderr));
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn denoise_refuses_bad_options_and_models_without_a_place_for_a_block() {
    let m = "examples/mnist_mlp_walking.anl";
    for (args, code) in [
        (&["--budget", "0%"][..], "E1101"),
        (&["--budget", "-2%"], "E1101"),
        (&["--budget", "two"], "E1101"),
        (&["--budget", "1.5"], "E1101"),
        (&["--budget", "2%", "--hidden", "0"], "E1101"),
        (&["--budget", "2%", "--limit", "0"], "E1101"),
        (&["--budget", "10"], "E1102"),
        (&["--budget", "1000", "--hidden", "100"], "E1102"),
    ] {
        let r = analogc(&[&["denoise", m][..], args].concat());
        assert_eq!(r.status.code(), Some(1), "{args:?}: {}", text(&r.stderr));
        assert!(text(&r.stderr).contains(&format!("error[{code}]")), "{args:?}: {}", text(&r.stderr));
        assert!(r.stdout.is_empty());
    }
    let dir = scratch("denoise");
    std::fs::write(dir.join("act.anl"), "model act {\n  input x: f32[4]\n  h = relu(x)\n  output y = h\n}\n").unwrap();
    let r = analogc(&["denoise", dir.join("act.anl").to_str().unwrap(), "--budget", "2%"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("error[E1103]"), "{}", text(&r.stderr));
    // A folder where the copy would replace the model file itself.
    let r = analogc(&["denoise", m, "--budget", "2%", "--out", "examples"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    let err = text(&r.stderr);
    assert!(err.contains("error[E1101]") && err.contains("would replace the model file"), "{err}");
    assert!(!repo().join("examples/.analogc.lock").exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn denoise_writes_a_model_that_checks_and_prints_the_command_that_trains_its_blocks() {
    let dir = scratch("denoise-out");
    let out = dir.join("dn");
    let args = ["denoise", "examples/mnist_mlp_walking.anl", "--budget", "1%", "--limit", "50", "--json"];
    let r = analogc(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report["blocks"][0]["after"], "fc1");
    let copy = out.join("mnist_mlp_walking.anl");
    // 1% (2693 parameters) pays for a block of width 4 after fc1 (2308), then one of width 10 after fc3 (220).
    let blocks = "fc1_denoise,fc3_denoise";
    let command = format!("analogc train {} --train {blocks} --out {}", copy.display(), out.join("trained").display());
    assert_eq!(report["train_command"], command.as_str());
    let r = analogc(&["check", copy.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert!(r.stdout.is_empty() && r.stderr.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
