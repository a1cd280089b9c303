//! The SLURM example (`examples/cluster/`) as shipped: its array script run
//! once per shard as separate processes at the same time, with a fake
//! `SLURM_ARRAY_TASK_ID`, and its merge script, give the files of one
//! unsharded `analogc sweep` byte for byte.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::repo;

const SHARDS: usize = 3;
const MODEL: &str = "examples/mnist_mlp_walking.anl";
const SIGMA: &str = "0.01,0.3,3,30";
const TRIALS: &str = "2";
const LIMIT: &str = "300";
const FILES: [&str; 4] = ["sweep.csv", "sweep.json", "sweep.svg", "sweep.png"];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(what: &str, out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{what}\nstderr: {}\nstdout: {}", text(&out.stderr), text(&out.stdout));
}

/// `bash examples/cluster/<script>` from the repository root, set up as the
/// README sets it up, with `task` as the array task when given.
fn script(name: &str, out: &Path, task: Option<usize>) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("examples/cluster").join(name)).current_dir(repo());
    cmd.env("ANALOGC", env!("CARGO_BIN_EXE_analogc"))
        .env("SHARDS", SHARDS.to_string())
        .env("OUT", out)
        .env("MODEL", MODEL)
        .env("SIGMA", SIGMA)
        .env("TRIALS", TRIALS)
        .env("SWEEP_ARGS", format!("--limit {LIMIT}"))
        .env("SLURM_CPUS_PER_TASK", "1")
        .env_remove("SLURM_ARRAY_TASK_ID");
    if let Some(i) = task {
        cmd.env("SLURM_ARRAY_TASK_ID", i.to_string());
    }
    cmd
}

fn same_files(a: &Path, b: &Path) {
    for name in FILES {
        let (x, y) = (std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap());
        assert!(x == y, "{name} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn the_array_script_run_as_separate_processes_and_merged_equals_one_run() {
    let dir: PathBuf = std::env::temp_dir().join(format!("analogc-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (whole, out) = (dir.join("whole"), dir.join("array"));

    let one = Command::new(env!("CARGO_BIN_EXE_analogc"))
        .args(["sweep", MODEL, "--sigma", SIGMA, "--trials", TRIALS, "--limit", LIMIT, "--out"])
        .arg(&whole)
        .current_dir(repo())
        .output()
        .expect("runs");
    ok("one unsharded run", &one);

    // Every array task at once, as a cluster runs them.
    let tasks: Vec<_> = (0..SHARDS)
        .map(|i| {
            let mut task = script("sweep_array.sbatch", &out, Some(i));
            task.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("bash runs")
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        ok(&format!("array task {i}"), &task.wait_with_output().unwrap());
    }
    let merged = script("merge.sbatch", &out, None).output().unwrap();
    ok("the merge job", &merged);
    assert!(text(&merged.stdout).contains("midpoints"), "the merged table: {}", text(&merged.stdout));
    same_files(&whole, &out);

    // A failed task re-run alone (its folder as the failure left it) and the
    // merge run again give the same files.
    std::fs::remove_file(out.join("shards/1/sweep.json")).unwrap();
    let missing = script("merge.sbatch", &out, None).output().unwrap();
    assert_eq!(missing.status.code(), Some(1), "a merge without shard 1 fails: {}", text(&missing.stderr));
    ok("task 1 again", &script("sweep_array.sbatch", &out, Some(1)).output().unwrap());
    ok("the merge again", &script("merge.sbatch", &out, None).output().unwrap());
    same_files(&whole, &out);

    // A task outside the array's shards, or no task at all, is an error.
    for task in [Some(SHARDS), None] {
        let bad = script("sweep_array.sbatch", &out, task).output().unwrap();
        assert_eq!(bad.status.code(), Some(1), "task {task:?}: {}", text(&bad.stderr));
        assert!(text(&bad.stderr).contains("SLURM_ARRAY_TASK_ID") || text(&bad.stderr).contains("--array=0-2"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
