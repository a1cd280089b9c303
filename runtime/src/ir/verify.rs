//! The IR verifier: the invariants every graph holds after lowering and after
//! every pass. They are the IR's contract: the passes, the interpreter and the
//! JIT rely on them without checking. A graph breaking one is a compiler bug.
//!
//! 1. **Interface**: at least one input node and one output; output names
//!    are unique.
//! 2. **Order**: ids are dense (they are arena indices) and every input of a
//!    node has a smaller id than the node (topological order); every output
//!    names a node of the graph.
//! 3. **Names**: node names are unique, and so are uids.
//! 4. **Arity**: an op reads as many nodes as it takes (`add` two, `concat`
//!    two or more, every other one).
//! 5. **Attributes**: `out`, `hidden`, kernels, strides and `groups` are at
//!    least 1; batch-norm's ε is positive and finite; leaky ReLU's slope is
//!    finite; a clip's bounds are finite, `min` below `max`.
//! 6. **Input steps**: the declared shape has 1 to 3 dimensions, none 0;
//!    `normalize` gives one value, or one per entry of the first axis of the
//!    shape at that step; `reshape` keeps the element count, with 1 to 3
//!    dimensions; the node's shape is the shape after the steps.
//! 7. **Shapes**: an op's shape is what [`Op::output_shape`] gives for its
//!    inputs' shapes (dense on a vector; conv1d's and conv2d's groups, stride and padding;
//!    pooling windows that fit, with padding at most half the kernel;
//!    flatten; equal shapes for `add`; operands of `concat` equal past the
//!    first axis; global pooling of `[C, L]` or `[C, H, W]`; odd denoise
//!    kernels on `[C, H, W]`).
//! 8. **Params**: an op has exactly the weight tensors [`Op::param_shapes`]
//!    lists, in that order (an optional one may be left out), with those
//!    shapes, each tensor's data filling its shape; an input has none.
//! 9. **Noise sites**: site numbers (output and weight noise alike) are
//!    unique in the graph.
//! 10. **Hardware**: effects only where the op can take them ([`OpClass`]).
//!     A digital block has none. A plain op or an input has output noise
//!     only (weight noise at most `none`), with σ in absolute units. A MAC layer:
//!     σ in `lsb` only with an ADC format (abfp, analog_int); an accumulation
//!     order only with a format without an ADC; an approximate multiplier
//!     only with int8 operands, a table of the same signedness.
//! 11. **Prepared weights**: only on a MAC layer with a quantized format,
//!     in that format's variant and sized for the weights (`rows` outputs of
//!     `k` weights): int8 has a code per weight and a scale and zero point
//!     per row (`per_channel`) or one (`per_tensor`); ABFP a mantissa per
//!     weight, `tiles = ⌈k / block⌉` and a scale per row and tile; analog_int
//!     a code per weight.

use super::hardware::{Accumulate, Format, Multiplier, NoiseKind, SigmaUnit, WeightScale};
use super::op::OpClass;
use super::{dims, Graph, Node, NodeId, NodeKind, NoiseSite, Op, Step};
use crate::quant::Prepared;
use std::collections::HashSet;

/// The invariants, numbered as in the module doc.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Invariant {
    Interface,
    Order,
    Names,
    Arity,
    Attributes,
    InputSteps,
    Shapes,
    Params,
    NoiseSites,
    Hardware,
    Prepared,
}

impl Invariant {
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Interface => "interface",
            Invariant::Order => "order",
            Invariant::Names => "names",
            Invariant::Arity => "arity",
            Invariant::Attributes => "attributes",
            Invariant::InputSteps => "input steps",
            Invariant::Shapes => "shapes",
            Invariant::Params => "params",
            Invariant::NoiseSites => "noise sites",
            Invariant::Hardware => "hardware",
            Invariant::Prepared => "prepared weights",
        }
    }
}

/// The first broken invariant found, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    pub invariant: Invariant,
    /// The node at fault, with its name; `None` for the graph as a whole.
    pub node: Option<(NodeId, String)>,
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some((id, name)) => write!(f, "node %{} `{name}`", id.0)?,
            None => f.write_str("graph")?,
        }
        write!(f, " breaks the {} invariant: {}", self.invariant.name(), self.message)
    }
}

impl std::error::Error for VerifyError {}

type Result = std::result::Result<(), VerifyError>;

/// Checks every invariant of the module doc.
pub fn verify(g: &Graph) -> Result {
    interface(g)?;
    let mut names = HashSet::new();
    let mut uids = HashSet::new();
    let mut sites = HashSet::new();
    for id in g.ids() {
        let n = g.node(id);
        let fail =
            |invariant, message: String| Err(VerifyError { invariant, node: Some((id, n.name.clone())), message });
        if !names.insert(n.name.as_str()) {
            return fail(Invariant::Names, "another node has the same name".into());
        }
        if !uids.insert(n.uid) {
            return fail(Invariant::Names, format!("uid {} is another node's", n.uid));
        }
        for site in [&n.hw.noise, &n.hw.weight_noise].into_iter().flatten() {
            if !sites.insert(site.site) {
                return fail(Invariant::NoiseSites, format!("noise site #{} is used twice", site.site));
            }
        }
        let checked = match &n.kind {
            NodeKind::Input { shape, steps, .. } => input(n, shape, steps),
            NodeKind::Op { op, inputs } => self::op(g, id, op, inputs),
        };
        if let Err((invariant, message)) = checked {
            return fail(invariant, message);
        }
    }
    Ok(())
}

/// A broken invariant of the node being checked.
type Broken = std::result::Result<(), (Invariant, String)>;

fn interface(g: &Graph) -> Result {
    let fail = |invariant, message: String| Err(VerifyError { invariant, node: None, message });
    if !g.nodes.iter().any(|n| matches!(n.kind, NodeKind::Input { .. })) {
        return fail(Invariant::Interface, "no input node".into());
    }
    if g.outputs.is_empty() {
        return fail(Invariant::Interface, "no output".into());
    }
    let mut names = HashSet::new();
    for (name, id) in &g.outputs {
        if !names.insert(name) {
            return fail(Invariant::Interface, format!("output `{name}` is declared twice"));
        }
        if id.index() >= g.nodes.len() {
            return fail(Invariant::Order, format!("output `{name}` names %{}, not a node", id.0));
        }
    }
    Ok(())
}

fn input(n: &Node, declared: &[usize], steps: &[Step]) -> Broken {
    let broken = |message: String| Err((Invariant::InputSteps, message));
    if declared.is_empty() || declared.len() > 3 || declared.contains(&0) {
        return broken(format!("declared shape {} is not 1 to 3 non-zero dimensions", dims(declared)));
    }
    let mut shape = declared.to_vec();
    for step in steps {
        match step {
            Step::Scale(_) => {}
            Step::Normalize { mean, std } => {
                for (what, list) in [("mean", mean), ("std", std)] {
                    if list.len() != 1 && list.len() != shape[0] {
                        return broken(format!(
                            "normalize has {} {what} values for shape {}",
                            list.len(),
                            dims(&shape)
                        ));
                    }
                }
            }
            Step::Reshape(to) => {
                if to.is_empty() || to.len() > 3 || to.iter().product::<usize>() != shape.iter().product::<usize>() {
                    return broken(format!("cannot reshape {} to {}", dims(&shape), dims(to)));
                }
                shape = to.clone();
            }
            Step::Flatten => shape = vec![shape.iter().product()],
        }
    }
    if n.shape != shape {
        return broken(format!("the steps give {} but the node has shape {}", dims(&shape), dims(&n.shape)));
    }
    if !n.params.is_empty() || n.prepared.is_some() {
        return Err((Invariant::Params, "an input has no weights".into()));
    }
    hardware(n, OpClass::Plain)
}

fn op(g: &Graph, id: NodeId, op: &Op, inputs: &[NodeId]) -> Broken {
    let n = g.node(id);
    if let Some(late) = inputs.iter().find(|i| **i >= id) {
        return Err((Invariant::Order, format!("reads %{}, which does not come before it", late.0)));
    }
    let arity = op.arity();
    if !arity.contains(&inputs.len()) {
        let takes = match (arity.start(), arity.end()) {
            (lo, hi) if lo == hi => lo.to_string(),
            (lo, _) => format!("at least {lo}"),
        };
        let message = format!("reads {} node(s), but `{}` takes {takes}", inputs.len(), op.name());
        return Err((Invariant::Arity, message));
    }
    attributes(op)?;
    let shapes: Vec<&[usize]> = inputs.iter().map(|i| &g.node(*i).shape[..]).collect();
    match op.output_shape(&shapes) {
        Ok(shape) if shape == n.shape => {}
        Ok(shape) => {
            let message = format!("`{}` gives {} but the node has shape {}", op.name(), dims(&shape), dims(&n.shape));
            return Err((Invariant::Shapes, message));
        }
        Err(e) => {
            let inputs: Vec<String> = shapes.iter().map(|s| dims(s)).collect();
            let message = format!("`{}` cannot take {}: {e}", op.name(), inputs.join(" and "));
            return Err((Invariant::Shapes, message));
        }
    }
    params(n, op, shapes[0])?;
    hardware(n, op.class())?;
    prepared(n)
}

fn attributes(op: &Op) -> Broken {
    let positive: &[usize] = match op {
        Op::Dense { out } => &[*out],
        Op::Conv2d { out, kernel, stride, groups, .. } => &[*out, kernel[0], kernel[1], stride[0], stride[1], *groups],
        Op::Conv1d { out, kernel, stride, groups, .. } => &[*out, *kernel, *stride, *groups],
        Op::MaxPool2d { kernel, stride, .. } | Op::AvgPool2d { kernel, stride, .. } => {
            &[kernel[0], kernel[1], stride[0], stride[1]]
        }
        Op::MaxPool1d { kernel, stride, .. } | Op::AvgPool1d { kernel, stride, .. } => &[*kernel, *stride],
        Op::Denoise { hidden, kernel } => &[*hidden, *kernel],
        Op::BatchNorm { eps } if !(eps.is_finite() && *eps > 0.0) => {
            return Err((Invariant::Attributes, format!("batchnorm eps = {eps} is not positive and finite")));
        }
        Op::LeakyRelu { slope } if !slope.is_finite() => {
            return Err((Invariant::Attributes, format!("leaky_relu slope = {slope} is not finite")));
        }
        Op::HardSigmoid { alpha, beta } if !(alpha.is_finite() && beta.is_finite()) => {
            return Err((Invariant::Attributes, format!("hard_sigmoid alpha = {alpha}, beta = {beta} are not finite")));
        }
        Op::Clip { min, max } if !(min.is_finite() && max.is_finite() && min < max) => {
            return Err((
                Invariant::Attributes,
                format!("clip bounds min = {min}, max = {max} are not finite and ordered"),
            ));
        }
        _ => &[],
    };
    if positive.contains(&0) {
        return Err((Invariant::Attributes, format!("`{}` has a size, stride or count of 0", op.name())));
    }
    Ok(())
}

fn params(n: &Node, op: &Op, input: &[usize]) -> Broken {
    let broken = |message: String| Err((Invariant::Params, message));
    let mut given = n.params.iter().peekable();
    for want in op.param_shapes(input) {
        let Some(p) = given.next_if(|p| p.role == want.role) else {
            if want.optional {
                continue;
            }
            return broken(format!("`{}` needs its {} tensor", op.name(), want.role));
        };
        if p.value.shape != want.shape {
            return broken(format!("{} has shape {}, not {}", p.role, dims(&p.value.shape), dims(&want.shape)));
        }
        if p.value.data.len() != want.shape.iter().product::<usize>() {
            return broken(format!("{} holds {} values for shape {}", p.role, p.value.data.len(), dims(&want.shape)));
        }
    }
    match given.next() {
        Some(p) => broken(format!("`{}` takes no {} tensor here", op.name(), p.role)),
        None => Ok(()),
    }
}

fn hardware(n: &Node, class: OpClass) -> Broken {
    let broken = |message: String| Err((Invariant::Hardware, message));
    let hw = &n.hw;
    let units = |s: &Option<NoiseSite>| match s.as_ref().map(|s| &s.noise.kind) {
        Some(NoiseKind::Additive { sigma }) | Some(NoiseKind::Mixed { add: sigma, .. }) => Some(sigma.unit),
        _ => None,
    };
    let noise_units = [units(&hw.noise), units(&hw.weight_noise)];
    match class {
        OpClass::Digital if !hw.is_ideal() => broken("a digital block takes no hardware effects".into()),
        OpClass::Digital => Ok(()),
        OpClass::Plain => {
            if hw.weight_noise.as_ref().is_some_and(|s| s.noise.kind != NoiseKind::Off) {
                return broken("weight noise on a node without weights".into());
            }
            if hw.accumulate != Accumulate::Exact || hw.format != Format::Fp32 || hw.multiplier != Multiplier::Exact {
                return broken("accumulate, format or multiplier on a node that does not multiply-accumulate".into());
            }
            if noise_units.iter().flatten().any(|u| *u != SigmaUnit::Abs) {
                return broken("σ in lsb or fs on a node with neither an ADC nor a full scale".into());
            }
            Ok(())
        }
        OpClass::Mac => {
            if noise_units.contains(&Some(SigmaUnit::Lsb)) && !hw.format.has_adc() {
                return broken("σ in lsb without an ADC format".into());
            }
            if hw.accumulate != Accumulate::Exact && hw.format.has_adc() {
                return broken("an accumulation order on a format that accumulates inside its ADC".into());
            }
            match (&hw.multiplier, &hw.format) {
                (Multiplier::Exact, _) => Ok(()),
                (Multiplier::Table { signed: table, .. }, Format::Int8 { signed, .. }) if table != signed => {
                    broken("a multiplier table of the other signedness than the int8 operands".into())
                }
                (_, Format::Int8 { .. }) => Ok(()),
                _ => broken("an approximate multiplier without int8 operands".into()),
            }
        }
    }
}

fn prepared(n: &Node) -> Broken {
    let Some(p) = &n.prepared else { return Ok(()) };
    let broken = |message: String| Err((Invariant::Prepared, message));
    let is_mac = matches!(&n.kind, NodeKind::Op { op, .. } if op.class() == OpClass::Mac);
    let Some(weight) = n.param("weight").filter(|_| is_mac) else {
        return broken("prepared weights on a node that is not a MAC layer".into());
    };
    let (rows, len) = (weight.shape[0], weight.len());
    let k = len / rows.max(1);
    let sized = match (&n.hw.format, p) {
        (Format::Int8 { weight_scale, .. }, Prepared::Int8 { codes, scales, zero_points }) => {
            let groups = if *weight_scale == WeightScale::PerChannel { rows } else { 1 };
            codes.len() == len && scales.len() == groups && zero_points.len() == groups
        }
        (Format::Abfp { block, .. }, Prepared::Abfp { mantissas, scales, tiles }) => {
            *block > 0
                && *tiles == k.div_ceil(*block as usize)
                && mantissas.len() == len
                && scales.len() == rows * tiles
        }
        (Format::AnalogInt { .. }, Prepared::AnalogInt { codes, .. }) => codes.len() == len,
        _ => return broken("prepared for another format than the node's".into()),
    };
    if !sized {
        return broken(format!("sized for other weights than {}", dims(&weight.shape)));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
