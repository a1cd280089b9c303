//! Writing result files so that a failure or an interruption never leaves a
//! partial or clobbered file: everything goes through a temporary file in the
//! same folder, renamed over the target once complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The temporary file for `path`: `.STEM.partial.EXT` beside it (the
/// extension kept, for writers that pick a format from it).
fn temporary(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!(".{stem}.partial.{}", ext.to_string_lossy()),
        None => format!(".{stem}.partial"),
    };
    path.with_file_name(name)
}

/// Runs `write` on the temporary file of `path`, then renames it to `path`;
/// on failure the temporary file is removed and `path` is untouched.
pub fn write_via_temporary<E>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let tmp = temporary(path);
    let r = write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(E::from));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_via_temporary(path, |tmp| std::fs::write(tmp, bytes))
}

/// Writes to `path` atomically through a buffered writer, synced to disk
/// before the rename.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_via_temporary(path, |tmp| {
        let mut w = BufWriter::new(File::create(tmp)?);
        write(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })
}
