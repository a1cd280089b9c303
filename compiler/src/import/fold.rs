//! Constant folding of the shape arithmetic exporters write around a
//! reshape (PyTorch's `x.view(x.size(0), -1)` is `Shape → Gather → Unsqueeze
//! → Concat → Reshape`): small integer tensors, computed when importing with
//! a batch of one sample.

use super::convert::{describe, unsupported};
use super::proto::NodeProto;
use super::tensor::{self, Tensor, Values};
use super::ImportError;

/// A `Constant` node's value.
pub fn constant(node: &NodeProto) -> Result<Tensor, ImportError> {
    let Some(attr) = node.attribute.first() else {
        return Err(unsupported(node, "it has no value"));
    };
    let what = format!("the value of {}", describe(node));
    match attr.name() {
        "value" => match &attr.t {
            Some(t) => tensor::read(t, &what),
            None => Err(unsupported(node, "its `value` is not a tensor")),
        },
        "value_float" => Ok(Tensor { dims: vec![], values: Values::F32(vec![attr.f()]) }),
        "value_floats" => Ok(Tensor { dims: vec![attr.floats.len()], values: Values::F32(attr.floats.clone()) }),
        "value_int" => Ok(Tensor { dims: vec![], values: Values::I64(vec![attr.i()]) }),
        "value_ints" => Ok(Tensor { dims: vec![attr.ints.len()], values: Values::I64(attr.ints.clone()) }),
        other => Err(unsupported(node, format!("a constant given as `{other}`"))),
    }
}

/// `Shape` of a tensor with dimensions `dims` (`start`/`end` from opset 15).
pub fn shape(node: &NodeProto, dims: &[usize]) -> Result<Tensor, ImportError> {
    let rank = dims.len() as i64;
    let bound = |name: &str, default: i64| {
        let v = node.attribute.iter().find(|a| a.name() == name).and_then(|a| a.i).unwrap_or(default);
        (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize
    };
    let (start, end) = (bound("start", 0), bound("end", rank));
    let values: Vec<i64> = dims[start..end.max(start)].iter().map(|&d| d as i64).collect();
    Ok(Tensor { dims: vec![values.len()], values: Values::I64(values) })
}

/// `Gather`, `Unsqueeze`, `Squeeze`, `Concat` or `Cast` of constants
/// (`operands[k]` is `None` for an omitted optional input).
pub fn fold(node: &NodeProto, operands: &[Option<&Tensor>], opset: i64) -> Result<Tensor, ImportError> {
    let attr_i = |name: &str, default: i64| {
        node.attribute.iter().find(|a| a.name() == name).and_then(|a| a.i).unwrap_or(default)
    };
    let attr_ints = |name: &str| node.attribute.iter().find(|a| a.name() == name).map(|a| a.ints.clone());
    let first = operands.first().copied().flatten().ok_or_else(|| unsupported(node, "it has no input"))?;
    match node.op_type() {
        "Gather" => {
            let indices = operands.get(1).copied().flatten().ok_or_else(|| unsupported(node, "it has no indices"))?;
            if first.dims.len() != 1 || attr_i("axis", 0) != 0 {
                return Err(unsupported(
                    node,
                    "only gathering from a vector of constants (shape arithmetic) is supported",
                ));
            }
            let data = first.ints();
            let n = data.len() as i64;
            let mut out = vec![];
            for i in indices.ints() {
                let j = if i < 0 { i + n } else { i };
                if !(0..n).contains(&j) {
                    return Err(unsupported(node, format!("index {i} is out of range for {n} values")));
                }
                out.push(data[j as usize]);
            }
            Ok(Tensor { dims: indices.dims.clone(), values: keep_kind(first, out) })
        }
        "Unsqueeze" | "Squeeze" => {
            // The axes are an attribute before opset 13, an input from it on.
            let axes =
                if opset < 13 { attr_ints("axes") } else { operands.get(1).copied().flatten().map(Tensor::ints) };
            let mut dims = first.dims.clone();
            if node.op_type() == "Unsqueeze" {
                let axes = axes.ok_or_else(|| unsupported(node, "it has no axes"))?;
                let rank = (dims.len() + axes.len()) as i64;
                let mut axes: Vec<i64> = axes.iter().map(|&a| if a < 0 { a + rank } else { a }).collect();
                axes.sort_unstable();
                for a in axes {
                    if a < 0 || a as usize > dims.len() {
                        return Err(unsupported(node, format!("axis {a} is out of range")));
                    }
                    dims.insert(a as usize, 1);
                }
            } else {
                let rank = dims.len() as i64;
                let axes: Vec<usize> = match axes {
                    Some(a) => a.iter().map(|&a| (if a < 0 { a + rank } else { a }) as usize).collect(),
                    None => (0..dims.len()).filter(|&k| dims[k] == 1).collect(),
                };
                if axes.iter().any(|&a| dims.get(a) != Some(&1)) {
                    return Err(unsupported(node, format!("it squeezes axes {axes:?} of {:?}", first.dims)));
                }
                dims = dims.iter().enumerate().filter(|(k, _)| !axes.contains(k)).map(|(_, &d)| d).collect();
            }
            Ok(Tensor { dims, values: first.values.clone() })
        }
        "Concat" => {
            let axis = attr_i("axis", 0);
            let mut out = vec![];
            for t in operands.iter().flatten() {
                if t.dims.len() != 1 || !(axis == 0 || axis == -1) {
                    return Err(unsupported(
                        node,
                        "only concatenating vectors of constants (shape arithmetic) is supported",
                    ));
                }
                out.extend(t.ints());
            }
            let floats = operands.iter().flatten().all(|t| matches!(t.values, Values::F32(_)));
            let dims = vec![out.len()];
            let values =
                if floats { Values::F32(out.into_iter().map(|x| x as f32).collect()) } else { Values::I64(out) };
            Ok(Tensor { dims, values })
        }
        "Cast" => {
            let values = match attr_i("to", 0) {
                1 | 10 | 11 | 16 => Values::F32(match &first.values {
                    Values::F32(v) => v.clone(),
                    Values::I64(v) => v.iter().map(|&x| x as f32).collect(),
                }),
                2..=7 | 12 | 13 => Values::I64(first.ints()),
                to => return Err(unsupported(node, format!("a cast of a constant to type {to}"))),
            };
            Ok(Tensor { dims: first.dims.clone(), values })
        }
        other => unreachable!("`{other}` is not folded"),
    }
}

fn keep_kind(like: &Tensor, values: Vec<i64>) -> Values {
    match like.values {
        Values::F32(_) => Values::F32(values.into_iter().map(|x| x as f32).collect()),
        Values::I64(_) => Values::I64(values),
    }
}

/// The dimensions one sample of a tensor with dimensions `full` (batch axis
/// first, of 1) has after a `Reshape` to `target`, or `None` when the reshape
/// does not keep the batch axis apart.
pub fn reshape_per_sample(target: &[i64], full: &[usize], allow_zero: bool) -> Option<Vec<usize>> {
    let product = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let count = product(full)?;
    let mut dims = vec![];
    let mut infer = None;
    for (k, &t) in target.iter().enumerate() {
        match t {
            0 if !allow_zero => dims.push(*full.get(k)?),
            -1 if infer.is_none() => {
                infer = Some(k);
                dims.push(1);
            }
            t if t >= 1 => dims.push(t as usize),
            _ => return None,
        }
    }
    if let Some(k) = infer {
        let rest = product(&dims)?;
        if rest == 0 || !count.is_multiple_of(rest) {
            return None;
        }
        dims[k] = count / rest;
    }
    // The batch axis must stay first and whole: the rest is one sample.
    let per_sample = dims.get(1..)?.to_vec();
    (dims[0] == 1 && !per_sample.is_empty() && product(&per_sample) == Some(count)).then_some(per_sample)
}

#[cfg(test)]
mod tests {
    use super::reshape_per_sample;

    #[test]
    fn reshapes_that_keep_the_batch_axis() {
        let full = [1, 16, 5, 5];
        assert_eq!(reshape_per_sample(&[0, -1], &full, false), Some(vec![400]));
        assert_eq!(reshape_per_sample(&[-1, 400], &full, false), Some(vec![400]));
        assert_eq!(reshape_per_sample(&[1, -1], &full, false), Some(vec![400]));
        assert_eq!(reshape_per_sample(&[-1], &full, false), None);
        assert_eq!(reshape_per_sample(&[-1, 200], &full, false), None);
        assert_eq!(reshape_per_sample(&[1, 400], &full, false), Some(vec![400]));
        assert_eq!(reshape_per_sample(&[0, 16, 25], &full, false), Some(vec![16, 25]));
    }
}
