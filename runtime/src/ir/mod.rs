//! The graph IR: what a model *means*, shared by the compiler's passes, the
//! reference interpreter and the JIT.
//!
//! Nodes live in one arena (`Graph::nodes`) addressed by [`NodeId`], in an
//! order where every node comes after its inputs. Each node carries its
//! shape, its effective hardware (profiles and overrides already applied,
//! units already normalized) and its weights. Source spans are not here: the
//! compiler keeps them beside the graph, indexed by `NodeId`. [`verify`]
//! states and checks the invariants every graph holds.

pub mod hardware;
pub mod op;
mod print;
pub mod shape;
mod verify;

use crate::quant::Prepared;
use crate::tensor::Tensor;
use hardware::{Accumulate, Format, Multiplier, Noise};
pub use op::Op;
pub use print::{dims, print_graph};
pub use verify::{verify, Invariant, VerifyError};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The element type of an input, and of the arrays and datasets that feed it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dtype {
    U8,
    F32,
}

impl std::fmt::Display for Dtype {
    /// As the language spells it: `u8`, `f32`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dtype::U8 => "u8",
            Dtype::F32 => "f32",
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Scale(f64),
    /// `(x − mean[c]) / std[c]`; one value, or one per channel.
    Normalize {
        mean: Vec<f64>,
        std: Vec<f64>,
    },
    Reshape(Vec<usize>),
    Flatten,
}

/// A noise effect and the site number its random draws are keyed by. Sites
/// are numbered in the order the model is written (the Walking-Noise
/// numbering) and never renumbered by passes.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSite {
    pub site: u32,
    pub noise: Noise,
}

/// The effective hardware of a node; the defaults are the ideal digital op.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeHardware {
    pub noise: Option<NoiseSite>,
    pub weight_noise: Option<NoiseSite>,
    pub accumulate: Accumulate,
    pub format: Format,
    pub multiplier: Multiplier,
}

impl Default for NodeHardware {
    fn default() -> Self {
        NodeHardware {
            noise: None,
            weight_noise: None,
            accumulate: Accumulate::Exact,
            format: Format::Fp32,
            multiplier: Multiplier::Exact,
        }
    }
}

impl NodeHardware {
    /// True when the node computes its exact digital formula.
    pub fn is_ideal(&self) -> bool {
        *self == NodeHardware::default()
    }
}

/// A weight tensor of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// `weight`, `bias`, `running_mean`, `down.weight`…
    pub role: String,
    /// Its name in the weights file.
    pub name: String,
    pub value: Tensor,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A model input: one sample of `shape` in `dtype`, then preprocessing.
    Input {
        dtype: Dtype,
        shape: Vec<usize>,
        steps: Vec<Step>,
    },
    Op {
        op: Op,
        inputs: Vec<NodeId>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// A number fixed at lowering and kept by every pass; random draws that
    /// belong to the node rather than to a noise site (ADC noise, a random
    /// accumulation order) are keyed by it.
    pub uid: u32,
    pub name: String,
    pub kind: NodeKind,
    /// The shape of one sample of the node's output.
    pub shape: Vec<usize>,
    pub hw: NodeHardware,
    pub params: Vec<Param>,
    /// The weights prepared for the node's number format, when they are the
    /// same for every chip (set by the compiler's `prepare-weights` pass).
    pub prepared: Option<Prepared>,
}

impl Node {
    pub fn inputs(&self) -> &[NodeId] {
        match &self.kind {
            NodeKind::Input { .. } => &[],
            NodeKind::Op { inputs, .. } => inputs,
        }
    }

    pub fn param(&self, role: &str) -> Option<&Tensor> {
        self.params.iter().find(|p| p.role == role).map(|p| &p.value)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub outputs: Vec<(String, NodeId)>,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// The same graph with every noise switched off: output and weight noise
    /// removed, ADC noise set to zero. Quantization, ordering and multipliers
    /// stay (they are deterministic). Gives the "clean" accuracy.
    pub fn without_noise(&self) -> Graph {
        let mut g = self.clone();
        for n in &mut g.nodes {
            n.hw.noise = None;
            n.hw.weight_noise = None;
            match &mut n.hw.format {
                hardware::Format::Abfp { adc_noise, .. } | hardware::Format::AnalogInt { adc_noise, .. } => {
                    *adc_noise = 0.0
                }
                _ => {}
            }
        }
        g
    }

    /// How many nodes read each node's output (outputs count as readers).
    pub fn use_counts(&self) -> Vec<usize> {
        let mut uses = vec![0; self.nodes.len()];
        for n in &self.nodes {
            for i in n.inputs() {
                uses[i.index()] += 1;
            }
        }
        for (_, o) in &self.outputs {
            uses[o.index()] += 1;
        }
        uses
    }
}
