use super::{retain, Pass};
use crate::lower::Lowered;
use analog_runtime::ir::NodeKind;

/// Removes ops whose result reaches no output. Inputs stay: they are the
/// model's interface even when unused.
pub struct DeadNodes;

impl Pass for DeadNodes {
    fn name(&self) -> &'static str {
        "dead-nodes"
    }

    fn description(&self) -> &'static str {
        "remove ops whose result reaches no output"
    }

    fn run(&self, l: &mut Lowered) -> usize {
        let g = &l.graph;
        let mut live: Vec<bool> = g.nodes.iter().map(|n| matches!(n.kind, NodeKind::Input { .. })).collect();
        let mut reached = vec![false; g.nodes.len()];
        let mut stack: Vec<_> = g.outputs.iter().map(|(_, id)| *id).collect();
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut reached[id.index()], true) {
                live[id.index()] = true;
                stack.extend(g.node(id).inputs().iter().copied());
            }
        }
        let removed = live.iter().filter(|k| !**k).count();
        if removed > 0 {
            retain(l, &live);
        }
        removed
    }
}
