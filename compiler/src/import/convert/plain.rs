//! Ops without weights beyond the plain activations: `LeakyRelu` →
//! `leaky_relu`, `Clip` → `clip` / `relu6` / `relu`, `HardSigmoid` →
//! `hard_sigmoid` (and with the `Mul` by its input that older exports write
//! for `Hardswish`, `hard_swish`), `Concat` of tensors of
//! the model → `concat` (of constants it is folded), `GlobalAveragePool` /
//! `GlobalMaxPool` → `globalavgpool` or a pooling over the whole plane.

use super::{node_label, spatial, unsupported, Ctx, Value};
use crate::import::fold;
use crate::import::layers::{pair, Layer};
use crate::import::proto::NodeProto;
use crate::import::ImportError;
use analog_runtime::derived::window::HARD_SWISH;

/// What an opset-11 `Clip` without a bound clips to (`±FLT_MAX`, ONNX's default).
const UNBOUNDED: f32 = f32::MAX;

impl Ctx {
    pub(super) fn leaky_relu(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let slope = self.float_attr(node, "alpha", 0.01);
        let mut layer = Layer::new("leaky_relu", vec![x], shape);
        if slope != 0.01 {
            layer.arg(Some("slope"), number(slope));
        }
        self.layer(node, layer);
        Ok(())
    }

    /// `alpha` and `beta` written when not the language's defaults (1/6 and 1/2,
    /// PyTorch's; ONNX's default `alpha` is 0.2).
    pub(super) fn hard_sigmoid(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let (alpha, beta) = (self.float_attr(node, "alpha", 0.2), self.float_attr(node, "beta", 0.5));
        let mut layer = Layer::new("hard_sigmoid", vec![x], shape);
        if alpha != HARD_SWISH.0 {
            layer.arg(Some("alpha"), number(alpha));
        }
        if beta != HARD_SWISH.1 {
            layer.arg(Some("beta"), number(beta));
        }
        self.layer(node, layer);
        Ok(())
    }

    /// `x · hard_sigmoid(x)` (alpha 1/6, beta 1/2), PyTorch's export of
    /// `Hardswish` before opset 14: the `hard_sigmoid` layer, read by this
    /// `Mul` only, becomes `hard_swish(x)`. No other product is expressible.
    pub(super) fn mul(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let operand = |k: usize| match self.values.get(node.input.get(k).map_or("", String::as_str)) {
            Some(Value::Act { id, layer, .. }) => Some((id.clone(), *layer)),
            _ => None,
        };
        let (a, b) = (operand(0), operand(1));
        let swish = [(&a, &b, 1), (&b, &a, 0)].into_iter().find_map(|(x, gate, k)| {
            let ((x, _), (_, Some(layer))) = (x.as_ref()?, gate.as_ref()?) else { return None };
            let l = &self.layers[*layer];
            let plain = l.op == "hard_sigmoid" && l.args.is_empty() && l.operands == [x.clone()];
            (plain && self.readers.get(&node.input[k]) == Some(&1)).then_some(*layer)
        });
        let Some(k) = swish else {
            return Err(unsupported(
                node,
                "the language multiplies tensors only as `hard_swish`: `x · HardSigmoid(x)` (alpha 1/6, beta 1/2, the sigmoid read by this `Mul` only)",
            ));
        };
        let layer = &mut self.layers[k];
        layer.op = "hard_swish";
        layer.node = format!("{} + {}", layer.node, node_label(node));
        let (id, shape) = (layer.name.clone(), layer.shape.clone());
        self.set(node, Value::Act { id, shape, layer: Some(k) });
        Ok(())
    }

    /// Bounds from attributes before opset 11, from constant inputs after.
    pub(super) fn clip(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let (min, max) = if self.opset < 11 {
            (self.float_attr(node, "min", -UNBOUNDED), self.float_attr(node, "max", UNBOUNDED))
        } else {
            (self.bound(node, 1)?.unwrap_or(-UNBOUNDED), self.bound(node, 2)?.unwrap_or(UNBOUNDED))
        };
        if min.is_nan() || max.is_nan() || min >= max {
            return Err(unsupported(node, format!("bounds min = {min}, max = {max}: `clip` needs min below max")));
        }
        let layer = match (min, max) {
            (0.0, 6.0) => Layer::new("relu6", vec![x], shape),
            (0.0, UNBOUNDED) => Layer::new("relu", vec![x], shape),
            _ => {
                let mut layer = Layer::new("clip", vec![x], shape);
                layer.arg(Some("min"), number(min));
                layer.arg(Some("max"), number(max));
                layer
            }
        };
        self.layer(node, layer);
        Ok(())
    }

    /// Input `k` of a `Clip`, a scalar constant, if given.
    fn bound(&self, node: &NodeProto, k: usize) -> Result<Option<f32>, ImportError> {
        if node.input.get(k).is_none_or(|name| name.is_empty()) {
            return Ok(None);
        }
        let t = self.float_constant(node, k)?;
        match super::floats(&t)[..] {
            [v] => Ok(Some(v)),
            _ => Err(unsupported(node, format!("its bound `{}` {:?} is not one number", node.input[k], t.dims))),
        }
    }

    /// A `Concat` of constants is shape arithmetic, folded; one of tensors of
    /// the model joins them along the channels (one tensor alone is itself).
    pub(super) fn concat(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let mut operands = vec![];
        for k in 0..node.input.len() {
            operands.push(self.value(node, k)?);
        }
        if operands.iter().all(|v| matches!(v, Value::Const(_))) {
            let constants: Vec<_> =
                operands.into_iter().map(|v| if let Value::Const(t) = v { Some(t) } else { None }).collect();
            let t = fold::fold(node, &constants, self.opset)?;
            self.set(node, Value::Const(t));
            return Ok(());
        }
        let mut tensors = vec![];
        for k in 0..node.input.len() {
            tensors.push(self.act(node, k)?);
        }
        let rank = tensors[0].1.len() as i64 + 1;
        let axis = self.int_attr(node, "axis", 1);
        if axis != 1 && axis != 1 - rank {
            return Err(unsupported(
                node,
                format!("`axis = {axis}`: the language's `concat` joins the channels (axis 1 with the batch)"),
            ));
        }
        if tensors.len() == 1 {
            return self.alias(node);
        }
        let first = tensors[0].1.clone();
        let mut shape = first.clone();
        for (_, s) in &tensors[1..] {
            if s.len() != first.len() || s[1..] != first[1..] {
                return Err(unsupported(
                    node,
                    format!("it joins {first:?} and {s:?}: `concat` needs the axes past the channels equal"),
                ));
            }
            shape[0] += s[0];
        }
        let ids = tensors.into_iter().map(|(id, _)| id).collect();
        self.layer(node, Layer::new("concat", ids, shape));
        Ok(())
    }

    /// `globalavgpool` (`[c]`) for a `GlobalAveragePool` of `[c, l]`, or one
    /// whose output only `Flatten`s read (the export of
    /// `AdaptiveAvgPool2d(1)` + `flatten`); otherwise, and for
    /// `GlobalMaxPool`, a pooling with the whole plane as kernel, `[c, 1, 1]`.
    pub(super) fn global_pool(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let (x, shape) = self.act(node, 0)?;
        let average = node.op_type() == "GlobalAveragePool";
        let flattened = node.output.first().is_some_and(|o| self.flattened.contains(o));
        if average && (shape.len() == 2 || flattened) {
            let c = shape[0];
            self.layer(node, Layer::new("globalavgpool", vec![x], vec![c]));
            return Ok(());
        }
        let [c, h, w] = spatial(node, &shape)?;
        let op = if average { "avgpool2d" } else { "maxpool2d" };
        let mut layer = Layer::new(op, vec![x], vec![c, 1, 1]);
        layer.arg(None, pair(h, w));
        self.layer(node, layer);
        Ok(())
    }
}

/// An f32 as the language writes it: the shortest form that reads back the
/// same (the language reads f64 and rounds to f32), else the f64 value in full.
fn number(v: f32) -> String {
    let short = format!("{v:?}");
    match short.parse::<f64>() {
        Ok(p) if p as f32 == v && p.abs() <= f32::MAX as f64 => short,
        _ => format!("{:?}", v as f64),
    }
}
