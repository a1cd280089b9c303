//! `analogc import`: an ONNX file → `DIR/NAME.anl` + `DIR/NAME.safetensors`,
//! checked by the normal front end before it is reported written.

use super::output::{fail, print_stdout};
use super::{Cli, Outcome};
use crate::diag::Code;
use crate::error::Error;
use crate::files::{write_atomic, Lock};
use crate::import::{import_onnx, ImportOptions, InputDtype};
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
    let bytes = match analog_runtime::files::read(&args.file, analog_runtime::files::DATA) {
        Ok(b) => b,
        Err(e) => {
            return fail(cli, Error::user(Code::OnnxUnreadable, format!("cannot read `{}`: {e}", args.file.display())))
        }
    };
    let stem = args.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let options = ImportOptions {
        name: args.name.clone().unwrap_or(stem),
        input_dtype: match args.input_dtype {
            DtypeArg::U8 => InputDtype::U8,
            DtypeArg::F32 => InputDtype::F32,
        },
        scale: args.scale,
        normalize: args.normalize,
    };
    let imported = match import_onnx(&bytes, &options) {
        Ok(i) => i,
        Err(e) => return fail(cli, e),
    };
    let out = match Lock::take(&args.out) {
        Ok(l) => l,
        Err(e) => return fail(cli, e),
    };
    let anl = out.dir().join(format!("{}.anl", imported.name));
    let weights = out.dir().join(format!("{}.safetensors", imported.name));
    let unwritable = |path: &PathBuf, e: std::io::Error| {
        Error::user(Code::OutputUnwritable, format!("cannot write `{}`: {e}", path.display()))
    };
    if let Some(bytes) = &imported.safetensors {
        if let Err(e) = write_atomic(&weights, bytes) {
            return fail(cli, unwritable(&weights, e));
        }
    }
    if let Err(e) = write_atomic(&anl, imported.anl.as_bytes()) {
        return fail(cli, unwritable(&anl, e));
    }
    // The importer's output goes through the normal front end; a model that
    // does not check is the importer's bug, and leaves no files behind.
    if let Err(e) = crate::model::Model::load_checked(&anl, &[], cli.check_options(true)) {
        let _ = std::fs::remove_file(&anl);
        if imported.safetensors.is_some() {
            let _ = std::fs::remove_file(&weights);
        }
        return fail(cli, Error::Internal(format!("the imported model does not check:\n{e}")));
    }
    let layers = if imported.layers == 1 { "1 layer".to_string() } else { format!("{} layers", imported.layers) };
    let mut text = format!("wrote {} ({layers}", anl.display());
    if imported.safetensors.is_some() {
        text.push_str(&format!(") and {}\n", weights.display()));
    } else {
        text.push_str(")\n");
    }
    print_stdout(&text)
}
