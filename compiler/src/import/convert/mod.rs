//! The walk over an ONNX graph: inputs, then every node in order (ONNX lists
//! them topologically), each mapped to a layer, folded into a constant,
//! folded into the layer before it (a bias `Add`) or removed (`Dropout`,
//! `Identity`); then the outputs. Shapes are of one sample: ONNX's first axis
//! is the batch and is dropped.

mod dense;
mod plain;
mod window;

use super::layers::{Layer, Weight};
use super::names::{identifier, layer_name, Names};
use super::proto::{tensor_shape_proto::dimension, type_proto, GraphProto, ModelProto, NodeProto};
use super::tensor::{self, Tensor, Values};
use super::{fail, fold, fold_pads, ImportError, OPSETS, SUPPORTED};
use crate::diag::Code;
use analog_runtime::ir::op::Padding2d;
use std::collections::{HashMap, HashSet};

/// The network as the language's statements.
pub struct Converted {
    pub producer: String,
    pub opset: i64,
    pub inputs: Vec<Input>,
    pub layers: Vec<Layer>,
    /// `output NAME = SOURCE`, or `output NAME` when the two are the same.
    pub outputs: Vec<(String, String)>,
}

pub struct Input {
    pub name: String,
    pub dims: Vec<usize>,
}

/// What an ONNX value is, once imported.
enum Value {
    Const(Tensor),
    /// A tensor of the model: its identifier, its shape per sample, and the
    /// layer that computes it (none for an input).
    Act {
        id: String,
        shape: Vec<usize>,
        layer: Option<usize>,
    },
}

struct Ctx {
    opset: i64,
    values: HashMap<String, Value>,
    /// How many nodes and graph outputs read each value.
    readers: HashMap<String, usize>,
    names: Names,
    layers: Vec<Layer>,
    /// The values read only by `Flatten` nodes (not graph outputs).
    flattened: HashSet<String>,
    /// The values read only as the input of `Conv` nodes (not graph outputs).
    conv_inputs: HashSet<String>,
    /// The outputs of zero `Pad`s, which stand for their inputs: the padding
    /// each adds around a convolution's input (`[[top, bottom], [left, right]]`)
    /// and the `Pad` node, for the conv's comment.
    padded: HashMap<String, (Padding2d, String)>,
}

/// Converts `model`, or says everything that keeps it from being imported
/// (every unsupported node at once; else the first problem found).
pub fn convert(model: &ModelProto) -> Result<Converted, Vec<ImportError>> {
    let graph = model.graph.as_ref().ok_or_else(|| vec![fail(Code::OnnxUnreadable, "the ONNX file holds no graph")])?;
    let opset = opset(model).map_err(|e| vec![e])?;
    let mut unsupported: Vec<ImportError> =
        graph.node.iter().filter(|n| !is_supported(n)).map(unsupported_op).collect();
    if let Some(last) = unsupported.pop() {
        unsupported.push(last.help(format!("supported ONNX operators: {}", SUPPORTED.join(", "))));
        return Err(unsupported);
    }
    let mut readers = HashMap::new();
    for name in
        graph.node.iter().flat_map(|n| n.input.iter().map(String::as_str)).chain(graph.output.iter().map(|o| o.name()))
    {
        *readers.entry(name.to_string()).or_insert(0) += 1;
    }
    let flattened = read_only_by(graph, |n, _| n.op_type() == "Flatten");
    let conv_inputs = read_only_by(graph, |n, k| n.op_type() == "Conv" && k == 0);
    let mut ctx = Ctx {
        opset,
        values: HashMap::new(),
        readers,
        names: Names::default(),
        layers: vec![],
        flattened,
        conv_inputs,
        padded: HashMap::new(),
    };
    let inputs = ctx.graph_inputs(graph).map_err(|e| vec![e])?;
    for node in &graph.node {
        ctx.node(node).map_err(|e| vec![e])?;
    }
    let outputs = ctx.outputs(graph).map_err(|e| vec![e])?;
    Ok(Converted { producer: model.producer_name().to_string(), opset, inputs, layers: ctx.layers, outputs })
}

/// The values that nodes read and that only `reader(node, input index)`
/// nodes read, none of them a graph output.
fn read_only_by(graph: &GraphProto, reader: impl Fn(&NodeProto, usize) -> bool) -> HashSet<String> {
    let mut only: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    for n in &graph.node {
        for (k, name) in n.input.iter().enumerate() {
            if !reader(n, k) {
                only.remove(name);
            }
        }
    }
    for out in &graph.output {
        only.remove(out.name());
    }
    only
}

fn opset(model: &ModelProto) -> Result<i64, ImportError> {
    let default = model.opset_import.iter().find(|o| matches!(o.domain(), "" | "ai.onnx"));
    let version = default.map(|o| o.version()).ok_or_else(|| {
        fail(Code::OnnxOpset, "the ONNX file imports no opset of the default domain").help(format!(
            "`analogc import` reads opsets {} to {}",
            OPSETS.start(),
            OPSETS.end()
        ))
    })?;
    if !OPSETS.contains(&version) {
        return Err(fail(Code::OnnxOpset, format!("the ONNX file uses opset {version}")).help(format!(
            "`analogc import` reads opsets {} to {}: convert the model (`onnx.version_converter.convert_version`) or export it again with `opset_version` in that range",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    Ok(version)
}

fn is_supported(node: &NodeProto) -> bool {
    matches!(node.domain(), "" | "ai.onnx") && SUPPORTED.contains(&node.op_type())
}

fn unsupported_op(node: &NodeProto) -> ImportError {
    let op = match node.domain() {
        "" | "ai.onnx" => node.op_type().to_string(),
        domain => format!("{domain}.{}", node.op_type()),
    };
    fail(Code::OnnxUnsupported, format!("{}: the language has no operation for `{op}`", describe(node)))
}

/// How diagnostics name a node: its op and name (or, unnamed, what it writes).
pub(super) fn describe(node: &NodeProto) -> String {
    match (node.name(), node.output.first()) {
        ("", Some(out)) => format!("`{}` node writing `{out}`", node.op_type()),
        (name, _) => format!("`{}` node `{name}`", node.op_type()),
    }
}

/// A diagnostic about a node's pattern or attributes.
pub(super) fn unsupported(node: &NodeProto, what: impl std::fmt::Display) -> ImportError {
    fail(Code::OnnxUnsupported, format!("{}: {what}", describe(node)))
}

impl Ctx {
    fn graph_inputs(&mut self, graph: &GraphProto) -> Result<Vec<Input>, ImportError> {
        for init in &graph.initializer {
            let t = tensor::read(init, &format!("initializer `{}`", init.name()))?;
            self.values.insert(init.name().to_string(), Value::Const(t));
        }
        if let Some(sparse) = graph.sparse_initializer.first() {
            let name = sparse.values.as_ref().map_or("", |v| v.name());
            return Err(fail(
                Code::OnnxType,
                format!("initializer `{name}` is a sparse tensor, which `analogc import` does not read"),
            ));
        }
        let mut inputs = vec![];
        // Older exporters list the initializers among the inputs too.
        let initializers: Vec<&str> = graph.initializer.iter().map(|i| i.name()).collect();
        for input in graph.input.iter().filter(|i| !initializers.contains(&i.name())) {
            let what = format!("input `{}`", input.name());
            let Some(type_proto::Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
                return Err(fail(Code::OnnxType, format!("{what} is not a tensor")));
            };
            if t.elem_type() != 1 {
                let name = tensor_type_name(t.elem_type());
                let e = fail(Code::OnnxType, format!("{what} holds {name}; a model's input is FLOAT"));
                // UINT8: images fed as bytes, which the language reads as `u8` inputs.
                return Err(if t.elem_type() == 2 {
                    e.help("export with a FLOAT input and import with `--input-dtype u8`")
                } else {
                    e
                });
            }
            let dims = t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
            let Some((_batch, rest)) = dims.split_first() else {
                return Err(fail(Code::OnnxDynamicShape, format!("{what} has no shape")));
            };
            let mut shape = vec![];
            for (k, d) in rest.iter().enumerate() {
                match d.value {
                    Some(dimension::Value::DimValue(v)) if v >= 1 => shape.push(v as usize),
                    _ => {
                        let shown = match &d.value {
                            Some(dimension::Value::DimParam(p)) => format!("`{p}`"),
                            Some(dimension::Value::DimValue(v)) => v.to_string(),
                            None => "unknown".into(),
                        };
                        return Err(fail(
                            Code::OnnxDynamicShape,
                            format!(
                                "{what} has axis {} of size {shown}: only the batch axis (the first) may be dynamic",
                                k + 1
                            ),
                        )
                        .help("export with a fixed sample shape (no `dynamic_axes` but the batch)"));
                    }
                }
            }
            if !matches!(shape.len(), 1..=3) {
                return Err(unsupported_input(&what, &shape));
            }
            if shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).is_none_or(|n| n >= 1 << 32) {
                return Err(fail(Code::OnnxUnsupported, format!("{what} has shape {shape:?}: 2^32 elements or more")));
            }
            let name = self.names.unique(&identifier(input.name(), "input"));
            let value = Value::Act { id: name.clone(), shape: shape.clone(), layer: None };
            self.values.insert(input.name().to_string(), value);
            inputs.push(Input { name, dims: shape });
        }
        if inputs.is_empty() {
            return Err(fail(Code::OnnxUnsupported, "the ONNX graph has no input that is not an initializer"));
        }
        Ok(inputs)
    }

    fn outputs(&mut self, graph: &GraphProto) -> Result<Vec<(String, String)>, ImportError> {
        let mut outputs = vec![];
        for out in &graph.output {
            let id = match self.values.get(out.name()) {
                Some(Value::Act { id, .. }) => id.clone(),
                Some(Value::Const(_)) => {
                    return Err(fail(Code::OnnxUnsupported, format!("output `{}` is a constant", out.name())))
                }
                None => return Err(missing(&format!("output `{}`", out.name()), out.name())),
            };
            let wanted = identifier(out.name(), "output");
            let name = if wanted == id { id.clone() } else { self.names.unique(&wanted) };
            outputs.push((name, id));
        }
        Ok(outputs)
    }

    fn node(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        match node.op_type() {
            "Constant" => {
                let t = fold::constant(node)?;
                self.set(node, Value::Const(t));
            }
            "Identity" | "Dropout" => {
                if node.op_type() == "Dropout" {
                    if node.output.get(1).is_some_and(|m| self.is_read(m)) {
                        return Err(unsupported(
                            node,
                            "its mask output is used; a model at inference has no dropout mask",
                        ));
                    }
                    // From opset 12 a third input can switch dropout on.
                    let training = node.input.get(2).filter(|t| !t.is_empty()).is_some();
                    if training && self.constant(node, 2)?.ints().iter().any(|&t| t != 0) {
                        return Err(unsupported(node, "`training_mode` is true: only inference is supported"));
                    }
                }
                self.alias(node)?;
            }
            "Shape" => {
                let t = match self.value(node, 0)? {
                    Value::Const(t) => fold::shape(node, &t.dims)?,
                    // One sample: the batch axis is 1.
                    Value::Act { shape, .. } => fold::shape(node, &[&[1], shape.as_slice()].concat())?,
                };
                self.set(node, Value::Const(t));
            }
            "Concat" => self.concat(node)?,
            "Gather" | "Unsqueeze" | "Squeeze" | "Cast" => {
                let t = fold::fold(node, &self.constants(node)?, self.opset)?;
                self.set(node, Value::Const(t));
            }
            "ConstantOfShape" | "Slice" | "Transpose" | "Sub" => self.fold_pads(node)?,
            "Reshape" if matches!(self.value(node, 0)?, Value::Const(_)) => self.fold_pads(node)?,
            "Mul" if (0..2).all(|k| matches!(self.value(node, k), Ok(Value::Const(_)))) => self.fold_pads(node)?,
            "Gemm" => self.gemm(node)?,
            "MatMul" => self.matmul(node)?,
            "Add" => self.add(node)?,
            "Conv" => self.conv(node)?,
            "Pad" => self.pad(node)?,
            "BatchNormalization" => self.batchnorm(node)?,
            "Relu" | "Sigmoid" | "Tanh" => {
                let (x, shape) = self.act(node, 0)?;
                let op = match node.op_type() {
                    "Relu" => "relu",
                    "Sigmoid" => "sigmoid",
                    _ => "tanh",
                };
                self.layer(node, Layer::new(op, vec![x], shape));
            }
            "LeakyRelu" => self.leaky_relu(node)?,
            "HardSigmoid" => self.hard_sigmoid(node)?,
            "HardSwish" => {
                let (x, shape) = self.act(node, 0)?;
                self.layer(node, Layer::new("hard_swish", vec![x], shape));
            }
            "Mul" => self.mul(node)?,
            "Clip" => self.clip(node)?,
            "Softmax" => self.softmax(node)?,
            "MaxPool" | "AveragePool" => self.pool(node)?,
            "GlobalAveragePool" | "GlobalMaxPool" => self.global_pool(node)?,
            "Flatten" => {
                let (x, shape) = self.act(node, 0)?;
                let axis = self.int_attr(node, "axis", 1);
                if axis != 1 && axis != -(shape.len() as i64) {
                    return Err(unsupported(
                        node,
                        format!("`axis = {axis}`: only `axis = 1` (each sample to a vector) is supported"),
                    ));
                }
                self.flatten(node, x, shape)?;
            }
            "Reshape" => self.reshape(node)?,
            other => unreachable!("`{other}` passed the check of supported operators"),
        }
        Ok(())
    }

    /// A value to a vector: `flatten`, or nothing when it is one already.
    fn flatten(&mut self, node: &NodeProto, x: String, shape: Vec<usize>) -> Result<(), ImportError> {
        if shape.len() == 1 {
            self.alias(node)?;
        } else {
            let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            let n = n.ok_or_else(|| unsupported(node, format!("a tensor of shape {shape:?} is too large")))?;
            self.layer(node, Layer::new("flatten", vec![x], vec![n]));
        }
        Ok(())
    }

    fn reshape(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let target = self.constant(node, 1).map_err(|e| {
            if e.code == Code::OnnxUnsupported {
                unsupported(node, "its target shape is computed from the data at run time")
            } else {
                e
            }
        })?;
        let target = target.ints();
        let allow_zero = self.int_attr(node, "allowzero", 0) != 0;
        let full: Vec<usize> = [&[1], shape.as_slice()].concat();
        let per_sample = fold::reshape_per_sample(&target, &full, allow_zero);
        match per_sample {
            Some(dims) if dims == shape => {
                self.alias(node)?;
            }
            Some(dims) if dims.len() == 1 => self.flatten(node, x, shape)?,
            _ => {
                return Err(unsupported(
                    node,
                    format!("a reshape of {shape:?} to {target:?} (with the batch axis): the language reshapes a layer's output only to a vector (`flatten`)"),
                ))
            }
        }
        Ok(())
    }

    fn batchnorm(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        if self.int_attr(node, "training_mode", 0) != 0 || node.output.iter().skip(1).any(|o| self.is_read(o)) {
            return Err(unsupported(
                node,
                "batch statistics (training mode): only inference, with the running statistics, is supported",
            ));
        }
        if self.int_attr(node, "spatial", 1) != 1 {
            return Err(unsupported(node, "`spatial = 0`: the language normalizes per channel"));
        }
        let c = shape[0];
        let name = self.names.unique(&layer_name(node.name(), node.op_type(), Some(&node.input[1])));
        let mut layer = Layer::new("batchnorm", vec![x], shape);
        let eps = self.float_attr(node, "epsilon", 1e-5);
        if eps != 1e-5 {
            layer.arg(Some("eps"), eps.to_string());
        }
        for (k, role) in ["weight", "bias", "running_mean", "running_var"].into_iter().enumerate() {
            let t = self.float_constant(node, k + 1)?;
            if t.len() != c {
                return Err(unsupported(
                    node,
                    format!("its {role} `{}` {:?} is not one number per channel ({c})", node.input[k + 1], t.dims),
                ));
            }
            layer.weights.push(Weight::kept(role, &node.input[k + 1], vec![c], floats(&t)));
        }
        self.push(node, name, layer);
        Ok(())
    }

    fn softmax(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let rank = shape.len() as i64 + 1;
        // Before opset 13 Softmax flattened the axes from `axis` on (default 1);
        // either way it is the language's softmax when that is the last axis.
        let default = if self.opset < 13 { 1 } else { -1 };
        let axis = self.int_attr(node, "axis", default);
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis != rank - 1 {
            return Err(unsupported(
                node,
                format!("softmax over axis {axis} of {rank}: the language's `softmax` is over the last axis"),
            ));
        }
        self.layer(node, Layer::new("softmax", vec![x], shape));
        Ok(())
    }

    /// A node of the `pads` arithmetic, folded: every input a constant.
    fn fold_pads(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let t = fold_pads::fold(node, &self.constants(node)?, self.opset)?;
        self.set(node, Value::Const(t));
        Ok(())
    }

    /// Every input of `node` as a constant (`None` for an omitted optional one).
    fn constants(&self, node: &NodeProto) -> Result<Vec<Option<&Tensor>>, ImportError> {
        let mut operands = vec![];
        for k in 0..node.input.len() {
            operands.push(if node.input[k].is_empty() { None } else { Some(self.constant(node, k)?) });
        }
        Ok(operands)
    }

    // ---- values

    fn is_read(&self, name: &str) -> bool {
        !name.is_empty() && self.readers.contains_key(name)
    }

    /// `node`'s output is its first input, under another name. A bias is
    /// folded only into a layer's own output: its other readers see it.
    fn alias(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let value = match self.value(node, 0)? {
            Value::Act { id, shape, .. } => Value::Act { id: id.clone(), shape: shape.clone(), layer: None },
            Value::Const(t) => Value::Const(t.clone()),
        };
        self.set(node, value);
        Ok(())
    }

    fn set(&mut self, node: &NodeProto, value: Value) {
        if let Some(out) = node.output.first() {
            self.values.insert(out.clone(), value);
        }
    }

    fn value(&self, node: &NodeProto, k: usize) -> Result<&Value, ImportError> {
        let name = node.input.get(k).map(String::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(unsupported(node, format!("it has no input {}", k + 1)));
        }
        self.values.get(name).ok_or_else(|| missing(&describe(node), name))
    }

    fn act(&self, node: &NodeProto, k: usize) -> Result<(String, Vec<usize>), ImportError> {
        match self.value(node, k)? {
            Value::Act { id, shape, .. } => Ok((id.clone(), shape.clone())),
            Value::Const(_) => Err(unsupported(
                node,
                format!("its input `{}` is a constant, not computed from the model's input", node.input[k]),
            )),
        }
    }

    fn constant(&self, node: &NodeProto, k: usize) -> Result<&Tensor, ImportError> {
        match self.value(node, k)? {
            Value::Const(t) => Ok(t),
            Value::Act { .. } => {
                Err(unsupported(node, format!("its input `{}` must be a constant (an initializer)", node.input[k])))
            }
        }
    }

    fn float_constant(&self, node: &NodeProto, k: usize) -> Result<Tensor, ImportError> {
        let t = self.constant(node, k)?;
        match t.values {
            Values::F32(_) => Ok(t.clone()),
            Values::I64(_) => Err(fail(
                Code::OnnxType,
                format!(
                    "{}: its input `{}` holds integers where weights (floats) are needed",
                    describe(node),
                    node.input[k]
                ),
            )),
        }
    }

    /// Adds a layer computing `node`'s output, named after the node.
    fn layer(&mut self, node: &NodeProto, layer: Layer) {
        let name = self.names.unique(&layer_name(node.name(), node.op_type(), None));
        self.push(node, name, layer);
    }

    fn push(&mut self, node: &NodeProto, name: String, mut layer: Layer) {
        layer.name = name.clone();
        layer.node = node_label(node);
        let shape = layer.shape.clone();
        self.layers.push(layer);
        self.set(node, Value::Act { id: name, shape, layer: Some(self.layers.len() - 1) });
    }

    // ---- attributes

    fn attr<'a>(&self, node: &'a NodeProto, name: &str) -> Option<&'a super::proto::AttributeProto> {
        node.attribute.iter().find(|a| a.name() == name)
    }

    fn int_attr(&self, node: &NodeProto, name: &str, default: i64) -> i64 {
        self.attr(node, name).and_then(|a| a.i).unwrap_or(default)
    }

    fn float_attr(&self, node: &NodeProto, name: &str, default: f32) -> f32 {
        self.attr(node, name).and_then(|a| a.f).unwrap_or(default)
    }

    fn ints_attr(&self, node: &NodeProto, name: &str) -> Vec<i64> {
        self.attr(node, name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    fn string_attr(&self, node: &NodeProto, name: &str) -> String {
        self.attr(node, name)
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    }
}

fn node_label(node: &NodeProto) -> String {
    match node.name() {
        "" => node.op_type().to_string(),
        name => format!("{} {name}", node.op_type()),
    }
}

fn missing(what: &str, name: &str) -> ImportError {
    fail(
        Code::OnnxMissingTensor,
        format!("{what} reads `{name}`, which is neither an input, an initializer nor a node's output"),
    )
    .help("the file may have lost its initializers (saved without its weights?)")
}

fn unsupported_input(what: &str, shape: &[usize]) -> ImportError {
    fail(
        Code::OnnxUnsupported,
        format!(
            "{what} has shape {shape:?} per sample; the language's inputs are [features], [channels, length] or [channels, height, width]"
        ),
    )
}

fn tensor_type_name(t: i32) -> &'static str {
    super::proto::tensor_proto::DataType::try_from(t).map_or("an unknown type", |d| d.as_str_name())
}

/// `shape` as `[c, h, w]`, for a 2-D conv or pool.
fn spatial(node: &NodeProto, shape: &[usize]) -> Result<[usize; 3], ImportError> {
    match *shape {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(unsupported(
            node,
            format!("an input of shape {shape:?}: 2-D convolution and pooling take [channels, height, width]"),
        )),
    }
}

fn vector(node: &NodeProto, shape: &[usize]) -> Result<usize, ImportError> {
    match *shape {
        [n] => Ok(n),
        _ => Err(unsupported(
            node,
            format!("an input of shape {shape:?}: a dense layer takes a vector (`Flatten` first)"),
        )),
    }
}

fn floats(t: &Tensor) -> Vec<f32> {
    match &t.values {
        Values::F32(v) => v.clone(),
        Values::I64(v) => v.iter().map(|&x| x as f32).collect(),
    }
}
