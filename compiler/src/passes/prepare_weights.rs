use super::Pass;
use crate::lower::Lowered;
use analog_runtime::quant;

/// Quantizes or tiles a MAC layer's weights for its number format once, at
/// compile time (int8 codes and scales, ABFP mantissas and tile scales,
/// integer analog codes). Skipped where weight noise changes the weights per
/// chip or per inference: those are prepared at run time, by the same code.
pub struct PrepareWeights;

impl Pass for PrepareWeights {
    fn name(&self) -> &'static str {
        "prepare-weights"
    }

    fn description(&self) -> &'static str {
        "quantize or tile the weights of int8, ABFP and analog_int layers at compile time"
    }

    fn run(&self, l: &mut Lowered) -> usize {
        let mut changed = 0;
        for node in &mut l.graph.nodes {
            if node.prepared.is_some() || analog_runtime::interp::weights_vary(node) {
                continue;
            }
            let Some(weight) = node.param("weight") else { continue };
            if let Some(p) = quant::prepare(&node.hw.format, weight) {
                node.prepared = Some(p);
                changed += 1;
            }
        }
        changed
    }
}
