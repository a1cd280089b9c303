//! The layers as the language writes them, and the weights file they read.
//!
//! A weight the importer keeps as ONNX has it is saved under its initializer's
//! name (a PyTorch export's `state_dict` name) and bound with `weight = "…"`,
//! or all of a layer's with `weights = "PREFIX"` when they share one; one it
//! had to change (transposed, summed, broadcast) is saved under the
//! layer's default name (`<layer>.weight`), which needs no argument.

use super::convert::Converted;
use super::{ImportOptions, InputDtype};
use crate::error::{Error, Result};
use crate::syntax::print::string_literal;
use std::collections::HashMap;
use std::fmt::Write;

/// One statement `name = op(operands, args, weights)`.
pub struct Layer {
    pub name: String,
    pub op: &'static str,
    pub operands: Vec<String>,
    /// Positional (`None`) then keyword arguments, as written.
    pub args: Vec<(Option<&'static str>, String)>,
    pub weights: Vec<Weight>,
    /// A dense or conv layer: without a bias tensor it says `bias = false`.
    pub has_bias: bool,
    /// The shape of one sample of its output.
    pub shape: Vec<usize>,
    /// The ONNX nodes it comes from, for its comment.
    pub node: String,
}

impl Layer {
    pub fn new(op: &'static str, operands: Vec<String>, shape: Vec<usize>) -> Self {
        Layer {
            name: String::new(),
            op,
            operands,
            args: vec![],
            weights: vec![],
            has_bias: false,
            shape,
            node: String::new(),
        }
    }

    pub fn arg(&mut self, key: Option<&'static str>, value: String) {
        self.args.push((key, value));
    }
}

/// A tensor a layer reads: `role` is its parameter (`weight`, `bias`,
/// `running_mean`, `running_var`), `name` the name it is saved under if free.
pub struct Weight {
    pub role: &'static str,
    pub name: String,
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

impl Weight {
    /// An ONNX initializer as it is (up to axes of length 1).
    pub fn kept(role: &'static str, initializer: &str, dims: Vec<usize>, data: Vec<f32>) -> Self {
        Weight { role, name: initializer.to_string(), dims, data }
    }

    /// A tensor the importer computed for `layer`.
    pub fn made(role: &'static str, layer: &str, dims: Vec<usize>, data: Vec<f32>) -> Self {
        Weight { role, name: format!("{layer}.{role}"), dims, data }
    }
}

/// `k` for a square window, else `[h, w]`.
pub fn pair(h: usize, w: usize) -> String {
    if h == w {
        h.to_string()
    } else {
        format!("[{h}, {w}]")
    }
}

/// The tensors of the weights file, by name.
#[derive(Default)]
struct Store {
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    index: HashMap<String, usize>,
}

impl Store {
    /// Saves `w` under `wanted`, or the same tensor already saved there, or
    /// else a free name derived from it; the name it is saved under.
    fn put(&mut self, wanted: &str, w: &Weight) -> String {
        let mut name = wanted.to_string();
        let mut k = 2;
        while let Some(&i) = self.index.get(&name) {
            let (_, dims, data) = &self.tensors[i];
            if *dims == w.dims && data.iter().map(|x| x.to_bits()).eq(w.data.iter().map(|x| x.to_bits())) {
                return name;
            }
            name = format!("{wanted}_{k}");
            k += 1;
        }
        self.index.insert(name.clone(), self.tensors.len());
        self.tensors.push((name.clone(), w.dims.clone(), w.data.clone()));
        name
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        let bytes: Vec<Vec<u8>> =
            self.tensors.iter().map(|(_, _, data)| data.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let mut views = vec![];
        for ((name, dims, _), b) in self.tensors.iter().zip(&bytes) {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, dims.clone(), b)
                .map_err(|e| Error::Internal(format!("tensor `{name}`: {e}")))?;
            views.push((name.clone(), view));
        }
        safetensors::serialize(views, None).map_err(|e| Error::Internal(format!("safetensors: {e}")))
    }
}

/// The model file's text and the weights file's bytes (none without weights).
pub fn write(name: &str, net: &Converted, options: &ImportOptions) -> Result<(String, Option<Vec<u8>>)> {
    let mut store = Store::default();
    let mut statements = vec![];
    for layer in &net.layers {
        let mut args: Vec<String> = layer.operands.clone();
        for (key, value) in &layer.args {
            args.push(match key {
                Some(k) => format!("{k} = {value}"),
                None => value.clone(),
            });
        }
        let saved: Vec<String> = layer.weights.iter().map(|w| store.put(&saved_name(layer, w), w)).collect();
        match shared_prefix(layer, &saved) {
            Some(prefix) if prefix != layer.name => args.push(format!("weights = {}", string_literal(prefix))),
            Some(_) => {}
            None => {
                for (w, saved) in layer.weights.iter().zip(&saved) {
                    if *saved != format!("{}.{}", layer.name, w.role) {
                        args.push(format!("{} = {}", w.role, string_literal(saved)));
                    }
                }
            }
        }
        if layer.has_bias && !layer.weights.iter().any(|w| w.role == "bias") {
            args.push("bias = false".into());
        }
        let statement = format!("{} = {}({})", layer.name, layer.op, args.join(", "));
        statements.push((statement, format!("{:?} {}", layer.shape, layer.node)));
    }

    let mut text = String::new();
    let producer = if net.producer.is_empty() { String::new() } else { format!(", written by {}", net.producer) };
    let _ = writeln!(text, "// Imported by `analogc import` from ONNX (opset {}{producer}).", net.opset);
    let _ = writeln!(text, "// Each layer's comment: its output shape per sample, and the ONNX nodes it comes from.");
    let _ = writeln!(text, "model {name} {{");
    if !store.tensors.is_empty() {
        let _ = writeln!(text, "  weights {}", string_literal(&format!("{name}.safetensors")));
    }
    for input in &net.inputs {
        let dtype = match options.input_dtype {
            InputDtype::U8 => "u8",
            InputDtype::F32 => "f32",
        };
        let dims: Vec<String> = input.dims.iter().map(usize::to_string).collect();
        let _ = write!(text, "  input {}: {dtype}[{}]", input.name, dims.join(", "));
        let mut steps = vec![];
        if let Some(f) = options.scale {
            steps.push(format!("scale({f})"));
        }
        if let Some((mean, std)) = options.normalize {
            steps.push(format!("normalize(mean = {mean}, std = {std})"));
        }
        if steps.is_empty() {
            text.push('\n');
        } else {
            let _ = writeln!(text, " {{");
            for s in steps {
                let _ = writeln!(text, "    {s}");
            }
            let _ = writeln!(text, "  }}");
        }
    }
    let width = statements.iter().map(|(s, _)| s.len()).max().unwrap_or(0).min(72);
    for (statement, comment) in statements {
        let _ = writeln!(text, "  {statement:<width$}  // {comment}");
    }
    for (out, source) in &net.outputs {
        if out == source {
            let _ = writeln!(text, "  output {out}");
        } else {
            let _ = writeln!(text, "  output {out} = {source}");
        }
    }
    text.push_str("}\n");
    let bytes = if store.tensors.is_empty() { None } else { Some(store.serialize()?) };
    Ok((text, bytes))
}

/// The name `w` is saved under: its own, except a name the exporter made up
/// (`onnx::Conv_62`, a conv with the batch norm folded in), which says less
/// than the layer's default name and needs an argument to bind.
fn saved_name(layer: &Layer, w: &Weight) -> String {
    if w.name.starts_with("onnx::") {
        format!("{}.{}", layer.name, w.role)
    } else {
        w.name.clone()
    }
}

/// `P` when every tensor of the layer is saved as `P.ROLE` (a state_dict's
/// `features.0.weight`, `features.0.bias`): one `weights = "P"` binds them all.
fn shared_prefix<'a>(layer: &Layer, saved: &'a [String]) -> Option<&'a str> {
    let mut prefixes = layer.weights.iter().zip(saved).map(|(w, s)| s.strip_suffix(&format!(".{}", w.role)));
    let first = prefixes.next()??;
    prefixes.all(|p| p == Some(first)).then_some(first)
}
