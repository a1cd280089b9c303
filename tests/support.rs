//! Shared by the integration tests: a loader rooted at a folder, so files
//! are named relative to it in diagnostics, and the repository's paths.
#![allow(dead_code)]

use analog_runtime::weights::{LoadError, WeightsFile};
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
