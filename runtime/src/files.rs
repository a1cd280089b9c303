//! Reading the files a model names (sources, weights, tables, datasets,
//! inputs): only regular files, or symlinks to one — a device or a FIFO would
//! block or never end, `/dev/zero` would fill memory — and never more bytes
//! than the bound of their kind.

use std::io::{Error, ErrorKind, Read};
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
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "a device, FIFO or socket" };
        return Err(Error::new(ErrorKind::InvalidInput, format!("it is {what}, not a regular file")));
    }
    let too_large = |n: u64| Error::new(ErrorKind::InvalidInput, format!("it holds {n} bytes, more than {max}"));
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read stops at the bound.
    std::fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
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
}
