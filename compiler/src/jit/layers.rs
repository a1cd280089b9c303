//! Layers compiled alone, for training's forward (the runtime's
//! [`LayerCode`]) and `train --dnf`'s measurement: a graph's MAC layers with
//! effects and its denoise blocks, each compiled once as a model of two
//! nodes, its input and the layer without its output noise (which the
//! forward adds, as for every layer; noise in `lsb`, which the ADC adds
//! inside the layer, stays). Before every step each is given the weights as
//! trained so far and a chip drawn for them. A layer that draws (ADC or
//! `lsb` noise, weight noise, a random order) runs each sample in a call of
//! its own, so that its draws are keyed by the sample's own number, as the
//! interpreter keys them, whatever the shuffled batch holds; any other runs
//! samples in batches.

use super::{compile, Chip, Compiled, Kernels, Workspace};
use analog_runtime::derived::noise::{draws, Draws};
use analog_runtime::ir::hardware::{NoiseKind, SigmaUnit};
use analog_runtime::ir::{Dtype, Graph, Node, NodeHardware, NodeId, NodeKind};
use analog_runtime::train::compiled::{takes, LayerCode};
use std::sync::{Mutex, PoisonError};

/// The layer in its two-node model.
const LAYER: NodeId = NodeId(1);

/// The compiled layers of a training graph, by node.
pub struct JitLayers {
    layers: Vec<Option<Layer>>,
}

struct Layer {
    compiled: Compiled,
    /// Whether it draws anything: then each sample runs alone, its draws
    /// keyed by its number; else samples run in batches.
    keyed: bool,
    /// This step's (`None` until the first `prepare`).
    chip: Option<Chip>,
    /// Workspaces of earlier tasks, for the next.
    workspaces: Mutex<Vec<Workspace>>,
}

impl JitLayers {
    /// Compiles every layer of `graph` (a training graph) that the fast
    /// forward asks compiled code for ([`takes`]); fails if one does not compile.
    pub fn compile(graph: &Graph, kernels: Kernels) -> Result<JitLayers, String> {
        let layers = graph
            .ids()
            .map(|id| match takes(graph.node(id)) {
                true => compile(&alone(graph, id), kernels)
                    .map(|compiled| {
                        let keyed = draws(compiled.graph().node(LAYER)) != Draws::Nothing;
                        Some(Layer { compiled, keyed, chip: None, workspaces: Mutex::default() })
                    })
                    .map_err(|e| format!("layer `{}` for training: {e}", graph.node(id).name)),
                false => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        Ok(JitLayers { layers })
    }

    /// How many layers it runs.
    pub fn len(&self) -> usize {
        self.layers.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Node `id` of `graph` as a model of its own: its input (raw values, no
/// preprocessing) and the node without output noise.
pub fn alone(graph: &Graph, id: NodeId) -> Graph {
    let node = graph.node(id);
    let from = graph.node(node.inputs()[0]);
    let input = Node {
        uid: from.uid,
        name: from.name.clone(),
        kind: NodeKind::Input { dtype: Dtype::F32, shape: from.shape.clone(), steps: vec![] },
        shape: from.shape.clone(),
        hw: NodeHardware::default(),
        params: vec![],
        prepared: None,
    };
    Graph {
        name: node.name.clone(),
        nodes: vec![input, without_output_noise(node, vec![NodeId(0)])],
        outputs: vec![(node.name.clone(), LAYER)],
    }
}

/// `node` reading `inputs`, its noise site reduced to what the ADC adds
/// inside the op: additive noise in `lsb` (alone, or a mixed noise's
/// additive part), on the same site, so with the same draws.
fn without_output_noise(node: &Node, inputs: Vec<NodeId>) -> Node {
    let NodeKind::Op { op, .. } = &node.kind else { unreachable!("a layer it takes is an op") };
    let mut hw = node.hw.clone();
    hw.noise = hw.noise.and_then(|mut site| match &site.noise.kind {
        NoiseKind::Additive { sigma } | NoiseKind::Mixed { add: sigma, .. } if sigma.unit == SigmaUnit::Lsb => {
            site.noise.kind = NoiseKind::Additive { sigma: *sigma };
            Some(site)
        }
        _ => None,
    });
    Node { kind: NodeKind::Op { op: op.clone(), inputs }, hw, ..node.clone() }
}

impl LayerCode for JitLayers {
    fn runs(&self, id: NodeId) -> bool {
        self.layers.get(id.index()).is_some_and(Option::is_some)
    }

    fn prepare(&mut self, graph: &Graph, seed: u64, chip_trial: u32, trial: u32) {
        for (slot, node) in self.layers.iter_mut().zip(&graph.nodes) {
            let Some(layer) = slot else { continue };
            let compiled = layer.compiled.graph().node(LAYER);
            let same = compiled.shape == node.shape
                && compiled.hw == without_output_noise(node, vec![]).hw
                && matches!((&compiled.kind, &node.kind), (NodeKind::Op { op: a, .. }, NodeKind::Op { op: b, .. }) if a == b);
            if !same || layer.compiled.set_params(LAYER, &node.params).is_err() {
                *slot = None;
                continue;
            }
            let mut chip = layer.compiled.chip(seed, chip_trial);
            chip.trial = trial;
            layer.chip = Some(chip);
        }
    }

    fn run(&self, id: NodeId, x: &[f32], samples: &[u32], y: &mut [f32]) {
        let layer = self.layers[id.index()].as_ref().expect("a layer it runs");
        let chip = layer.chip.as_ref().expect("a prepared layer");
        let take = || layer.workspaces.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut ws = take().unwrap_or_else(|| layer.compiled.workspace());
        layer.compiled.run_into(chip, &mut ws, samples, layer.keyed, x, y);
        layer.workspaces.lock().unwrap_or_else(PoisonError::into_inner).push(ws);
    }
}
