//! What a model's hardware does, layer by layer, without and with data:
//! cost and bit budgets ([`report::analyze`]), calibration on data
//! ([`report::analyze_calibrated`]: activation ranges, ADC clipping, operand
//! histograms, sensitivities, the AME, denoise placement) and the AME's fit to
//! simulated accuracy ([`fit_ame::fit_ame`]). `docs/analysis.md` defines every figure.

pub mod calibrate;
pub mod fit;
pub mod fit_ame;
mod fit_ame_text;
pub mod layer_error;
pub mod multiplier_error;
mod on_data;
pub mod report;
pub mod sensitivity;
mod text;

pub use fit_ame::{fit_ame, FitAmeOptions, FitAmeReport};
pub use on_data::analyze_on_data;
pub use report::{analyze, analyze_calibrated, sweep_midpoints, Analysis, CalibrateOptions};
