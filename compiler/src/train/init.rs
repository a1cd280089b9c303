//! Seeded initialization of a graph's weights (`--init kaiming|xavier`), with
//! PyTorch's fan conventions; `docs/training.md` ("Initialization") gives the
//! formulas. Draws come from the project's counter-based generator, so the same
//! seed gives the same weights, bit for bit, on any machine.

use super::Init;
use analog_runtime::ir::{Graph, NodeKind, Op};
use analog_runtime::rng;

/// The site of node `uid`'s initialization draws is `INIT_SITE + uid`: above
/// the epoch shuffle's site and below the per-layer sites of the interpreter.
pub const INIT_SITE: u32 = 0x3000_0000;

/// Re-initializes the weights of every node `i` with `layers[i]` true (nodes
/// past the end of `layers` are left alone); `Init::Keep` changes nothing.
/// Dense, conv1d and conv2d weights are drawn (He normal or Glorot uniform) and their
/// biases zeroed; a batchnorm becomes the identity on normalized values
/// (weight 1, bias 0, running mean 0, running variance 1); a denoise block's
/// `down` is He normal and its `up` zero, so the block starts as the identity.
/// The weights prepared for a number format are dropped with the old weights.
pub fn initialize(graph: &mut Graph, init: Init, seed: u64, layers: &[bool]) {
    if init == Init::Keep {
        return;
    }
    for (index, node) in graph.nodes.iter_mut().enumerate() {
        if !layers.get(index).copied().unwrap_or(false) {
            continue;
        }
        let NodeKind::Op { op, .. } = &node.kind else { continue };
        let site = INIT_SITE.wrapping_add(node.uid);
        for (k, param) in node.params.iter_mut().enumerate() {
            let data = &mut param.value.data;
            let shape = &param.value.shape;
            match (op, param.role.as_str()) {
                (Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. }, "weight") => {
                    draw(init, shape, seed, k as u32, site, data)
                }
                (Op::Denoise { .. }, "down.weight") => draw(Init::Kaiming, shape, seed, k as u32, site, data),
                (Op::BatchNorm { .. }, "weight" | "running_var") => data.fill(1.0),
                _ => data.fill(0.0),
            }
        }
        node.prepared = None;
    }
}

/// PyTorch's fans of a weight `[out, in, k…]`: `fan_in = in·Πk`,
/// `fan_out = out·Πk` (a grouped conv's weight holds `in/groups` already).
fn fans(shape: &[usize]) -> (f64, f64) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in as f64, fan_out as f64)
}

/// Fills a weight tensor: He normal `N(0, 2/fan_in)` or Glorot uniform
/// `U(−a, a)`, `a = √(6/(fan_in + fan_out))`. Element `e` of the node's `k`-th
/// tensor draws `(seed, trial 0, sample k, site, e)`.
fn draw(init: Init, shape: &[usize], seed: u64, k: u32, site: u32, data: &mut [f32]) {
    let (fan_in, fan_out) = fans(shape);
    match init {
        Init::Keep => {}
        Init::Kaiming => {
            let std = (2.0 / fan_in).sqrt() as f32;
            rng::fill_gaussian(seed, 0, k, site, data);
            data.iter_mut().for_each(|v| *v *= std);
        }
        Init::Xavier => {
            let bound = (6.0 / (fan_in + fan_out)).sqrt() as f32;
            for (e, v) in data.iter_mut().enumerate() {
                *v = (2.0 * rng::uniform(seed, 0, k, site, e as u32) - 1.0) * bound;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analog_runtime::ir::{Node, NodeHardware, NodeId, Param};
    use analog_runtime::tensor::Tensor;

    fn node(uid: u32, op: Op, params: &[(&str, Vec<usize>)]) -> Node {
        let params = params
            .iter()
            .map(|(role, shape)| Param {
                role: role.to_string(),
                name: format!("n{uid}.{role}"),
                value: Tensor::new(shape.clone(), vec![0.5; shape.iter().product()]),
            })
            .collect();
        let kind = NodeKind::Op { op, inputs: vec![NodeId(0)] };
        Node { uid, name: format!("n{uid}"), kind, shape: vec![], hw: NodeHardware::default(), params, prepared: None }
    }

    /// Dense 784→256, conv 4→8 in 2 groups 3×3, batchnorm of 8, denoise 8↔2 of 3×3.
    fn graph() -> Graph {
        let nodes = vec![
            node(0, Op::Relu, &[]),
            node(1, Op::Dense { out: 256 }, &[("weight", vec![256, 784]), ("bias", vec![256])]),
            node(
                2,
                Op::Conv2d { out: 8, kernel: [3, 3], stride: [1, 1], padding: [[0, 0]; 2], groups: 2 },
                &[("weight", vec![8, 2, 3, 3]), ("bias", vec![8])],
            ),
            node(
                3,
                Op::BatchNorm { eps: 1e-5 },
                &[("weight", vec![8]), ("bias", vec![8]), ("running_mean", vec![8]), ("running_var", vec![8])],
            ),
            node(
                4,
                Op::Denoise { hidden: 2, kernel: 3 },
                &[
                    ("down.weight", vec![2, 8, 3, 3]),
                    ("down.bias", vec![2]),
                    ("up.weight", vec![8, 2, 3, 3]),
                    ("up.bias", vec![8]),
                ],
            ),
        ];
        Graph { name: "g".into(), nodes, outputs: vec![] }
    }

    fn initialized(init: Init, seed: u64) -> Graph {
        let mut g = graph();
        initialize(&mut g, init, seed, &[true; 5]);
        g
    }

    fn mean_std(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|x| *x as f64).sum::<f64>() / n;
        let var = v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn kaiming_draws_have_he_statistics() {
        let g = initialized(Init::Kaiming, 7);
        let w = &g.nodes[1].params[0].value.data;
        let (mean, std) = mean_std(w);
        let expected = (2.0f64 / 784.0).sqrt();
        // 200,704 draws: the mean's standard error is std/448, the std's about std/634.
        assert!(mean.abs() < 4.0 * expected / 448.0, "mean {mean}");
        assert!((std / expected - 1.0).abs() < 0.01, "std {std}, expected {expected}");
        assert!(g.nodes[1].params[1].value.data.iter().all(|b| *b == 0.0));
    }

    #[test]
    fn xavier_draws_fill_the_glorot_interval_uniformly() {
        let g = initialized(Init::Xavier, 7);
        let w = &g.nodes[1].params[0].value.data;
        let bound = (6.0f64 / (784.0 + 256.0)).sqrt();
        assert!(w.iter().all(|x| (*x as f64).abs() <= bound));
        let (mean, std) = mean_std(w);
        let expected = bound / 3f64.sqrt();
        assert!(mean.abs() < 4.0 * expected / 448.0, "mean {mean}");
        assert!((std / expected - 1.0).abs() < 0.01, "std {std}, expected {expected}");
    }

    #[test]
    fn conv1d_weights_are_drawn_like_the_other_mac_layers() {
        let conv1d = Op::Conv1d { out: 64, kernel: 5, stride: 1, padding: [0, 0], groups: 1 };
        let mut g =
            Graph { name: "g".into(), nodes: vec![node(0, conv1d, &[("weight", vec![64, 32, 5])])], outputs: vec![] };
        initialize(&mut g, Init::Kaiming, 3, &[true]);
        let (mean, std) = mean_std(&g.nodes[0].params[0].value.data);
        let expected = (2.0f64 / 160.0).sqrt();
        assert!(mean.abs() < 0.01 && (std / expected - 1.0).abs() < 0.05, "mean {mean}, std {std}");
    }

    #[test]
    fn a_grouped_conv_counts_its_fan_in_per_group() {
        assert_eq!(fans(&[8, 2, 3, 3]), (18.0, 72.0));
        assert_eq!(fans(&[256, 784]), (784.0, 256.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_bits_and_another_seed_other_weights() {
        let bits = |g: &Graph| -> Vec<u32> {
            g.nodes.iter().flat_map(|n| &n.params).flat_map(|p| p.value.data.iter().map(|x| x.to_bits())).collect()
        };
        for init in [Init::Kaiming, Init::Xavier] {
            assert_eq!(bits(&initialized(init, 3)), bits(&initialized(init, 3)));
            assert_ne!(bits(&initialized(init, 3)), bits(&initialized(init, 4)));
        }
        // Two layers of one shape draw different weights (their sites differ).
        let g = initialized(Init::Kaiming, 3);
        assert_ne!(g.nodes[4].params[0].value.data[..8], g.nodes[2].params[0].value.data[..8]);
    }

    #[test]
    fn batchnorm_and_denoise_start_as_identities() {
        for init in [Init::Kaiming, Init::Xavier] {
            let g = initialized(init, 1);
            let value = |n: usize, k: usize| g.nodes[n].params[k].value.data.clone();
            assert_eq!(
                (value(3, 0), value(3, 1), value(3, 2), value(3, 3)),
                (vec![1.0; 8], vec![0.0; 8], vec![0.0; 8], vec![1.0; 8])
            );
            let (_, std) = mean_std(&value(4, 0));
            assert!(std > 0.0);
            assert_eq!(value(4, 1), vec![0.0; 2]);
            assert!(value(4, 2).iter().chain(&value(4, 3)).all(|x| *x == 0.0));
        }
    }

    #[test]
    fn only_chosen_layers_change_and_keep_changes_nothing() {
        let mut g = graph();
        g.nodes[2].prepared = Some(analog_runtime::quant::Prepared::AnalogInt { codes: vec![], scale: 1.0 });
        let before = g.clone();
        initialize(&mut g, Init::Keep, 0, &[true; 5]);
        assert_eq!(g, before);
        initialize(&mut g, Init::Kaiming, 0, &[false, false, true]);
        assert_eq!(g.nodes[1], before.nodes[1]);
        assert_eq!(g.nodes[3..], before.nodes[3..]);
        assert_ne!(g.nodes[2].params[0], before.nodes[2].params[0]);
        assert_eq!(g.nodes[2].prepared, None);
    }
}
