//! Shared by the integration tests: a loader rooted at a folder, so files
//! are named relative to it in diagnostics, and the repository's paths.
#![allow(dead_code)]

use analog_runtime::ir::{Graph, NodeKind};
use analog_runtime::weights::{LoadError, WeightsFile};
use analogc::check::check_file;
use analogc::lower::{lower, Lowered};
use analogc::source::{FsLoader, Loader, ReadError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Reads `root.join(path)` for every `path` asked for.
pub struct Rooted {
    pub root: PathBuf,
    pub fs: FsLoader,
}

impl Rooted {
    pub fn new(root: PathBuf) -> Self {
        Rooted { root, fs: FsLoader::default() }
    }
}

impl Loader for Rooted {
    fn read_source(&self, path: &Path) -> Result<String, ReadError> {
        self.fs.read_source(&self.root.join(path))
    }
    fn read_weights(&self, path: &Path) -> Result<Arc<WeightsFile>, Arc<LoadError>> {
        self.fs.read_weights(&self.root.join(path))
    }
    fn read_bytes(&self, path: &Path) -> Result<Arc<Vec<u8>>, Arc<std::io::Error>> {
        self.fs.read_bytes(&self.root.join(path))
    }
}

/// Every `*.anl` under `dir` (recursively), sorted, relative to `dir`.
pub fn anl_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable folder") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "anl") {
                out.push(p.strip_prefix(dir).expect("below dir").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// `path` (relative to `root`) checked and lowered, before the passes.
pub fn lowered(root: &Path, path: &Path) -> Lowered {
    let loader = Rooted::new(root.to_path_buf());
    let fe = check_file(path, &loader);
    let model = fe.model.unwrap_or_else(|| panic!("{} does not check", path.display()));
    let mut l = lower(&model, &loader).expect("lowers");
    // Table paths are made relative to the root, so the graph runs from here.
    for n in &mut l.graph.nodes {
        if let analog_runtime::ir::hardware::Multiplier::Table { path, .. } = &mut n.hw.multiplier {
            *path = root.join(&*path);
        }
    }
    l
}

/// Deterministic pseudo-random input values for every input node.
pub fn inputs(g: &Graph, sample: usize) -> Vec<Vec<f32>> {
    g.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Input { shape, dtype, .. } => {
                let len: usize = shape.iter().product();
                let values = (0..len).map(|i| ((i * 37 + sample * 101) % 256) as f32);
                Some(match dtype {
                    analog_runtime::ir::Dtype::U8 => values.collect(),
                    analog_runtime::ir::Dtype::F32 => values.map(|v| v / 255.0).collect(),
                })
            }
            _ => None,
        })
        .collect()
}

/// splitmix64: a tiny deterministic generator (so a failure reproduces); advances `state`.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the `analogc` binary from the repository root; its stdout, which must
/// come with exit code 0.
pub fn analogc_ok(bin: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(bin).args(args).current_dir(repo()).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The number at the first `"key":` of a JSON text.
pub fn json_number(text: &str, key: &str) -> f64 {
    let key = format!("\"{key}\":");
    let at = text.find(&key).unwrap_or_else(|| panic!("no {key} in {text}")) + key.len();
    text[at..].split([',', '}']).next().and_then(|v| v.parse().ok()).expect("a number")
}

/// Every `lower` and `jit` fixture, and every model in the repository's
/// folders `dirs` that checks: `(root, path below it)`.
pub fn models(dirs: &[&str]) -> Vec<(PathBuf, PathBuf)> {
    let fixtures = repo().join("tests/fixtures");
    let mut out = vec![];
    for dir in ["lower", "jit"] {
        out.extend(anl_files(&fixtures.join(dir)).into_iter().map(|f| (fixtures.clone(), Path::new(dir).join(f))));
    }
    for dir in dirs {
        for file in anl_files(&repo().join(dir)) {
            let path = Path::new(dir).join(&file);
            if check_file(&path, &Rooted::new(repo())).model.is_some() {
                out.push((repo(), path));
            }
        }
    }
    out
}
