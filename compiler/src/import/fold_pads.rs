//! Constant folding of the array arithmetic PyTorch writes to compute a
//! `Pad` node's `pads` from `F.pad`'s (`ConstantOfShape → Concat → Reshape →
//! Slice → Transpose → Reshape → Cast`, with `Mul` and `Sub` of the sizes):
//! small tensors of constants, every axis of any rank.

use super::convert::unsupported;
use super::proto::NodeProto;
use super::tensor::{self, Tensor, Values};
use super::ImportError;

/// `ConstantOfShape`, `Reshape`, `Slice`, `Transpose`, `Mul` or `Sub` of
/// constants (`operands[k]` is `None` for an omitted optional input).
pub fn fold(node: &NodeProto, operands: &[Option<&Tensor>], opset: i64) -> Result<Tensor, ImportError> {
    let first = operands.first().copied().flatten().ok_or_else(|| unsupported(node, "it has no input"))?;
    let input = |k: usize| operands.get(k).copied().flatten();
    let attr = |name: &str| node.attribute.iter().find(|a| a.name() == name);
    match node.op_type() {
        "ConstantOfShape" => {
            let dims: Vec<usize> = first.ints().iter().map(|&d| d.max(0) as usize).collect();
            let n: usize = dims.iter().product();
            if n > 1 << 20 {
                return Err(unsupported(node, format!("a constant of shape {dims:?} is too large")));
            }
            let value = match attr("value").and_then(|a| a.t.as_ref()) {
                Some(t) => tensor::read(t, "its value")?,
                None => Tensor { dims: vec![1], values: Values::F32(vec![0.0]) },
            };
            let values = match value.values {
                Values::F32(v) if v.len() == 1 => Values::F32(vec![v[0]; n]),
                Values::I64(v) if v.len() == 1 => Values::I64(vec![v[0]; n]),
                _ => return Err(unsupported(node, "its value is not one number")),
            };
            Ok(Tensor { dims, values })
        }
        "Reshape" => {
            let target = input(1).ok_or_else(|| unsupported(node, "it has no shape"))?.ints();
            let allow_zero = attr("allowzero").and_then(|a| a.i).unwrap_or(0) != 0;
            let mut dims = vec![];
            let mut infer = None;
            for (k, &t) in target.iter().enumerate() {
                match t {
                    0 if !allow_zero => dims.push(*first.dims.get(k).ok_or_else(|| bad_reshape(node, first, &target))?),
                    -1 if infer.is_none() => {
                        infer = Some(k);
                        dims.push(1);
                    }
                    t if t >= 0 => dims.push(t as usize),
                    _ => return Err(bad_reshape(node, first, &target)),
                }
            }
            let product = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if let Some(k) = infer {
                match product(&dims) {
                    Some(rest) if rest > 0 && first.len() % rest == 0 => dims[k] = first.len() / rest,
                    _ => return Err(bad_reshape(node, first, &target)),
                }
            }
            if product(&dims) != Some(first.len()) {
                return Err(bad_reshape(node, first, &target));
            }
            Ok(Tensor { dims, values: first.values.clone() })
        }
        "Slice" => {
            // Bounds as inputs from opset 10, attributes before.
            let list = |k: usize, name: &str| match opset < 10 {
                true => attr(name).map(|a| a.ints.clone()),
                false => input(k).map(Tensor::ints),
            };
            let (starts, ends) = (list(1, "starts"), list(2, "ends"));
            let (Some(starts), Some(ends)) = (starts, ends) else { return Err(unsupported(node, "it has no bounds")) };
            let rank = first.dims.len() as i64;
            let axes = list(3, "axes").unwrap_or_else(|| (0..starts.len() as i64).collect());
            let steps = list(4, "steps").unwrap_or_else(|| vec![1; starts.len()]);
            if axes.len() != starts.len() || ends.len() != starts.len() || steps.len() != starts.len() {
                return Err(unsupported(node, "its starts, ends, axes and steps differ in length"));
            }
            let mut picks: Vec<Vec<usize>> = first.dims.iter().map(|&d| (0..d).collect()).collect();
            for (((&a, &s), &e), &t) in axes.iter().zip(&starts).zip(&ends).zip(&steps) {
                let a = if a < 0 { a + rank } else { a };
                if !(0..rank).contains(&a) || t == 0 {
                    return Err(unsupported(node, format!("axis {a} with step {t}")));
                }
                let d = first.dims[a as usize] as i64;
                let at = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
                let (mut i, e) = if t > 0 {
                    (at(s).clamp(0, d), at(e).clamp(0, d))
                } else {
                    (at(s).clamp(-1, d - 1), at(e).clamp(-1, d - 1))
                };
                let mut pick = vec![];
                while (t > 0 && i < e) || (t < 0 && i > e) {
                    pick.push(i as usize);
                    let Some(next) = i.checked_add(t) else { break };
                    i = next;
                }
                picks[a as usize] = pick;
            }
            Ok(select(first, &picks, &(0..first.dims.len()).collect::<Vec<_>>()))
        }
        "Transpose" => {
            let rank = first.dims.len();
            let perm: Vec<usize> = match attr("perm") {
                Some(a) => a.ints.iter().map(|&p| p as usize).collect(),
                None => (0..rank).rev().collect(),
            };
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..rank).collect::<Vec<_>>() {
                return Err(unsupported(node, format!("`perm = {perm:?}` for rank {rank}")));
            }
            let picks: Vec<Vec<usize>> = first.dims.iter().map(|&d| (0..d).collect()).collect();
            Ok(select(first, &picks, &perm))
        }
        "Mul" | "Sub" => {
            let other = input(1).ok_or_else(|| unsupported(node, "it has one operand"))?;
            let (a, b) = (first, other);
            let dims = match (a.len(), b.len()) {
                _ if a.dims == b.dims => a.dims.clone(),
                (1, _) => b.dims.clone(),
                (_, 1) => a.dims.clone(),
                _ => return Err(unsupported(node, format!("operands of shapes {:?} and {:?}", a.dims, b.dims))),
            };
            let n = a.len().max(b.len());
            let pick = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
            let (x, y) = (numbers(a), numbers(b));
            let sub = node.op_type() == "Sub";
            let out: Vec<f64> =
                (0..n).map(|i| if sub { pick(&x, i) - pick(&y, i) } else { pick(&x, i) * pick(&y, i) }).collect();
            let values = match (&a.values, &b.values) {
                (Values::I64(_), Values::I64(_)) => Values::I64(out.into_iter().map(|v| v as i64).collect()),
                _ => Values::F32(out.into_iter().map(|v| v as f32).collect()),
            };
            Ok(Tensor { dims, values })
        }
        other => unreachable!("`{other}` is not folded here"),
    }
}

fn bad_reshape(node: &NodeProto, t: &Tensor, target: &[i64]) -> ImportError {
    unsupported(node, format!("a reshape of a constant of shape {:?} to {target:?}", t.dims))
}

fn numbers(t: &Tensor) -> Vec<f64> {
    match &t.values {
        Values::F32(v) => v.iter().map(|&x| x as f64).collect(),
        Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

/// The tensor whose axis `k` is `t`'s axis `perm[k]` restricted to the
/// indices `picks[perm[k]]`, in row-major order.
fn select(t: &Tensor, picks: &[Vec<usize>], perm: &[usize]) -> Tensor {
    let rank = t.dims.len();
    let mut strides = vec![1; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * t.dims[k + 1];
    }
    let dims: Vec<usize> = perm.iter().map(|&p| picks[p].len()).collect();
    let n: usize = dims.iter().product();
    let mut at = Vec::with_capacity(n);
    for flat in 0..n {
        let (mut rest, mut offset) = (flat, 0);
        for k in (0..rank).rev() {
            let i = rest % dims[k];
            rest /= dims[k];
            offset += picks[perm[k]][i] * strides[perm[k]];
        }
        at.push(offset);
    }
    let values = match &t.values {
        Values::F32(v) => Values::F32(at.iter().map(|&i| v[i]).collect()),
        Values::I64(v) => Values::I64(at.iter().map(|&i| v[i]).collect()),
    };
    Tensor { dims, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str) -> NodeProto {
        NodeProto { op_type: Some(op.into()), ..Default::default() }
    }

    fn ints(dims: Vec<usize>, v: Vec<i64>) -> Tensor {
        Tensor { dims, values: Values::I64(v) }
    }

    /// PyTorch's `F.pad(x, (1, 2, 0, 1))` on `[n, c, h, w]`: the pairs
    /// (last axis first) to ONNX's `pads`, starts then ends, first axis first.
    #[test]
    fn pytorch_pad_arithmetic() {
        let zeros = fold(&node("ConstantOfShape"), &[Some(&ints(vec![1], vec![4]))], 17).unwrap();
        let zeros = Tensor { values: Values::I64(zeros.ints()), ..zeros };
        let joined = ints(vec![8], [vec![1, 2, 0, 1], zeros.ints()].concat());
        let pairs = fold(&node("Reshape"), &[Some(&joined), Some(&ints(vec![2], vec![-1, 2]))], 17).unwrap();
        assert_eq!(pairs.dims, vec![4, 2]);
        let (start, end, axis, step) = (
            ints(vec![1], vec![-1]),
            ints(vec![1], vec![i64::MIN + 1]),
            ints(vec![1], vec![0]),
            ints(vec![1], vec![-1]),
        );
        let reversed =
            fold(&node("Slice"), &[Some(&pairs), Some(&start), Some(&end), Some(&axis), Some(&step)], 17).unwrap();
        assert_eq!(reversed.ints(), vec![0, 0, 0, 0, 0, 1, 1, 2]);
        let columns = fold(&node("Transpose"), &[Some(&reversed)], 17).unwrap();
        assert_eq!(columns.dims, vec![2, 4]);
        let flat = fold(&node("Reshape"), &[Some(&columns), Some(&ints(vec![1], vec![-1]))], 17).unwrap();
        assert_eq!(flat.ints(), vec![0, 0, 0, 1, 0, 0, 1, 2]);
        let six = fold(&node("Mul"), &[Some(&ints(vec![], vec![3])), Some(&ints(vec![], vec![2]))], 17).unwrap();
        let four = fold(&node("Sub"), &[Some(&six), Some(&ints(vec![], vec![2]))], 17).unwrap();
        assert_eq!((six.ints(), four.ints()), (vec![6], vec![4]));
    }
}
