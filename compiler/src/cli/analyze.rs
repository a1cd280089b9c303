//! `analogc analyze`: a report per layer — cost, and what the hardware does to
//! each multiply-accumulate layer; with `--calibrate`, also what the layers see
//! on data (activation ranges, ADC clipping, data-weighted multiplier errors,
//! the AME) and where a denoise block would help. `docs/analysis.md` defines
//! every figure.

use super::calibrate;
use super::eval::open_data;
use super::{compile, fail, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::passes;
use crate::source::FsLoader;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::{Accumulate, Format};
use analog_runtime::ir::{Graph, Node, NodeKind};
use analog_runtime::multiplier::{self, ErrorStats};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// The model file.
    pub file: PathBuf,
    /// Calibrate on data: run the model with every noise off on DATA (a
    /// folder or a name, as `eval --data`; default: the model's own `data`)
    /// and report activation ranges, ADC clipping, data-weighted multiplier
    /// errors, the AME and a denoiser placement.
    #[arg(long, value_name = "DATA", num_args = 0..=1, default_missing_value = "")]
    pub calibrate: Option<String>,
    /// Calibrate on the first N samples only.
    #[arg(long, requires = "calibrate")]
    pub limit: Option<usize>,
    /// Simulated chips over which the gain of a denoise block is measured.
    #[arg(long, default_value_t = 1, requires = "calibrate")]
    pub trials: u32,
    /// Rank layers for denoise blocks by the Walking-Noise midpoints of this
    /// `analogc sweep --out` folder instead of the calibrated sensitivity.
    #[arg(long, value_name = "DIR", requires = "calibrate")]
    pub sweep_dir: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Multiply-accumulates per sample, and the reduction length (fan-in) of each output.
fn macs(g: &Graph, node: &Node) -> Option<(usize, usize)> {
    let fan_in = calibrate::fan_in(g, node)?;
    Some((node.shape.iter().product::<usize>() * fan_in, fan_in))
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
    let Some((fe, mut lowered)) = compile(cli, &args.file, &loader, &args.exec.set) else { return Outcome::UserError };
    passes::run_pipeline(&mut lowered);
    let g = &lowered.graph;
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
            // Tables were checked by the front end; this only reads them again.
            Format::Int8 { signed, .. } => match calibrate::product_table(&node.hw.multiplier, *signed) {
                Ok(Some(t)) => layer["multiplier"] = stats_json(&multiplier::error_stats(&t), fan_in),
                Ok(None) => {}
                Err(e) => return fail(cli, Code::BadTable, e),
            },
            _ => {}
        }
        layers.push(layer);
    }
    let mut report = json!({ "model": g.name, "macs": total_macs, "params": total_params, "layers": layers });
    if let Some(data_arg) = &args.calibrate {
        if args.trials == 0 {
            return fail(cli, Code::BadAnalysis, "`--trials 0`: the denoise gain needs at least one trial".into());
        }
        let data_arg = Some(data_arg.as_str()).filter(|d| !d.is_empty());
        let (dir, data, n) = match open_data(&fe, g, data_arg, &args.file, args.limit) {
            Ok(d) => d,
            Err((code, e)) => return fail(cli, code, e),
        };
        let midpoints = match &args.sweep_dir {
            Some(d) => match super::merge::read_doc(d) {
                Ok(doc) if doc.shard.is_some() => {
                    return fail(
                        cli,
                        Code::BadAnalysis,
                        format!("`{}` holds one shard of a sweep: merge the shards first", d.display()),
                    )
                }
                Ok(doc) if doc.model != g.name => {
                    return fail(
                        cli,
                        Code::BadAnalysis,
                        format!("`{}` is a sweep of model `{}`, not of `{}`", d.display(), doc.model, g.name),
                    )
                }
                Ok(doc) => Some(doc.sites.iter().cloned().zip(doc.midpoints()).collect::<Vec<_>>()),
                Err(e) => return fail(cli, Code::BadAnalysis, e),
            },
            None => None,
        };
        let _ = ctrlc::set_handler(|| super::eval::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed));
        if let Err(outcome) = calibrated(cli, &mut report, g, &data, n, args, midpoints.as_deref()) {
            return outcome;
        }
        report["calibration"]["data"] = json!(dir.display().to_string());
    }
    if args.json {
        return super::print_stdout(&format!("{report}\n"));
    }
    super::print_stdout(&table_text(&report))
}

/// Adds the calibrated figures to `report`, or reports why it cannot.
fn calibrated(
    cli: &Cli,
    report: &mut Value,
    g: &Graph,
    data: &analog_runtime::dataset::Dataset,
    n: usize,
    args: &AnalyzeArgs,
    midpoints: Option<&[(String, Option<f64>)]>,
) -> Result<(), Outcome> {
    let started = Instant::now();
    let (seed, threads) = (args.exec.seed, args.exec.threads());
    let table_error = |e: String| fail(cli, Code::BadTable, e);
    let interrupted = || fail(cli, Code::Interrupted, "interrupted during calibration".into());
    let quiet = g.without_noise();
    let interp = Interpreter::new(&quiet, |p| std::fs::read(p)).map_err(table_error)?;
    let cal = calibrate::calibrate(&interp, &quiet, data, n, seed, threads).ok_or_else(interrupted)?;
    let rms: Vec<f64> = cal.activations.iter().map(|a| a.rms).collect();
    let sens = calibrate::sensitivities(g, &rms, data, n, seed, threads).ok_or_else(interrupted)?;
    let output = &g.outputs[0].0;
    report["calibration"] = json!({
        "samples": n,
        "seed": seed,
        "output": output,
        "activations": g.nodes.iter().zip(&cal.activations).map(|(node, a)| json!({
            "name": node.name, "shape": node.shape, "min": a.min, "max": a.max,
            "mean_abs": a.mean_abs, "rms": a.rms, "p99_9_abs": a.p999,
        })).collect::<Vec<_>>(),
    });
    // Per MAC layer, in report order.
    let mac_nodes: Vec<usize> = (0..g.nodes.len()).filter(|i| calibrate::fan_in(g, &g.nodes[*i]).is_some()).collect();
    let mut ame2 = None::<f64>;
    for (row, &i) in mac_nodes.iter().enumerate() {
        let node = &g.nodes[i];
        let layer = &mut report["layers"][row];
        layer["sensitivity"] = json!(sens[i]);
        if node.hw.format.has_adc() && matches!(node.hw.format, Format::Abfp { .. }) {
            let [conversions, clipped] = cal.adc[i];
            layer["abfp"]["clipping"] = json!({
                "conversions": conversions,
                "clipped": clipped,
                "rate": clipped as f64 / conversions.max(1) as f64,
            });
        }
        if let (Format::Int8 { signed, .. }, Some(h)) = (&node.hw.format, &cal.histograms[i]) {
            let table = calibrate::product_table(&node.hw.multiplier, *signed).map_err(table_error)?;
            let w = calibrate::weighted(h, &calibrate::errors(table.as_ref(), *signed));
            let k = calibrate::fan_in(g, node).unwrap_or(0);
            let (s_x, s_w) = calibrate::int8_scales(node).unwrap_or((0.0, 0.0));
            let error = calibrate::layer_error(&w, k, s_x, s_w);
            let at_output = sens[i].map(|s| s * error);
            if let Some(e) = at_output {
                *ame2.get_or_insert(0.0) += e * e;
            }
            let d = json!({
                "pairs": w.pairs,
                "mean_error": w.mean,
                "error_std": w.std,
                "output_bias": k as f64 * w.mean,
                "output_spread": (k as f64).sqrt() * w.std,
                "s_x": s_x,
                "s_w": s_w,
                "output_error": error,
                "error_at_output": at_output,
            });
            match layer.get_mut("multiplier") {
                Some(m) => m["data_weighted"] = d,
                None => layer["multiplier"] = json!({ "exact": true, "data_weighted": d }),
            }
        }
    }
    report["ame"] = json!(ame2.map(f64::sqrt));
    // Denoiser placement: rank, then measure the gain where there is noise to remove.
    let mut ranking: Vec<(usize, Option<f64>, Option<f64>)> = mac_nodes
        .iter()
        .map(|&i| {
            let mid = midpoints.and_then(|m| m.iter().find(|(s, _)| *s == g.nodes[i].name)).and_then(|(_, m)| *m);
            (i, sens[i], mid)
        })
        .collect();
    match midpoints {
        // Smaller midpoint first; no midpoint (never crossed) last.
        Some(_) => ranking.sort_by(|a, b| a.2.unwrap_or(f64::INFINITY).total_cmp(&b.2.unwrap_or(f64::INFINITY))),
        None => ranking.sort_by(|a, b| b.1.unwrap_or(0.0).total_cmp(&a.1.unwrap_or(0.0))),
    }
    let noisy: Vec<usize> = mac_nodes.iter().copied().filter(|&i| calibrate::adds_noise(&g.nodes[i])).collect();
    let mut baseline = None;
    let mut gains = vec![None; g.nodes.len()];
    if !noisy.is_empty() {
        let base = calibrate::trial_hits(cli, g, data, n, args.trials, seed, &args.exec)?;
        let total: usize = base.iter().sum();
        baseline = Some(total as f64 / (n * base.len()) as f64);
        for &i in &noisy {
            let quieter = calibrate::without_noise_at(g, i);
            let h = calibrate::trial_hits(cli, &quieter, data, n, args.trials, seed, &args.exec)?;
            gains[i] = Some((h.iter().sum::<usize>() as f64 - total as f64) / (n * h.len()) as f64);
        }
    }
    report["denoise"] = json!({
        "ranked_by": if midpoints.is_some() { "midpoint" } else { "sensitivity" },
        "trials": args.trials,
        "accuracy": baseline,
        "ranking": ranking.iter().map(|&(i, s, m)| json!({
            "layer": g.nodes[i].name,
            "sensitivity": s,
            "midpoint": m,
            "adds_noise": calibrate::adds_noise(&g.nodes[i]),
            "gain": gains[i],
        })).collect::<Vec<_>>(),
    });
    report["calibration"]["seconds"] = json!(started.elapsed().as_secs_f64());
    Ok(())
}

fn op_name(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Op { op, .. } => op.name(),
        NodeKind::Input { .. } => "input",
    }
}

/// A number in a short, readable form (4 significant digits).
fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(0.0) => "0".into(),
        Some(x) if x.abs() >= 1e5 || x.abs() < 1e-3 => format!("{x:.3e}"),
        Some(x) => {
            let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
            format!("{x:.digits$}")
        }
        None => "—".into(),
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
    let layers = r["layers"].as_array().cloned().unwrap_or_default();
    for l in &layers {
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
        if let Some(m) = l.get("multiplier").filter(|m| m.get("error_rate").is_some()) {
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
    let Some(c) = r.get("calibration") else { return out };
    let output = c["output"].as_str().unwrap_or("");
    out.push_str(&format!(
        "\ncalibrated on {} ({} samples, every noise off, seed {})\n\n",
        c["data"].as_str().unwrap_or(""),
        c["samples"],
        c["seed"]
    ));
    out.push_str(&format!(
        "{:<12} {:<14} {:>10} {:>10} {:>10} {:>10}\n",
        "activations", "shape", "min", "max", "mean |x|", "p99.9 |x|"
    ));
    for a in c["activations"].as_array().into_iter().flatten() {
        let shape: Vec<String> = a["shape"].as_array().into_iter().flatten().map(|d| d.to_string()).collect::<Vec<_>>();
        out.push_str(&format!(
            "{:<12} {:<14} {:>10} {:>10} {:>10} {:>10}\n",
            a["name"].as_str().unwrap_or(""),
            format!("[{}]", shape.join(", ")),
            num(&a["min"]),
            num(&a["max"]),
            num(&a["mean_abs"]),
            num(&a["p99_9_abs"])
        ));
    }
    let clipping: Vec<&Value> = layers.iter().filter(|l| l["abfp"].get("clipping").is_some()).collect();
    if !clipping.is_empty() {
        out.push_str("\nABFP clipping: ADC conversions with |v| > 1 at the configured gain\n");
        for l in clipping {
            let c = &l["abfp"]["clipping"];
            out.push_str(&format!(
                "{:<12} {:.3}% of {} conversions (gain {})\n",
                l["name"].as_str().unwrap_or(""),
                100.0 * c["rate"].as_f64().unwrap_or(0.0),
                c["conversions"],
                l["abfp"]["gain"]
            ));
        }
    }
    let weighted: Vec<&Value> = layers.iter().filter(|l| l["multiplier"].get("data_weighted").is_some()).collect();
    if !weighted.is_empty() {
        out.push_str(&format!(
            "\nmultipliers on the calibration data (E in product units; errors in output units)\n{:<12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}\n",
            "layer", "μ_d", "σ_d", "K·μ_d", "√K·σ_d", "s_x·s_w", "layer error", "at output"
        ));
        for l in weighted {
            let d = &l["multiplier"]["data_weighted"];
            out.push_str(&format!(
                "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}\n",
                l["name"].as_str().unwrap_or(""),
                num(&d["mean_error"]),
                num(&d["error_std"]),
                num(&d["output_bias"]),
                num(&d["output_spread"]),
                num(&json!(d["s_x"].as_f64().unwrap_or(0.0) * d["s_w"].as_f64().unwrap_or(0.0))),
                num(&d["output_error"]),
                num(&d["error_at_output"]),
            ));
        }
        out.push_str(&format!("AME {} (RMS error of `{output}` from the multipliers, in its units)\n", num(&r["ame"])));
    }
    let d = &r["denoise"];
    let by_midpoint = d["ranked_by"] == "midpoint";
    out.push_str(&format!(
        "\ndenoiser placement: MAC layers by {}\n",
        if by_midpoint {
            "Walking-Noise midpoint (smallest first)".to_string()
        } else {
            format!("sensitivity (RMS change of `{output}` per unit of noise on the layer's output, ideal network)")
        }
    ));
    out.push_str(&format!(
        "{:<5} {:<12} {:>11} {:>10}  gain of a denoise block (noise of the layer removed)\n",
        "rank", "layer", "sensitivity", "midpoint"
    ));
    for (k, e) in d["ranking"].as_array().into_iter().flatten().enumerate() {
        let gain = match e["gain"].as_f64() {
            Some(gain) => format!(
                "{:+.2} points ({:.2}% → {:.2}%)",
                100.0 * gain,
                100.0 * d["accuracy"].as_f64().unwrap_or(0.0),
                100.0 * (d["accuracy"].as_f64().unwrap_or(0.0) + gain)
            ),
            None => "— (the layer adds no noise)".into(),
        };
        out.push_str(&format!(
            "{:<5} {:<12} {:>11} {:>10}  {gain}\n",
            k + 1,
            e["layer"].as_str().unwrap_or(""),
            num(&e["sensitivity"]),
            num(&e["midpoint"]),
        ));
    }
    if d["accuracy"].is_number() {
        out.push_str(&format!(
            "(accuracy on the {} calibration samples, {} trial{}, seed {})\n",
            c["samples"],
            d["trials"],
            if d["trials"] == 1 { "" } else { "s" },
            c["seed"]
        ));
    }
    out
}
