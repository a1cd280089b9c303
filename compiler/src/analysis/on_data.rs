//! `analyze --calibrate` from a dataset's name and a sweep folder: the
//! static report, the data opened, the midpoints read, then the calibration.

use super::report::{analyze, analyze_calibrated, sweep_midpoints, Analysis, CalibrateOptions};
use crate::control::Control;
use crate::data::Data;
use crate::diag::Code;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::sweep::output;
use std::path::Path;

/// The calibrated report of `model` on the dataset `data` names (a folder or
/// a name; `None`: the model's own), its first `limit` samples; layers ranked
/// for denoise blocks by the Walking-Noise midpoints of the `sweep --out`
/// folder `sweep_dir` when given (replacing `options.midpoints`).
pub fn analyze_on_data(
    model: &Model,
    data: Option<&str>,
    limit: Option<usize>,
    sweep_dir: Option<&Path>,
    mut options: CalibrateOptions,
    control: Control,
) -> Result<Analysis> {
    // The static report first: its errors come before those of the data.
    analyze(model)?;
    options.check()?;
    let data = Data::open(model, data, limit)?;
    if let Some(dir) = sweep_dir {
        let sweep = output::read(dir).map_err(|e| Error::user(Code::BadAnalysis, e))?;
        options.midpoints = Some(sweep_midpoints(&sweep, dir, model.name())?);
    }
    analyze_calibrated(model, &data, &options, control)
}
