//! `analogc import`: an ONNX network as a model file of the language and its
//! weights. The importer writes the language's text; the caller checks that
//! text with the normal front end, so the checker is the one gate every
//! model goes through. See `docs/import.md` for what maps to what.
//!
//! - `proto`: ONNX's protobuf messages (generated, committed);
//! - `tensor`: initializers and constants as numbers;
//! - `fold`: constant folding of shape arithmetic (`Shape → Gather → … → Reshape`);
//! - `convert`: the walk over the graph, node patterns → layers;
//! - `layers`: the layers as the language writes them, and the weights file;
//! - `names`: ONNX names as valid, unique identifiers.

mod convert;
mod fold;
mod fold_pads;
mod layers;
mod names;
#[allow(clippy::all, clippy::pedantic)]
mod proto;
mod tensor;
mod write;

pub use write::{default_name, import_file, Written};

use crate::diag::{Code, Diagnostic};
use crate::error::{Error, Result};
use prost::Message;

/// The opsets of the default ONNX domain the importer reads.
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=21;

/// The ONNX operators the importer maps (see `docs/import.md`).
pub const SUPPORTED: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Conv",
    "Pad",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "Clip",
    "HardSigmoid",
    "HardSwish",
    "Mul",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Flatten",
    "Reshape",
    "Dropout",
    "Identity",
    "Constant",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Cast",
    "ConstantOfShape",
    "Slice",
    "Transpose",
    "Sub",
];

/// The element type the generated model's inputs declare.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum InputDtype {
    /// Raw pixels, 0…255, converted to f32 by value.
    U8,
    #[default]
    F32,
}

/// How to import: the model's name and the preprocessing steps put in front
/// of the network (the ONNX graph takes its input already preprocessed).
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The model's name (made a valid identifier); also the files' name.
    pub name: String,
    pub input_dtype: InputDtype,
    /// `scale(f)` first.
    pub scale: Option<f64>,
    /// Then `normalize(mean, std)`.
    pub normalize: Option<(f64, f64)>,
}

/// An imported network.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The model's name, a valid identifier: the files are `NAME.anl` and `NAME.safetensors`.
    pub name: String,
    /// The model file's text; it names `NAME.safetensors` beside it.
    pub anl: String,
    /// The weights file's bytes (safetensors, f32), `None` when no layer has weights.
    pub safetensors: Option<Vec<u8>>,
    /// How many layers the model has.
    pub layers: usize,
}

/// Imports the ONNX model in `bytes`.
pub fn import_onnx(bytes: &[u8], options: &ImportOptions) -> Result<Imported> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| {
        user(vec![fail(Code::OnnxUnreadable, format!("not a valid ONNX file: {e}"))
            .help("the file may be truncated, or not an ONNX model (`onnx.checker.check_model` tells)")])
    })?;
    let converted = convert::convert(&model).map_err(user)?;
    let name = names::identifier(&options.name, "model");
    let (anl, safetensors) = layers::write(&name, &converted, options)?;
    Ok(Imported { name, anl, safetensors, layers: converted.layers.len() })
}

/// A diagnostic of the importer; its messages say which ONNX node or tensor.
pub(crate) type ImportError = Diagnostic;

fn fail(code: Code, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, message)
}

fn user(diagnostics: Vec<Diagnostic>) -> Error {
    Error::User { sources: Box::default(), diagnostics }
}
