//! An ONNX file imported into a folder: `DIR/NAME.anl` and
//! `DIR/NAME.safetensors`, checked by the normal front end before they count
//! as written (`analogc import`, the Python package's `import_onnx`).

use super::{import_onnx, ImportOptions};
use crate::check;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::files::{write_atomic, Lock};
use crate::model::Model;
use std::path::{Path, PathBuf};

/// The files an import wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub anl: PathBuf,
    /// `None` when no layer has weights.
    pub weights: Option<PathBuf>,
    pub layers: usize,
}

/// The model's name when none is given: the ONNX file's stem.
pub fn default_name(file: &Path) -> String {
    file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Imports the ONNX file `file` into the folder `out`, then loads the model
/// file written with `check`; a model that does not check is the importer's
/// bug and leaves no files behind.
pub fn import_file(file: &Path, out: &Path, options: &ImportOptions, check: check::Options) -> Result<Written> {
    let bytes = analog_runtime::files::read(file, analog_runtime::files::DATA)
        .map_err(|e| Error::user(Code::OnnxUnreadable, format!("cannot read `{}`: {e}", file.display())))?;
    let imported = import_onnx(&bytes, options)?;
    let out = Lock::take(out)?;
    let anl = out.dir().join(format!("{}.anl", imported.name));
    let weights = out.dir().join(format!("{}.safetensors", imported.name));
    let unwritable = |path: &PathBuf, e: std::io::Error| {
        Error::user(Code::OutputUnwritable, format!("cannot write `{}`: {e}", path.display()))
    };
    if let Some(bytes) = &imported.safetensors {
        write_atomic(&weights, bytes).map_err(|e| unwritable(&weights, e))?;
    }
    write_atomic(&anl, imported.anl.as_bytes()).map_err(|e| unwritable(&anl, e))?;
    if let Err(e) = Model::load_checked(&anl, &[], check) {
        let _ = std::fs::remove_file(&anl);
        if imported.safetensors.is_some() {
            let _ = std::fs::remove_file(&weights);
        }
        return Err(Error::Internal(format!("the imported model does not check:\n{e}")));
    }
    Ok(Written { anl, weights: imported.safetensors.map(|_| weights), layers: imported.layers })
}

impl Written {
    /// What `analogc import` prints: the files written.
    pub fn text(&self) -> String {
        let layers = if self.layers == 1 { "1 layer".to_string() } else { format!("{} layers", self.layers) };
        match &self.weights {
            Some(w) => format!("wrote {} ({layers}) and {}\n", self.anl.display(), w.display()),
            None => format!("wrote {} ({layers})\n", self.anl.display()),
        }
    }
}
