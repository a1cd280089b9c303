use super::{retain, Pass};
use crate::lower::Lowered;
use analog_runtime::ir::{NodeKind, Op, Param};
use analog_runtime::tensor::Tensor;

/// Folds an inference batch-norm into the dense or convolution before it:
/// `W'[o] = W[o]·γ[o]/√(var[o]+ε)`, `b'[o] = (b[o] − mean[o])·γ[o]/√(var[o]+ε) + β[o]`.
///
/// Only where that cannot change the meaning: the MAC layer is ideal (no
/// noise, no weight noise, exact accumulation, fp32, exact products —
/// otherwise scaling its weights would change what the hardware computes),
/// the batch-norm is its only reader, and the batch-norm carries at most
/// output noise, which then sits on the folded layer's output exactly where
/// it was. Results agree with the unfolded graph up to f32 rounding.
pub struct FoldBatchNorm;

impl Pass for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold-batchnorm"
    }

    fn description(&self) -> &'static str {
        "fold a batch-norm into the ideal dense/conv2d before it, where no effect lies between"
    }

    fn run(&self, l: &mut Lowered) -> usize {
        let uses = l.graph.use_counts();
        let mut keep = vec![true; l.graph.nodes.len()];
        let mut folded = 0;
        for b in 0..l.graph.nodes.len() {
            let NodeKind::Op { op: Op::BatchNorm { eps }, inputs } = &l.graph.nodes[b].kind else { continue };
            let (eps, m) = (*eps, inputs[0].index());
            let mac = &l.graph.nodes[m];
            let NodeKind::Op {
                op: mac_op @ (Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. }),
                inputs: mac_inputs,
            } = &mac.kind
            else {
                continue;
            };
            let bn = &l.graph.nodes[b];
            let bn_only_noise = bn.hw.weight_noise.is_none() && {
                let mut h = bn.hw.clone();
                h.noise = None;
                h.is_ideal()
            };
            if uses[m] != 1 || !mac.hw.is_ideal() || !bn_only_noise {
                continue;
            }
            let (gamma, beta) = (bn.param("weight").expect("bn weight"), bn.param("bias").expect("bn bias"));
            let (mean, var) = (bn.param("running_mean").expect("bn mean"), bn.param("running_var").expect("bn var"));
            let weight = mac.param("weight").expect("mac weight");
            let out = weight.shape[0];
            let per_out = weight.len() / out;
            let scale: Vec<f32> = (0..out).map(|o| gamma.data[o] / (var.data[o] + eps as f32).sqrt()).collect();
            let mut w = weight.clone();
            for (o, s) in scale.iter().enumerate() {
                for v in &mut w.data[o * per_out..(o + 1) * per_out] {
                    *v *= s;
                }
            }
            let bias: Vec<f32> = (0..out)
                .map(|o| {
                    let b0 = mac.param("bias").map_or(0.0, |t| t.data[o]);
                    (b0 - mean.data[o]) * scale[o] + beta.data[o]
                })
                .collect();
            let name = format!("{}+{}", mac.name, bn.name);
            let params = vec![
                Param { role: "weight".into(), name: format!("{} (folded)", weight_name(mac)), value: w },
                Param {
                    role: "bias".into(),
                    name: format!("{}.bias (folded)", mac.name),
                    value: Tensor::new(vec![out], bias),
                },
            ];
            let kind = NodeKind::Op { op: mac_op.clone(), inputs: mac_inputs.clone() };
            let span = l.spans[m].to(l.spans[b]);
            let node = &mut l.graph.nodes[b];
            node.name = name;
            node.kind = kind;
            node.params = params;
            l.spans[b] = span;
            keep[m] = false;
            folded += 1;
        }
        if folded > 0 {
            retain(l, &keep);
        }
        folded
    }
}

fn weight_name(n: &analog_runtime::ir::Node) -> &str {
    n.params.iter().find(|p| p.role == "weight").map_or("weight", |p| p.name.as_str())
}
