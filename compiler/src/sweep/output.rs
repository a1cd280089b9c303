//! A sweep's output folder: `sweep.csv`, `sweep.json` and, for a whole
//! sweep, the plots `sweep.svg` and `sweep.png`; each file written atomically.

use super::plot::{plot_png, plot_svg};
use super::result::{Stored, SweepResult};
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::files::{write_atomic, Lock};
use analog_runtime::files;
use std::path::Path;

/// Writes the result's files into the folder `out` holds.
pub fn write(result: &SweepResult, out: &Lock) -> Result<()> {
    let unwritable = |what: String| Error::user(Code::OutputUnwritable, what);
    let dir = out.dir();
    let mut files: Vec<(&str, Vec<u8>)> =
        vec![("sweep.csv", result.csv().into_bytes()), ("sweep.json", result.json_pretty().into_bytes())];
    if result.shard.is_none() {
        let svg = plot_svg(result).map_err(|e| unwritable(format!("cannot draw the plot: {e}")))?;
        files.push(("sweep.svg", svg.into_bytes()));
    }
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, &bytes).map_err(|e| unwritable(format!("cannot write `{}`: {e}", path.display())))?;
    }
    if result.shard.is_none() {
        let path = dir.join("sweep.png");
        plot_png(result, &path).map_err(|e| unwritable(format!("cannot write `{}`: {e}", path.display())))?;
    }
    Ok(())
}

/// Reads the `sweep.json` of an output folder.
pub fn read(dir: &Path) -> Result<SweepResult, String> {
    let path = dir.join("sweep.json");
    let bytes = files::read(&path, files::DOCUMENT).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8 text", path.display()))?;
    let not_sweep = |e: String| format!("`{}` is not the output of `analogc sweep`: {e}", path.display());
    let file: Stored = serde_json::from_str(&text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => not_sweep(e.to_string()),
        _ => format!("`{}` is not JSON: {e}", path.display()),
    })?;
    SweepResult::from_stored(file).map_err(not_sweep)
}
