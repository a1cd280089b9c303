//! Checked model → graph IR: weights loaded, hardware stripped of its source
//! positions, noise sites numbered. Spans stay beside the graph. In debug
//! builds the result is verified ([`Lowered::assert_valid`]).

use crate::check::hardware::{Accumulate, Hardware, Multiplier, Noise, Sourced};
use crate::check::model::{CheckedModel, TensorRef};
use crate::diag::{Code, Diagnostic};
use crate::source::{Loader, Span};
use analog_runtime::ir::{self, Graph, Node, NodeHardware, NodeId, NodeKind, NoiseSite, Param};
use analog_runtime::tensor::Tensor;

/// A graph and, for each node, where it was written.
pub struct Lowered {
    pub graph: Graph,
    pub spans: Vec<Span>,
}

impl Lowered {
    /// In debug builds (and tests), panics unless the graph holds the IR's
    /// invariants ([`ir::verify`]) and every node has its span: a compiler
    /// bug, made by `step`.
    pub fn assert_valid(&self, step: &str) {
        if !cfg!(debug_assertions) {
            return;
        }
        if let Err(e) = ir::verify(&self.graph) {
            panic!("compiler bug: {step} left a malformed graph: {e}");
        }
        let (spans, nodes) = (self.spans.len(), self.graph.nodes.len());
        assert_eq!(spans, nodes, "compiler bug: {step} left {spans} spans for {nodes} nodes");
    }
}

/// Lowers a checked model. The weights were verified by the checks; reading
/// them can only fail if the file changed in between. A model without a
/// weights file (checked as untrained) gets zero tensors.
pub fn lower(m: &CheckedModel, loader: &dyn Loader) -> Result<Lowered, Box<Diagnostic>> {
    let weights = match &m.weights {
        Some(path) => Some(loader.read_weights(path).map_err(|e| {
            Box::new(Diagnostic::error(
                Code::WeightsUnreadable,
                format!("cannot read weights `{}`: {e}", path.display()),
            ))
        })?),
        None => None,
    };
    let mut next_site = 0u32;
    let mut site = |n: &Option<Sourced<Noise>>| {
        n.as_ref().map(|s| {
            next_site += 1;
            NoiseSite { site: next_site - 1, noise: s.value.clone() }
        })
    };
    let mut hardware = |hw: &Hardware| {
        // Weight noise is drawn first (it acts first), then output noise.
        let weight_noise = site(&hw.weight_noise);
        let noise = site(&hw.noise);
        NodeHardware {
            noise,
            weight_noise,
            accumulate: hw.accumulate.as_ref().map_or(Accumulate::Exact, |a| a.value.clone()),
            format: hw.format().clone(),
            multiplier: hw.multiplier.as_ref().map_or(Multiplier::Exact, |m| m.value.clone()),
        }
    };
    let mut nodes = vec![];
    let mut spans = vec![];
    for i in &m.inputs {
        nodes.push(Node {
            uid: nodes.len() as u32,
            name: i.name.clone(),
            kind: NodeKind::Input { dtype: i.dtype, shape: i.shape.clone(), steps: i.steps.clone() },
            shape: i.out_shape.clone(),
            hw: hardware(&i.hardware),
            params: vec![],
            prepared: None,
        });
        spans.push(i.span);
    }
    let id = |r: TensorRef| match r {
        TensorRef::Input(i) => NodeId(i as u32),
        TensorRef::Layer(l) => NodeId((m.inputs.len() + l) as u32),
    };
    for l in &m.layers {
        let mut params = vec![];
        for t in &l.tensors {
            // Without a weights file (a model checked as untrained) every tensor is zero.
            let data = match &weights {
                None => vec![0.0; t.shape.iter().product()],
                Some(w) => match w.tensors.get(&t.name).and_then(|s| s.values.clone()) {
                    Some(values) => values.data,
                    None => {
                        return Err(Box::new(
                            Diagnostic::error(
                                Code::TensorMissing,
                                format!("tensor `{}` vanished from the weights file", t.name),
                            )
                            .primary(l.span, "needed here"),
                        ))
                    }
                },
            };
            params.push(Param {
                role: t.role.to_string(),
                name: t.name.clone(),
                value: Tensor::new(t.shape.clone(), data),
            });
        }
        nodes.push(Node {
            uid: nodes.len() as u32,
            name: l.name.clone(),
            kind: NodeKind::Op { op: l.op.clone(), inputs: l.inputs.iter().map(|r| id(*r)).collect() },
            shape: l.shape.clone(),
            hw: hardware(&l.hardware),
            params,
            prepared: None,
        });
        spans.push(l.span);
    }
    let outputs = m.outputs.iter().map(|o| (o.name.clone(), id(o.source))).collect();
    let lowered = Lowered { graph: Graph { name: m.name.clone(), nodes, outputs }, spans };
    lowered.assert_valid("lowering");
    Ok(lowered)
}
