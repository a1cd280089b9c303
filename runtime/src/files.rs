//! Reading the files a model names (sources, weights, tables, datasets,
//! inputs): only regular files, or symlinks to one — a device or a FIFO would
//! block or never end, `/dev/zero` would fill memory — and never more bytes
//! than the bound of their kind. A file whose header promises its length
//! (`.npy`, safetensors) is read only once the file keeps the promise.

use std::fs::File;
use std::io::{Error, ErrorKind, Read, Seek};
use std::path::Path;

/// Model and profile files.
pub const SOURCE: u64 = 64 << 20;
/// Multiplier tables (a 256×256 float64 `.npy` is 512 KiB).
pub const TABLE: u64 = 16 << 20;
/// Result documents (`sweep.json`).
pub const DOCUMENT: u64 = 1 << 30;
/// Weights, datasets, inputs, ONNX files: as large as such files get.
pub const DATA: u64 = 64 << 30;

/// The bytes of the regular file at `path`, at most `max` of them.
pub fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let (file, len) = open(path, max)?;
    read_all(file, len, max)
}

/// A file whose header does not keep its promise of the whole file's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenPromise {
    pub promised: u64,
    pub holds: u64,
    /// The bound of the file's kind.
    pub max: u64,
}

impl BrokenPromise {
    /// Whether a file of `holds` bytes, of a kind bound by `max`, is the
    /// `promised` length.
    pub fn check(promised: u64, holds: u64, max: u64) -> Result<(), BrokenPromise> {
        if promised > max || promised != holds {
            return Err(BrokenPromise { promised, holds, max });
        }
        Ok(())
    }
}

impl std::fmt::Display for BrokenPromise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let BrokenPromise { promised, holds, max } = self;
        if promised > max {
            write!(f, "the header promises {promised} bytes, more than {max}")
        } else {
            write!(f, "truncated or corrupt: the header promises {promised} bytes, the file holds {holds}")
        }
    }
}

/// Why [`read_promised`] read nothing.
#[derive(Debug)]
pub enum Refused<E> {
    /// The file cannot be read, is not a regular file, or is longer than the bound.
    Io(Error),
    /// Its header is not valid, or promises another length than the file's.
    Header(E),
}

/// The bytes of the regular file at `path`, at most `max` of them, read only
/// once its header has kept its promise: `promise` reads the header from the
/// start of the file (of the length it is given) and returns the length it
/// promises for the whole file, or `None` for a file without such a header
/// (read as it is). A promise beyond `max`, or other than the file's length,
/// is refused before anything more is read or allocated.
pub fn read_promised<E: From<BrokenPromise>>(
    path: &Path,
    max: u64,
    promise: impl FnOnce(&mut dyn Read, u64) -> Result<Option<u64>, E>,
) -> Result<Vec<u8>, Refused<E>> {
    let (mut file, len) = open(path, max).map_err(Refused::Io)?;
    if let Some(promised) = promise(&mut (&file).take(len), len).map_err(Refused::Header)? {
        BrokenPromise::check(promised, len, max).map_err(|e| Refused::Header(e.into()))?;
    }
    file.rewind().map_err(Refused::Io)?;
    read_all(file, len, max).map_err(Refused::Io)
}

/// The regular file at `path` opened for reading, and its length, at most `max`.
fn open(path: &Path, max: u64) -> std::io::Result<(File, u64)> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "a device, FIFO or socket" };
        return Err(Error::new(ErrorKind::InvalidInput, format!("it is {what}, not a regular file")));
    }
    if meta.len() > max {
        return Err(too_large(meta.len(), max));
    }
    Ok((File::open(path)?, meta.len()))
}

/// The bytes of `file`, `len` of them when it does not change meanwhile.
fn read_all(file: File, len: u64, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(len as usize);
    // A file that grows while it is read stops at the bound.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

fn too_large(n: u64, max: u64) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("it holds {n} bytes, more than {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let dir = std::env::temp_dir().join(format!("analogc-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read(&file, 5).unwrap(), b"12345");
        assert!(read(&file, 4).unwrap_err().to_string().contains("holds 5 bytes, more than 4"));
        assert!(read(&dir, 100).unwrap_err().to_string().contains("a directory"));
        assert!(read(Path::new("/dev/zero"), 100).unwrap_err().to_string().contains("not a regular file"));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read(&link, 5).unwrap(), b"12345");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A header of one byte: the file's length it promises.
    fn first_byte(r: &mut dyn Read, _len: u64) -> Result<Option<u64>, String> {
        let mut b = [0u8];
        r.read_exact(&mut b).map_err(|e| e.to_string())?;
        Ok((b[0] != 0).then_some(b[0] as u64))
    }

    impl From<BrokenPromise> for String {
        fn from(e: BrokenPromise) -> String {
            e.to_string()
        }
    }

    #[test]
    fn a_header_is_read_first_and_must_promise_the_files_length_within_the_bound() {
        let dir = std::env::temp_dir().join(format!("analogc-promise-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        let read = |bytes: &[u8], max: u64| {
            std::fs::write(&file, bytes).unwrap();
            read_promised(&file, max, first_byte).map_err(|e| match e {
                Refused::Io(e) => format!("io: {e}"),
                Refused::Header(e) => e,
            })
        };
        assert_eq!(read(&[4, 1, 2, 3], 10).unwrap(), [4, 1, 2, 3]);
        // No promise: read as it is.
        assert_eq!(read(&[0, 1, 2], 10).unwrap(), [0, 1, 2]);
        let short = read(&[9, 1, 2, 3], 10).unwrap_err();
        assert_eq!(short, "truncated or corrupt: the header promises 9 bytes, the file holds 4");
        assert!(read(&[3, 1, 2, 3], 10).unwrap_err().contains("promises 3 bytes, the file holds 4"));
        assert_eq!(read(&[200, 1], 10).unwrap_err(), "the header promises 200 bytes, more than 10");
        assert!(read(&[4; 20], 10).unwrap_err().starts_with("io: it holds 20 bytes, more than 10"));
        assert!(read(&[], 10).unwrap_err().contains("fill whole buffer"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
