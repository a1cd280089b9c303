//! Writing result files so that a failure or an interruption never leaves a
//! partial or clobbered file: everything goes through a temporary file in the
//! same folder, renamed over the target once complete. Only regular files are
//! replaced: a destination that is a directory, a device or a FIFO is refused,
//! and a symlink is written through (its target replaced, the link kept).

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

/// Where writing `path` goes: `path` itself when nothing is there, the file
/// it names when it is a regular file or a symlink to one; an error for
/// anything else.
fn destination(path: &Path) -> std::io::Result<PathBuf> {
    let refuse = |what: &str| {
        Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("it is {what}, not a regular file")))
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => std::fs::canonicalize(path),
        Ok(m) if m.is_dir() => refuse("a directory"),
        Ok(_) => refuse("a device, FIFO or socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => refuse("a symlink to nothing"),
        Err(e) => Err(e),
    }
}

/// Runs `write` on a temporary file beside `path`'s destination, then renames
/// it over the destination; on failure the temporary file is removed and the
/// destination is untouched.
pub fn write_via_temporary<E>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let target = destination(path)?;
    let tmp = temporary(&target);
    let r = write(&tmp).and_then(|()| std::fs::rename(&tmp, &target).map_err(E::from));
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

/// An output folder held by one run: created if need be, and locked (an
/// advisory lock on `.analogc.lock` in it, released when the `Lock` drops or
/// the process ends) so that two runs never write the same folder at once.
pub struct Lock {
    dir: PathBuf,
    _file: File,
}

impl Lock {
    /// Takes `dir`, or fails at once if another run holds it.
    pub fn take(dir: &Path) -> crate::error::Result<Lock> {
        use crate::diag::Code;
        use crate::error::Error;
        let unwritable =
            |e: std::io::Error| Error::user(Code::OutputUnwritable, format!("cannot create `{}`: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let file = File::options().create(true).truncate(false).write(true).open(dir.join(".analogc.lock"));
        let file = file.map_err(unwritable)?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { dir: dir.to_path_buf(), _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::user(
                Code::OutputBusy,
                format!("another analogc is writing `{}`: wait for it, or choose another folder", dir.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(unwritable(e)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
