//! `analogc analyze`: a static report per layer, without running the model —
//! cost, and what the hardware does to each multiply-accumulate layer.
//! `docs/analysis.md` defines every figure.

use super::{compile, Cli, Outcome};
use crate::passes;
use crate::source::FsLoader;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Accumulate, Format, Multiplier};
use analog_runtime::ir::{Graph, Node, NodeKind, Op};
use analog_runtime::multiplier::{self, Design, ErrorStats};
use analog_runtime::product_table::ProductTable;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// The model file.
    pub file: PathBuf,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Multiply-accumulates per sample, and the reduction length (fan-in) of each output.
fn macs(g: &Graph, node: &Node) -> Option<(usize, usize)> {
    let NodeKind::Op { op, inputs } = &node.kind else { return None };
    let input: usize = g.node(inputs[0]).shape.iter().product();
    match op {
        Op::Dense { out } => Some((out * input, input)),
        Op::Conv2d { kernel, groups, .. } => {
            let fan_in = g.node(inputs[0]).shape[0] / groups * kernel[0] * kernel[1];
            Some((node.shape.iter().product::<usize>() * fan_in, fan_in))
        }
        _ => None,
    }
}

/// The product table a multiplier amounts to, for its error statistics.
fn table(m: &Multiplier, signed: bool) -> Result<Option<ProductTable>, String> {
    let design = match m {
        Multiplier::Exact => return Ok(None),
        Multiplier::Truncated { bits } => Design::Truncated { bits: *bits },
        Multiplier::Mitchell => Design::Mitchell,
        Multiplier::Drum { k } => Design::Drum { k: *k },
        Multiplier::Table { path, layout, signed } => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            let layout = match layout {
                analog_runtime::ir::hardware::TableLayout::TorchApprox => {
                    analog_runtime::product_table::Layout::TorchApprox
                }
                analog_runtime::ir::hardware::TableLayout::TfApprox => analog_runtime::product_table::Layout::TfApprox,
            };
            return ProductTable::parse(&bytes, layout, *signed).map(Some);
        }
    };
    Ok(Some(multiplier::table(design, signed)))
}

fn stats_json(s: &ErrorStats, fan_in: usize) -> Value {
    let k = fan_in as f64;
    json!({
        "error_rate": s.error_rate,
        "mean_error": s.mean_error,
        "mean_abs_error": s.mean_abs_error,
        "mred": s.mred,
        "worst_case_error": s.worst_case,
        "error_std": s.error_std,
        "output_bias": k * s.mean_error,
        "output_spread": k.sqrt() * s.error_std,
    })
}

pub fn analyze(cli: &Cli, args: &AnalyzeArgs) -> Outcome {
    let loader = FsLoader::default();
    let Some((_, mut lowered)) = compile(cli, &args.file, &loader, &[]) else { return Outcome::UserError };
    passes::run_pipeline(&mut lowered);
    let g = &lowered.graph;
    // Tables were checked by the front end; this only reads them again.
    if let Err(e) = Interpreter::new(g, |p| std::fs::read(p)) {
        return super::fail(cli, crate::diag::Code::BadTable, e);
    }
    let mut layers = vec![];
    let (mut total_macs, mut total_params) = (0usize, 0usize);
    for node in &g.nodes {
        let Some((mac_count, fan_in)) = macs(g, node) else { continue };
        let params: usize = node.params.iter().map(|p| p.value.len()).sum();
        total_macs += mac_count;
        total_params += params;
        let mut layer =
            json!({ "name": node.name, "op": op_name(node), "macs": mac_count, "params": params, "fan_in": fan_in });
        if let Accumulate::Ordered { order, lo, hi, leak } = &node.hw.accumulate {
            layer["accumulate"] = json!(format!(
                "ordered accumulation ({} order, saturating at [{lo}, {hi}], leak {leak}): the sum depends on the order",
                order.name()
            ));
        }
        match &node.hw.format {
            Format::Abfp { block, input_bits, weight_bits, adc_bits, gain, .. } => {
                let n = (*block as usize).min(fan_in);
                let needed = weight_bits + input_bits + (n as f64).log2().ceil() as u32 - 1;
                layer["abfp"] = json!({
                    "tile": n,
                    "bits_for_exact_tile": needed,
                    "adc_bits": adc_bits,
                    "low_bits_lost_at_gain_1": needed.saturating_sub(*adc_bits),
                    "gain": gain,
                });
            }
            Format::Int8 { signed, .. } => match table(&node.hw.multiplier, *signed) {
                Ok(Some(t)) => layer["multiplier"] = stats_json(&multiplier::error_stats(&t), fan_in),
                Ok(None) => {}
                Err(e) => return super::fail(cli, crate::diag::Code::BadTable, e),
            },
            _ => {}
        }
        layers.push(layer);
    }
    let report = json!({ "model": g.name, "macs": total_macs, "params": total_params, "layers": layers });
    if args.json {
        return super::print_stdout(&format!("{report}\n"));
    }
    super::print_stdout(&table_text(&report))
}

fn op_name(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Op { op, .. } => op.name(),
        NodeKind::Input { .. } => "input",
    }
}

fn table_text(r: &Value) -> String {
    let mut out = format!(
        "{}: {} MACs and {} parameters per sample\n\n",
        r["model"].as_str().unwrap_or(""),
        r["macs"],
        r["params"]
    );
    out.push_str(&format!("{:<12} {:<8} {:>10} {:>9} {:>7}  hardware\n", "layer", "op", "MACs", "params", "fan-in"));
    for l in r["layers"].as_array().into_iter().flatten() {
        let mut hw = String::new();
        if let Some(a) = l.get("abfp") {
            hw = format!(
                "ABFP: an exact {}-tile needs {} bits, the ADC has {} ({} low bits lost at gain 1; gain {})",
                a["tile"], a["bits_for_exact_tile"], a["adc_bits"], a["low_bits_lost_at_gain_1"], a["gain"]
            );
        }
        if let Some(a) = l.get("accumulate") {
            hw = a.as_str().unwrap_or("").to_string();
        }
        if let Some(m) = l.get("multiplier") {
            hw = format!(
                "multiplier: error rate {:.1}%, mean {:+.2}, MAE {:.2}, MRED {:.2}%, worst {}; per output: bias {:+.1}, spread {:.1} (product units)",
                100.0 * m["error_rate"].as_f64().unwrap_or(0.0),
                m["mean_error"].as_f64().unwrap_or(0.0),
                m["mean_abs_error"].as_f64().unwrap_or(0.0),
                100.0 * m["mred"].as_f64().unwrap_or(0.0),
                m["worst_case_error"],
                m["output_bias"].as_f64().unwrap_or(0.0),
                m["output_spread"].as_f64().unwrap_or(0.0),
            );
        }
        out.push_str(&format!(
            "{:<12} {:<8} {:>10} {:>9} {:>7}  {hw}\n",
            l["name"].as_str().unwrap_or(""),
            l["op"].as_str().unwrap_or(""),
            l["macs"].to_string(),
            l["params"].to_string(),
            l["fan_in"].to_string()
        ));
    }
    out
}
