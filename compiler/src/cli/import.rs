//! `analogc import`: an ONNX file → `DIR/NAME.anl` + `DIR/NAME.safetensors`,
//! checked by the normal front end before it is reported written.

use super::output::print_or_fail;
use super::{Cli, Outcome};
use crate::import::{default_name, import_file, ImportOptions, InputDtype};
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The ONNX file (opsets 7 to 21).
    file: PathBuf,
    /// The folder to write NAME.anl and NAME.safetensors in.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// The model's name and its files' (default: the ONNX file's name).
    #[arg(long)]
    name: Option<String>,
    /// The dtype the model's input declares.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    input_dtype: DtypeArg,
    /// Put `scale(F)` in front of the network (a number or a fraction: `1/255`).
    #[arg(long, value_name = "F", value_parser = number)]
    scale: Option<f64>,
    /// Then `normalize(mean = MEAN, std = STD)`.
    #[arg(long, value_name = "MEAN,STD", value_parser = mean_std)]
    normalize: Option<(f64, f64)>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum DtypeArg {
    U8,
    F32,
}

/// A number, or `a/b` as the language writes fractions.
fn number(s: &str) -> Result<f64, String> {
    let parse = |x: &str| x.trim().parse::<f64>().map_err(|e| format!("`{x}`: {e}"));
    let value = match s.split_once('/') {
        Some((a, b)) => parse(a)? / parse(b)?,
        None => parse(s)?,
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("`{s}` is not a finite number"))
    }
}

fn mean_std(s: &str) -> Result<(f64, f64), String> {
    match s.split_once(',') {
        Some((m, d)) => Ok((number(m)?, number(d)?)),
        None => Err("expected MEAN,STD (two numbers)".into()),
    }
}

pub fn import(cli: &Cli, args: &ImportArgs) -> Outcome {
    let options = ImportOptions {
        name: args.name.clone().unwrap_or_else(|| default_name(&args.file)),
        input_dtype: match args.input_dtype {
            DtypeArg::U8 => InputDtype::U8,
            DtypeArg::F32 => InputDtype::F32,
        },
        scale: args.scale,
        normalize: args.normalize,
    };
    print_or_fail(cli, import_file(&args.file, &args.out, &options, cli.check_options(true, None)), |w| w.text())
}
