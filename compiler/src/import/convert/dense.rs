//! `Gemm` and `MatMul` → `dense`; `Add` → `add`, or a constant added to a
//! dense or conv layer folded into its bias (older exporters write a conv's
//! bias as a separate broadcast `Add`).

use super::{floats, node_label, unsupported, vector, Ctx, Value};
use crate::import::layers::{Layer, Weight};
use crate::import::names::layer_name;
use crate::import::proto::NodeProto;
use crate::import::ImportError;

impl Ctx {
    pub(super) fn gemm(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let n = vector(node, &shape)?;
        let (alpha, beta) = (self.float_attr(node, "alpha", 1.0), self.float_attr(node, "beta", 1.0));
        let has_c = node.input.get(2).is_some_and(|c| !c.is_empty());
        if self.int_attr(node, "transA", 0) != 0 || alpha != 1.0 || (has_c && beta != 1.0) {
            return Err(unsupported(
                node,
                "only `transA = 0`, `alpha = 1`, `beta = 1` (as PyTorch exports `nn.Linear`) are supported",
            ));
        }
        let b = self.float_constant(node, 1)?;
        if b.dims.len() != 2 {
            return Err(unsupported(
                node,
                format!("its weight `{}` has dimensions {:?}, not 2", node.input[1], b.dims),
            ));
        }
        let trans_b = self.int_attr(node, "transB", 0) != 0;
        let (out, inner) = if trans_b { (b.dims[0], b.dims[1]) } else { (b.dims[1], b.dims[0]) };
        if inner != n {
            return Err(unsupported(
                node,
                format!("its weight `{}` {:?} does not fit an input of {n} features", node.input[1], b.dims),
            ));
        }
        let base = layer_name(node.name(), node.op_type(), Some(&node.input[1]));
        let name = self.names.unique(&base);
        let weight = if trans_b {
            Weight::kept("weight", &node.input[1], vec![out, n], floats(&b))
        } else {
            Weight::made("weight", &name, vec![out, n], transpose(&floats(&b), n, out))
        };
        let mut layer = Layer::new("dense", vec![x], vec![out]);
        layer.arg(None, out.to_string());
        layer.weights.push(weight);
        layer.has_bias = true;
        if has_c {
            let c = self.float_constant(node, 2)?;
            let bias = match *pad_left(&c.dims, 2) {
                [1, k] if k == out => Weight::kept("bias", &node.input[2], vec![out], floats(&c)),
                [1, 1] => Weight::made("bias", &name, vec![out], vec![floats(&c)[0]; out]),
                _ => {
                    return Err(unsupported(
                        node,
                        format!("its bias `{}` {:?} is not one number per output", node.input[2], c.dims),
                    ))
                }
            };
            layer.weights.push(bias);
        }
        self.push(node, name, layer);
        Ok(())
    }

    pub(super) fn matmul(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let n = vector(node, &shape)?;
        let b = self.float_constant(node, 1)?;
        if b.dims.len() != 2 || b.dims[0] != n {
            return Err(unsupported(
                node,
                format!("its second operand `{}` {:?} is not a [{n}, out] matrix: only MatMul of a vector by a constant matrix is supported", node.input[1], b.dims),
            ));
        }
        let out = b.dims[1];
        let name = self.names.unique(&layer_name(node.name(), node.op_type(), Some(&node.input[1])));
        let mut layer = Layer::new("dense", vec![x], vec![out]);
        layer.arg(None, out.to_string());
        layer.weights.push(Weight::made("weight", &name, vec![out, n], transpose(&floats(&b), n, out)));
        layer.has_bias = true;
        self.push(node, name, layer);
        Ok(())
    }

    /// `add` of two tensors of the model, or a constant added to the output of
    /// the dense or conv layer right before it: its bias.
    pub(super) fn add(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (a, b) = (self.value(node, 0)?, self.value(node, 1)?);
        match (a, b) {
            (Value::Act { id: x, shape: sx, .. }, Value::Act { id: y, shape: sy, .. }) => {
                if sx != sy {
                    return Err(unsupported(
                        node,
                        format!("it adds {sx:?} to {sy:?}: `add` takes two tensors of one shape (no broadcasting)"),
                    ));
                }
                let (x, y, shape) = (x.clone(), y.clone(), sx.clone());
                self.layer(node, Layer::new("add", vec![x, y], shape));
                Ok(())
            }
            (Value::Const(_), Value::Const(_)) => Err(unsupported(node, "it adds two constants")),
            (Value::Act { .. }, Value::Const(_)) => self.bias_add(node, 0, 1),
            (Value::Const(_), Value::Act { .. }) => self.bias_add(node, 1, 0),
        }
    }

    fn bias_add(&mut self, node: &NodeProto, act: usize, constant: usize) -> Result<(), ImportError> {
        let not_bias = || {
            unsupported(
                node,
                format!("it adds a constant to `{}`: a constant is added only as the bias of the dense or conv layer right before, whose output nothing else reads (`add` takes two tensors of the model)", node.input[act]),
            )
        };
        let Some(Value::Act { id, shape, layer: Some(k) }) = self.values.get(&node.input[act]) else {
            return Err(not_bias());
        };
        let (id, shape, k) = (id.clone(), shape.clone(), *k);
        if !matches!(self.layers[k].op, "dense" | "conv2d") || self.readers.get(&node.input[act]) != Some(&1) {
            return Err(not_bias());
        }
        let c = self.float_constant(node, constant)?;
        let channels = shape[0];
        let padded = pad_left(&c.dims, shape.len() + 1);
        let per_channel = padded.len() == shape.len() + 1
            && padded[0] == 1
            && (padded[1] == channels || padded[1] == 1)
            && padded[2..].iter().all(|&d| d == 1);
        if !per_channel {
            return Err(unsupported(
                node,
                format!(
                    "the constant `{}` {:?} added to `{id}` {shape:?} is not one number per channel",
                    node.input[constant], c.dims
                ),
            ));
        }
        let values = floats(&c);
        let values = if values.len() == channels { values } else { vec![values[0]; channels] };
        let layer = &mut self.layers[k];
        let bias = match layer.weights.iter().position(|w| w.role == "bias") {
            Some(b) => {
                let sum = layer.weights[b].data.iter().zip(&values).map(|(x, y)| x + y).collect();
                Weight::made("bias", &layer.name, vec![channels], sum)
            }
            None if c.len() == channels => Weight::kept("bias", &node.input[constant], vec![channels], values),
            None => Weight::made("bias", &layer.name, vec![channels], values),
        };
        layer.weights.retain(|w| w.role != "bias");
        layer.weights.push(bias);
        layer.node = format!("{} + {}", layer.node, node_label(node));
        self.set(node, Value::Act { id, shape, layer: Some(k) });
        Ok(())
    }
}

/// `m` of `rows × cols`, transposed.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = m[r * cols + c];
        }
    }
    out
}

/// `dims` with leading 1s up to `rank` (numpy broadcasting); longer stays longer.
fn pad_left(dims: &[usize], rank: usize) -> Vec<usize> {
    let mut out = vec![1; rank.saturating_sub(dims.len())];
    out.extend_from_slice(dims);
    out
}
