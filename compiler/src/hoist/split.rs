//! A graph cut before its first random draw: the prefix, whose outputs are
//! the values the rest reads, and the suffix, which takes them as inputs.

use analog_runtime::derived::noise::{draws, Draws};
use analog_runtime::ir::{Dtype, Graph, Node, NodeHardware, NodeId, NodeKind};

/// `graph` cut in two: running `suffix` on the outputs of `prefix` gives the
/// bits of `graph`, for every chip and every sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The nodes before the first random draw, in the graph's order; its
    /// outputs are the cut, in node order.
    pub prefix: Graph,
    /// An input per node of the cut (its values as the prefix computes them),
    /// then the rest of the graph.
    pub suffix: Graph,
}

/// Cuts `graph` before its first node that draws random numbers
/// (`derived::noise::draws`); a node that draws only in its output noise is
/// itself cut in two, its op in the prefix and its noise on its input in the
/// suffix. `None` when the first node draws inside its op (nothing is the
/// same for every chip), or an input of the graph would fall in the suffix.
pub fn split(graph: &Graph) -> Option<Split> {
    let first = graph.nodes.iter().position(|n| draws(n) != Draws::Nothing).unwrap_or(graph.nodes.len());
    // Nodes `..end` are computed by the prefix; a node with noise on its output ends it.
    let (end, noisy) = match graph.nodes.get(first).map(draws) {
        Some(Draws::OnOutput) => (first + 1, Some(first)),
        _ => (first, None),
    };
    // The suffix takes only the cut as inputs: the graph's own inputs all come before it.
    if end == 0 || graph.nodes[end..].iter().any(|n| matches!(n.kind, NodeKind::Input { .. })) {
        return None;
    }
    let mut read_later = vec![false; graph.nodes.len()];
    let operands = graph.nodes[end..].iter().flat_map(|n| n.inputs());
    for x in operands.chain(graph.outputs.iter().map(|(_, o)| o)) {
        read_later[x.index()] = true;
    }
    let cut: Vec<usize> = (0..end).filter(|&i| read_later[i]).collect();

    let mut prefix_nodes = graph.nodes[..end].to_vec();
    if let Some(i) = noisy {
        prefix_nodes[i].hw.noise = None;
    }
    let prefix = Graph {
        name: graph.name.clone(),
        nodes: prefix_nodes,
        outputs: cut.iter().map(|&i| (graph.nodes[i].name.clone(), NodeId(i as u32))).collect(),
    };

    // Old index → new: the cut's inputs first, then the rest in order.
    let mut new = vec![None; graph.nodes.len()];
    for (j, &i) in cut.iter().enumerate() {
        new[i] = Some(NodeId(j as u32));
    }
    for (j, slot) in new[end..].iter_mut().enumerate() {
        *slot = Some(NodeId((cut.len() + j) as u32));
    }
    let renumber = |x: &NodeId| new[x.index()].expect("an operand of the suffix is in it or in the cut");
    let mut nodes: Vec<Node> = cut
        .iter()
        .map(|&i| {
            let node = &graph.nodes[i];
            let noise = if noisy == Some(i) { node.hw.noise.clone() } else { None };
            Node {
                uid: node.uid,
                name: node.name.clone(),
                kind: NodeKind::Input { dtype: Dtype::F32, shape: node.shape.clone(), steps: vec![] },
                shape: node.shape.clone(),
                hw: NodeHardware { noise, ..Default::default() },
                params: vec![],
                prepared: None,
            }
        })
        .collect();
    for node in &graph.nodes[end..] {
        let mut node = node.clone();
        if let NodeKind::Op { inputs, .. } = &mut node.kind {
            *inputs = inputs.iter().map(renumber).collect();
        }
        nodes.push(node);
    }
    let outputs = graph.outputs.iter().map(|(name, o)| (name.clone(), renumber(o))).collect();
    Some(Split { prefix, suffix: Graph { name: graph.name.clone(), nodes, outputs } })
}
