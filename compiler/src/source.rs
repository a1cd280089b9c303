//! Source files and spans.
//!
//! Every file the front end reads (the model, its imports) gets a [`FileId`]
//! in one [`SourceMap`]; a [`Span`] is a byte range in one of them. Reading
//! goes through a [`Loader`] so tests can feed sources from memory and cache
//! weight files across thousands of runs.

use analog_runtime::files;
use analog_runtime::weights::{LoadError, WeightsFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range `start..end` in one source file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both (they must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user wrote it or as resolved from an import.
    pub path: PathBuf,
    pub text: String,
    /// The byte offset of each line's start, so a position is found in log time.
    line_starts: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        self.files.push(SourceFile { path, text, line_starts });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn text(&self, span: Span) -> &str {
        &self.get(span.file).text[span.range()]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: u32) -> (usize, usize) {
        let f = self.get(file);
        let offset = floor_char_boundary(&f.text, (offset as usize).min(f.text.len()));
        // The last line starting at or before the offset.
        let line = f.line_starts.partition_point(|start| *start <= offset);
        let col = f.text[f.line_starts[line - 1]..offset].chars().count() + 1;
        (line, col)
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Why a file could not be read as source.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    NotUtf8,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotUtf8 => write!(f, "the file is not valid UTF-8"),
        }
    }
}

/// Where the front end reads files from.
pub trait Loader {
    fn read_source(&self, path: &Path) -> Result<String, ReadError>;
    fn read_weights(&self, path: &Path) -> Result<Arc<WeightsFile>, Arc<LoadError>>;
    /// Whether a data file (a multiplier table…) exists and its bytes.
    fn read_bytes(&self, path: &Path) -> Result<Arc<Vec<u8>>, Arc<std::io::Error>>;
}

/// Reads from the file system; weights and data files are cached by path, so
/// one loader can serve many front-end runs.
#[derive(Default)]
pub struct FsLoader {
    weights: Mutex<HashMap<PathBuf, WeightsRead>>,
    bytes: Mutex<HashMap<PathBuf, BytesRead>>,
}

type WeightsRead = Result<Arc<WeightsFile>, Arc<LoadError>>;
type BytesRead = Result<Arc<Vec<u8>>, Arc<std::io::Error>>;

impl Loader for FsLoader {
    fn read_source(&self, path: &Path) -> Result<String, ReadError> {
        let bytes = files::read(path, files::SOURCE).map_err(ReadError::Io)?;
        String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
    }

    fn read_weights(&self, path: &Path) -> Result<Arc<WeightsFile>, Arc<LoadError>> {
        let mut cache = self.weights.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(path.to_path_buf())
            .or_insert_with(|| WeightsFile::load(path).map(Arc::new).map_err(Arc::new))
            .clone()
    }

    fn read_bytes(&self, path: &Path) -> Result<Arc<Vec<u8>>, Arc<std::io::Error>> {
        let mut cache = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(path.to_path_buf())
            .or_insert_with(|| files::read(path, files::DATA).map(Arc::new).map_err(Arc::new))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_of_every_offset() {
        let text = "ab\nσ = 0.1\n\n  x\n";
        let mut map = SourceMap::default();
        let id = map.add("t.anl".into(), text.to_string());
        for offset in 0..=text.len() + 2 {
            // By the definition: lines and characters before the offset.
            let before = &text[..floor_char_boundary(text, offset.min(text.len()))];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().unwrap().chars().count() + 1;
            assert_eq!(map.line_col(id, offset as u32), (line, col), "offset {offset}");
        }
    }
}
