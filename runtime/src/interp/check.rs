//! What the backends index without looking: a graph passes [`check`] before
//! the interpreter (or the JIT) runs it, so a graph built by hand, or edited
//! after the passes, fails with an error naming the node instead of a panic
//! deep inside a kernel. Graphs from the compiler's front end always pass.

use crate::derived::window::{conv_k, plane, Window};
use crate::ir::hardware::Format;
use crate::ir::{Graph, Node, NodeKind, Op, Step};
use crate::quant::Prepared;

/// Checks that every node's operands come before it and exist, that each op
/// has the tensors it reads with the sizes it indexes, and that prepared
/// weights are of the node's number format.
pub fn check(graph: &Graph) -> Result<(), String> {
    for (i, node) in graph.nodes.iter().enumerate() {
        check_node(graph, i, node).map_err(|e| format!("node `{}`: {e}", node.name))?;
    }
    Ok(())
}

fn check_node(graph: &Graph, i: usize, node: &Node) -> Result<(), String> {
    let (op, inputs) = match &node.kind {
        NodeKind::Input { shape, steps, .. } => return input(shape, steps),
        NodeKind::Op { op, inputs } => (op, inputs),
    };
    if inputs.is_empty() {
        return Err("an op without operands".into());
    }
    if let Some(late) = inputs.iter().find(|x| x.index() >= i) {
        return Err(format!("operand {} does not come before the node", late.0));
    }
    let x_shape = &graph.node(inputs[0]).shape;
    let size = |shape: &[usize]| shape.iter().product::<usize>();
    let tensor = |role: &str, len: usize| match node.param(role) {
        Some(t) if t.len() == len => Ok(()),
        Some(t) => Err(format!("its `{role}` tensor has {} values, not {len}", t.len())),
        None => Err(format!("no `{role}` tensor")),
    };
    match op {
        Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } => mac(node, op, x_shape),
        Op::MaxPool2d { .. } | Op::AvgPool2d { .. } | Op::MaxPool1d { .. } | Op::AvgPool1d { .. } => {
            window(op, &plane(x_shape)).map(|_| ())
        }
        Op::Add => match inputs.get(1) {
            Some(y) if size(&graph.node(*y).shape) == size(x_shape) => Ok(()),
            Some(_) => Err("operands of different sizes".into()),
            None => Err("an add with one operand".into()),
        },
        Op::Concat => {
            let joined: usize = inputs.iter().map(|x| size(&graph.node(*x).shape)).sum();
            if inputs.len() < 2 || joined != size(&node.shape) {
                return Err(format!(
                    "a concat of {} operands, {joined} values into {}",
                    inputs.len(),
                    size(&node.shape)
                ));
            }
            Ok(())
        }
        Op::GlobalAvgPool => match x_shape.first() {
            Some(c) if *c > 0 && size(&node.shape) == *c => Ok(()),
            _ => Err(format!("a global pooling of shape {x_shape:?} into {:?}", node.shape)),
        },
        Op::BatchNorm { .. } => {
            let c = *x_shape.first().ok_or("a batch norm of a scalar")?;
            ["weight", "bias", "running_mean", "running_var"].iter().try_for_each(|r| tensor(r, c))
        }
        Op::Denoise { hidden, kernel } => {
            let (c, taps) = match x_shape.len() {
                1 => (x_shape[0], 1),
                3 if !kernel.is_multiple_of(2) => (x_shape[0], kernel * kernel),
                _ => return Err(format!("a denoise block of shape {x_shape:?} with kernel {kernel}")),
            };
            tensor("down.weight", hidden * c * taps)?;
            tensor("down.bias", *hidden)?;
            tensor("up.weight", c * hidden * taps)?;
            tensor("up.bias", c)
        }
        Op::Flatten
        | Op::Relu
        | Op::LeakyRelu { .. }
        | Op::Clip { .. }
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::Sigmoid
        | Op::Tanh
        | Op::Softmax => Ok(()),
    }
}

/// An input's shape and preprocessing: reshapes that keep its size, a
/// mean and a std for every normalization.
fn input(shape: &[usize], steps: &[Step]) -> Result<(), String> {
    let len: usize = shape.iter().product();
    if shape.first().is_none_or(|c| *c == 0) || len == 0 {
        return Err(format!("an input of shape {shape:?}"));
    }
    for step in steps {
        match step {
            Step::Reshape(d) if d.iter().product::<usize>() != len || d.first().is_none_or(|r| *r == 0) => {
                return Err(format!("a reshape of {len} values to {d:?}"));
            }
            Step::Normalize { mean, std } if mean.is_empty() || std.is_empty() => {
                return Err("a normalization without a mean or a std".into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// A conv or pooling window over `[c, h, w]` that fits the padded input.
fn window(op: &Op, x_shape: &[usize]) -> Result<Window, String> {
    let win = Window::of(op).expect("a windowed op");
    let &[_, h, w] = x_shape else { return Err(format!("a window over shape {x_shape:?}")) };
    let fits = |axis: usize, size: usize| {
        win.stride[axis] > 0 && win.kernel[axis] > 0 && win.kernel[axis] <= win.padded(axis, size)
    };
    if !(fits(0, h) && fits(1, w)) {
        return Err(format!("a window of {win:?} over shape {x_shape:?}"));
    }
    Ok(win)
}

/// A dense or conv layer: weights of `rows × k`, the bias, prepared weights.
fn mac(node: &Node, op: &Op, x_shape: &[usize]) -> Result<(), String> {
    let (rows, k) = match op {
        Op::Conv1d { out, groups, .. } | Op::Conv2d { out, groups, .. } => {
            let win = window(op, &plane(x_shape))?;
            let c = x_shape[0];
            if *groups == 0 || !c.is_multiple_of(*groups) || !out.is_multiple_of(*groups) {
                return Err(format!("{c} channels and {out} outputs in {groups} groups"));
            }
            (*out, conv_k(c, *groups, &win))
        }
        _ => (*node.shape.first().ok_or("a dense layer of rank 0")?, x_shape.iter().product()),
    };
    if rows == 0 || k == 0 {
        return Err(format!("a layer of {rows} outputs over {k} inputs"));
    }
    let w = node.param("weight").ok_or("no `weight` tensor")?;
    if w.shape.first() != Some(&rows) || w.len() != rows * k {
        return Err(format!("its `weight` tensor has shape {:?}, not {rows} rows of {k}", w.shape));
    }
    if let Some(b) = node.param("bias").filter(|b| b.len() != rows) {
        return Err(format!("its `bias` tensor has {} values, not {rows}", b.len()));
    }
    format_fits(&node.hw.format)?;
    prepared(&node.hw.format, node.prepared.as_ref(), rows, k)
}

/// Block lengths of at least 1 and bit widths the quantizers can shift by.
fn format_fits(format: &Format) -> Result<(), String> {
    let (block, bits) = match *format {
        Format::Fp32 | Format::Int8 { .. } => return Ok(()),
        Format::Abfp { block, input_bits, weight_bits, adc_bits, .. } => (block, [input_bits, weight_bits, adc_bits]),
        Format::AnalogInt { block, input_bits, weight_bits, adc_bits, .. } => {
            (block, [input_bits, weight_bits, adc_bits])
        }
    };
    if block == 0 || bits.iter().any(|b| !(1..=32).contains(b)) {
        return Err(format!("a format of block {block} and bits {bits:?}"));
    }
    Ok(())
}

/// Prepared weights of `rows × k`, of the format's kind (none: prepared when run).
fn prepared(format: &Format, prepared: Option<&Prepared>, rows: usize, k: usize) -> Result<(), String> {
    let fits = match (format, prepared) {
        (_, None) | (Format::Fp32, _) => true,
        (Format::Int8 { .. }, Some(Prepared::Int8 { codes, scales, zero_points })) => {
            codes.len() == rows * k && (scales.len() == 1 || scales.len() == rows) && zero_points.len() == scales.len()
        }
        (Format::Abfp { block, .. }, Some(Prepared::Abfp { mantissas, scales, tiles })) => {
            mantissas.len() == rows * k && *tiles == k.div_ceil(*block as usize) && scales.len() == rows * tiles
        }
        (Format::AnalogInt { .. }, Some(Prepared::AnalogInt { codes, .. })) => codes.len() == rows * k,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("its prepared weights are not {rows} rows of {k} in its format"))
    }
}
