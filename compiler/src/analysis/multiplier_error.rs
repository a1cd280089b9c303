//! An approximate multiplier's error, weighted by how often each operand pair
//! occurs on data, and what it becomes at a layer's output: `s_x·s_w·√((K·μ_d)²
//! + K·σ_d²)` (`docs/analysis.md`).

use analog_runtime::derived::format::Int8Input;
use analog_runtime::files;
use analog_runtime::ir::hardware::{Multiplier, TableLayout};
use analog_runtime::ir::{Graph, Node, NodeKind, Op};
use analog_runtime::multiplier::{self, Design};
use analog_runtime::product_table::{Layout, ProductTable};
use analog_runtime::quant::{self, Prepared};

/// The product table of a multiplier (`None`: exact).
pub fn product_table(m: &Multiplier, signed: bool) -> Result<Option<ProductTable>, String> {
    let design = match m {
        Multiplier::Exact => return Ok(None),
        Multiplier::Truncated { bits } => Design::Truncated { bits: *bits },
        Multiplier::Mitchell => Design::Mitchell,
        Multiplier::Drum { k } => Design::Drum { k: *k },
        Multiplier::Table { path, layout, signed } => {
            let bytes =
                files::read(path, files::TABLE).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            let layout = match layout {
                TableLayout::TorchApprox => Layout::TorchApprox,
                TableLayout::TfApprox => Layout::TfApprox,
            };
            return ProductTable::parse(&bytes, layout, *signed).map(Some);
        }
    };
    Ok(Some(multiplier::table(design, signed)))
}

/// A multiplier's error weighted by how often each operand pair occurred.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Weighted {
    /// Products traced.
    pub pairs: u64,
    /// `μ_d = Σ h(a,b)·E(a,b) / Σ h`, in integer-product units.
    pub mean: f64,
    /// `σ_d`, the h-weighted population standard deviation of `E`.
    pub std: f64,
}

/// `E(a, b) = M(a, b) − a·b` at every table index (0 for an exact multiplier).
pub fn errors(table: Option<&ProductTable>, signed: bool) -> Vec<i64> {
    let operand = |i: usize| if signed { i as u8 as i8 as i32 } else { i as i32 };
    (0..65536)
        .map(|i| {
            let (a, b) = (operand(i >> 8), operand(i & 255));
            table.map_or(0, |t| t.product(a, b) as i64 - (a * b) as i64)
        })
        .collect()
}

pub fn weighted(histogram: &[u64], errors: &[i64]) -> Weighted {
    let pairs: u64 = histogram.iter().sum();
    if pairs == 0 {
        return Weighted { pairs, mean: 0.0, std: 0.0 };
    }
    let total = pairs as f64;
    let mean = histogram.iter().zip(errors).map(|(h, e)| *h as f64 * *e as f64).sum::<f64>() / total;
    let var = histogram.iter().zip(errors).map(|(h, e)| *h as f64 * (*e as f64 - mean).powi(2)).sum::<f64>() / total;
    Weighted { pairs, mean, std: var.sqrt() }
}

/// `s_x` of an int8 node and the root mean square of its weight scales `s_w`
/// (one per output channel, or one): an integer product times `s_x·s_w` is in
/// the layer's output units.
pub fn int8_scales(node: &Node) -> Option<(f64, f64)> {
    let s_x = Int8Input::of(&node.hw.format)?.scale;
    let computed;
    let prepared = match &node.prepared {
        Some(p) => p,
        None => {
            computed = quant::prepare(&node.hw.format, node.param("weight")?)?;
            &computed
        }
    };
    let Prepared::Int8 { scales, .. } = prepared else { return None };
    let ms = scales.iter().map(|s| *s as f64 * *s as f64).sum::<f64>() / scales.len().max(1) as f64;
    Some((s_x as f64, ms.sqrt()))
}

/// The fan-in `K` of a MAC layer (`None` for other nodes).
pub fn fan_in(g: &Graph, node: &Node) -> Option<usize> {
    let NodeKind::Op { op, inputs } = &node.kind else { return None };
    match op {
        Op::Dense { .. } => Some(g.node(inputs[0]).shape.iter().product()),
        Op::Conv2d { kernel, groups, .. } => Some(g.node(inputs[0]).shape[0] / groups * kernel[0] * kernel[1]),
        Op::Conv1d { kernel, groups, .. } => Some(g.node(inputs[0]).shape[0] / groups * kernel),
        _ => None,
    }
}

/// The RMS error a multiplier adds to each output of an int8 layer, in its
/// output units: `s_x·s_w·√((K·μ_d)² + K·σ_d²)`.
pub fn layer_error(w: &Weighted, fan_in: usize, s_x: f64, s_w: f64) -> f64 {
    let k = fan_in as f64;
    s_x * s_w * ((k * w.mean).powi(2) + k * w.std.powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_errors_follow_the_histogram() {
        // E = +2 three times, −2 once: μ = 1, σ² = (3·1 + 9)/4 = 3.
        let mut h = vec![0u64; 65536];
        let mut e = vec![0i64; 65536];
        (h[5], e[5]) = (3, 2);
        (h[9], e[9]) = (1, -2);
        let w = weighted(&h, &e);
        assert_eq!((w.pairs, w.mean, w.std), (4, 1.0, 3.0f64.sqrt()));
        assert_eq!(layer_error(&w, 4, 0.5, 0.25), 0.125 * (16.0f64 + 12.0).sqrt());
    }
}
