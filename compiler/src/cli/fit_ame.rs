//! `analogc fit-ame`: how well does the AME predict accuracy? Each multiplier
//! goes on every int8 layer; its accuracy is simulated (the evaluation of
//! `eval`) and its AME computed from one calibration (operand histograms and
//! sensitivities traced with exact multipliers); `accuracy ≈ c₂·AME² + c₁·AME
//! + c₀` is fitted by least squares and checked on each multiplier left out.
//! `docs/analysis.md` defines the AME.

use super::calibrate;
use super::eval::{open_data, INTERRUPTED};
use super::{compile, fail, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::passes;
use crate::source::FsLoader;
use analog_runtime::interp::Interpreter;
use analog_runtime::ir::hardware::Format;
use analog_runtime::ir::Graph;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct FitAmeArgs {
    /// The model file (it must have int8 layers).
    pub file: PathBuf,
    /// The multipliers, comma-separated, each written as the `multiplier`
    /// effect takes it: `exact`, `drum(4)`, `truncated(bits = 6)`, `mitchell`,
    /// `table("path.npy", layout = torchapprox)`. At least 4.
    #[arg(long, value_name = "M1,M2,...", required = true)]
    pub multipliers: String,
    /// The dataset (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Monte-Carlo trials (simulated chips) per multiplier.
    #[arg(long, default_value_t = 1)]
    pub trials: u32,
    /// Calibrate (operand histograms, sensitivities) on the first N of the samples.
    #[arg(long, default_value_t = 1000)]
    pub calibrate_limit: usize,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Splits a list at the commas outside parentheses, brackets and quotes.
pub fn split_list(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (vec![], String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// `[c₀, c₁, c₂]` of the least-squares quadratic through `(x, y)`; `None` when
/// the points do not determine one (fewer than 3 distinct x).
pub fn fit_quadratic(x: &[f64], y: &[f64]) -> Option<[f64; 3]> {
    // Centred and scaled x keeps the normal equations well conditioned.
    let n = x.len() as f64;
    let mid = x.iter().sum::<f64>() / n;
    let scale = x.iter().map(|v| (v - mid).abs()).fold(0.0, f64::max);
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    let u: Vec<f64> = x.iter().map(|v| (v - mid) / scale).collect();
    let mut a = [[0.0f64; 4]; 3];
    for (ui, yi) in u.iter().zip(y) {
        let p = [1.0, *ui, ui * ui];
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] += p[r] * p[c];
            }
            a[r][3] += p[r] * yi;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..3 {
        let pivot = (col..3).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        a.swap(col, pivot);
        if a[col][col].abs() < 1e-12 * n {
            return None;
        }
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let b: Vec<f64> = (0..3).map(|r| a[r][3] / a[r][r]).collect();
    // y = b₀ + b₁·u + b₂·u², u = (x − mid)/scale, expanded in x.
    let (s, m) = (scale, mid);
    Some([b[0] - b[1] * m / s + b[2] * m * m / (s * s), b[1] / s - 2.0 * b[2] * m / (s * s), b[2] / (s * s)])
}

pub fn eval_quadratic(c: &[f64; 3], x: f64) -> f64 {
    c[0] + c[1] * x + c[2] * x * x
}

/// Ranks from 1, ties given their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for k in i..=j {
            r[order[k]] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation: Pearson's of the ranks (`None` if one side is constant).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

/// The int8 layers of a graph, by name.
fn int8_layers(g: &Graph) -> Vec<String> {
    g.nodes.iter().filter(|n| matches!(n.hw.format, Format::Int8 { .. })).map(|n| n.name.clone()).collect()
}

/// The AME of `g` from a calibration: `√Σ_l (G_l · e_l)²` over its int8 layers.
fn ame(g: &Graph, cal: &calibrate::Calibration, names: &[String], gains: &[Option<f64>]) -> Result<f64, String> {
    let mut sum = 0.0;
    for (i, node) in g.nodes.iter().enumerate() {
        let Format::Int8 { signed, .. } = node.hw.format else { continue };
        let (Some(h), Some(gain)) = (&cal.histograms[i], gains[i]) else { continue };
        debug_assert_eq!(names[i], node.name);
        let table = calibrate::product_table(&node.hw.multiplier, signed)?;
        let w = calibrate::weighted(h, &calibrate::errors(table.as_ref(), signed));
        let k = calibrate::fan_in(g, node).unwrap_or(0);
        let (s_x, s_w) = calibrate::int8_scales(node).unwrap_or((0.0, 0.0));
        sum += (gain * calibrate::layer_error(&w, k, s_x, s_w)).powi(2);
    }
    Ok(sum.sqrt())
}

pub fn fit_ame(cli: &Cli, args: &FitAmeArgs) -> Outcome {
    let bad = |msg: String| fail(cli, Code::BadAnalysis, msg);
    if args.trials == 0 {
        return bad("`--trials 0`: each multiplier needs at least one trial".into());
    }
    if args.calibrate_limit == 0 {
        return bad("`--calibrate-limit 0`: the calibration needs at least one sample".into());
    }
    let specs = split_list(&args.multipliers);
    if let Some(k) = specs.iter().position(String::is_empty) {
        return bad(format!("`--multipliers {}`: multiplier {} is empty", args.multipliers, k + 1));
    }
    if specs.len() < 4 {
        return bad(format!(
            "`--multipliers {}`: a quadratic fit checked on each multiplier left out needs at least 4 multipliers, got {}",
            args.multipliers,
            specs.len()
        ));
    }
    let loader = FsLoader::default();
    let Some((fe, mut lowered)) = compile(cli, &args.file, &loader, &args.exec.set) else { return Outcome::UserError };
    passes::run_pipeline(&mut lowered);
    let layers = int8_layers(&lowered.graph);
    if layers.is_empty() {
        return fail(
            cli,
            Code::NoInt8,
            format!(
                "model `{}` has no int8 layer to put a multiplier on (give one `format int8(…)`, or add it with --set LAYER.format=int8(…))",
                lowered.graph.name
            ),
        );
    }
    // Every multiplier compiles before anything runs.
    let with = |m: &str| -> Vec<String> {
        let mut set = args.exec.set.clone();
        set.extend(layers.iter().map(|l| format!("{l}.multiplier={m}")));
        set
    };
    let mut graphs = vec![];
    for spec in std::iter::once("exact").chain(specs.iter().map(String::as_str)) {
        // On one layer first, so that a bad multiplier is reported once, not once per layer.
        let mut one = args.exec.set.clone();
        one.push(format!("{}.multiplier={spec}", layers[0]));
        if compile(cli, &args.file, &loader, &one).is_none() {
            return Outcome::UserError;
        }
        let Some((_, mut l)) = compile(cli, &args.file, &loader, &with(spec)) else { return Outcome::UserError };
        passes::run_pipeline(&mut l);
        graphs.push(l.graph);
    }
    let exact = graphs.remove(0);
    let (dir, data, n) = match open_data(&fe, &exact, args.data.as_deref(), &args.file, args.limit) {
        Ok(d) => d,
        Err((code, e)) => return fail(cli, code, e),
    };
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let interrupted = || fail(cli, Code::Interrupted, "interrupted".into());
    let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(specs.len() as u64 + 1);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    // One calibration, with exact multipliers: the operand distribution of the network.
    progress.set_message("calibration");
    let started = Instant::now();
    let (seed, threads) = (args.exec.seed, args.exec.threads());
    let n_cal = args.calibrate_limit.min(n);
    let quiet = exact.without_noise();
    let interp = match Interpreter::new(&quiet, |p| std::fs::read(p)) {
        Ok(i) => i,
        Err(e) => return fail(cli, Code::BadTable, e),
    };
    let Some(cal) = calibrate::calibrate(&interp, &quiet, &data, n_cal, seed, threads) else { return interrupted() };
    let rms: Vec<f64> = cal.activations.iter().map(|a| a.rms).collect();
    let Some(gains) = calibrate::sensitivities(&exact, &rms, &data, n_cal, seed, threads) else {
        return interrupted();
    };
    let calibration_seconds = started.elapsed().as_secs_f64();
    progress.inc(1);
    let names: Vec<String> = exact.nodes.iter().map(|n| n.name.clone()).collect();
    let mut rows = vec![];
    for (spec, g) in specs.iter().zip(&graphs) {
        progress.set_message(spec.clone());
        // Passes never reorder nodes, and multipliers change no node: the calibration's indices hold.
        let started = Instant::now();
        let a = match ame(g, &cal, &names, &gains) {
            Ok(a) => a,
            Err(e) => return fail(cli, Code::BadTable, e),
        };
        let prediction_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let hits = match calibrate::trial_hits(cli, g, &data, n, args.trials, seed, &args.exec) {
            Ok(h) => h,
            Err(outcome) => return outcome,
        };
        let simulation_seconds = started.elapsed().as_secs_f64();
        let accuracies: Vec<f64> = hits.iter().map(|h| *h as f64 / n as f64).collect();
        let accuracy = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        rows.push((spec.clone(), a, accuracy, accuracies, prediction_seconds, simulation_seconds));
        progress.inc(1);
    }
    progress.finish_and_clear();
    let x: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let Some(c) = fit_quadratic(&x, &y) else {
        return bad(format!(
            "the multipliers' AMEs ({}) do not determine a quadratic: at least 3 must differ",
            x.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(", ")
        ));
    };
    let left_out: Vec<Option<f64>> = (0..rows.len())
        .map(|i| {
            let (xs, ys): (Vec<f64>, Vec<f64>) =
                x.iter().zip(&y).enumerate().filter(|(j, _)| *j != i).map(|(_, (a, b))| (*a, *b)).unzip();
            fit_quadratic(&xs, &ys).map(|c| eval_quadratic(&c, x[i]))
        })
        .collect();
    let deviations: Vec<f64> = left_out.iter().zip(&y).filter_map(|(p, a)| p.map(|p| (p - a).abs())).collect();
    let mad = |d: &[f64]| if d.is_empty() { None } else { Some(d.iter().sum::<f64>() / d.len() as f64) };
    let in_sample: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (eval_quadratic(&c, *a) - b).abs()).collect();
    let (pred_total, sim_total): (f64, f64) = rows.iter().fold((0.0, 0.0), |(p, s), r| (p + r.4, s + r.5));
    // The binomial standard error of one accuracy, averaged over the multipliers.
    let evaluated = (n * args.trials as usize) as f64;
    let standard_error = y.iter().map(|a| (a * (1.0 - a) / evaluated).sqrt()).sum::<f64>() / y.len() as f64;
    let report = json!({
        "model": exact.name,
        "int8_layers": layers,
        "data": dir.display().to_string(),
        "samples": n,
        "calibration_samples": n_cal,
        "trials": args.trials,
        "seed": seed,
        "multipliers": rows.iter().zip(&left_out).map(|(r, lo)| json!({
            "multiplier": r.0,
            "ame": r.1,
            "accuracy": r.2,
            "trials": r.3,
            "fitted": eval_quadratic(&c, r.1),
            "left_out_prediction": lo,
            "left_out_deviation": lo.map(|p| (p - r.2).abs()),
            "prediction_seconds": r.4,
            "simulation_seconds": r.5,
        })).collect::<Vec<_>>(),
        "fit": {
            "c2": c[2], "c1": c[1], "c0": c[0],
            "mean_abs_deviation": mad(&in_sample),
            "left_out_mean_abs_deviation": mad(&deviations),
            "left_out_max_abs_deviation": deviations.iter().copied().fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d)))),
            "spearman": spearman(&x, &y),
        },
        "accuracy_standard_error": standard_error,
        "calibration_seconds": calibration_seconds,
        "prediction_seconds": pred_total,
        "simulation_seconds": sim_total,
        "speed_ratio": sim_total / pred_total.max(1e-9),
    });
    if args.json {
        return super::print_stdout(&format!("{report}\n"));
    }
    super::print_stdout(&text(&report))
}

fn text(r: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let pct = |v: &Value| v.as_f64().map_or("—".to_string(), |a| format!("{:.2}%", 100.0 * a));
    let pts = |v: &Value| v.as_f64().map_or("—".to_string(), |a| format!("{:.2}", 100.0 * a));
    let mut out = format!(
        "{} on {} ({} samples, {} trial{} per multiplier, seed {}); multipliers on {}\nAME from one calibration on {} samples with exact multipliers ({:.1} s)\n\n",
        r["model"].as_str().unwrap_or(""),
        r["data"].as_str().unwrap_or(""),
        r["samples"],
        r["trials"],
        if r["trials"] == 1 { "" } else { "s" },
        r["seed"],
        r["int8_layers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
        r["calibration_samples"],
        f(&r["calibration_seconds"]),
    );
    let rows = r["multipliers"].as_array().cloned().unwrap_or_default();
    let w = rows.iter().filter_map(|m| m["multiplier"].as_str()).map(str::len).max().unwrap_or(10).max(10);
    out.push_str(&format!(
        "{:<w$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
        "multiplier", "AME", "accuracy", "fitted", "left out", "|dev|", "simulated"
    ));
    for m in &rows {
        out.push_str(&format!(
            "{:<w$} {:>10.4} {:>9} {:>9} {:>9} {:>9} {:>9.1}s\n",
            m["multiplier"].as_str().unwrap_or(""),
            f(&m["ame"]),
            pct(&m["accuracy"]),
            pct(&m["fitted"]),
            pct(&m["left_out_prediction"]),
            pts(&m["left_out_deviation"]),
            f(&m["simulation_seconds"]),
        ));
    }
    let fit = &r["fit"];
    out.push_str(&format!(
        "\naccuracy ≈ {:.6e}·AME² {:+.6e}·AME {:+.6}\nmean absolute deviation: {} points in the fit, {} points on multipliers left out of it (max {})\nrank correlation of AME and accuracy (Spearman) {}; one accuracy's sampling error ±{} points (binomial s.e.)\n",
        f(&fit["c2"]),
        f(&fit["c1"]),
        f(&fit["c0"]),
        pts(&fit["mean_abs_deviation"]),
        pts(&fit["left_out_mean_abs_deviation"]),
        pts(&fit["left_out_max_abs_deviation"]),
        fit["spearman"].as_f64().map_or("—".into(), |r| format!("{r:+.2}")),
        pts(&r["accuracy_standard_error"]),
    ));
    let n = rows.len().max(1) as f64;
    out.push_str(&format!(
        "prediction {:.3} ms per multiplier, simulation {:.2} s: {:.0}× faster (plus the one calibration)\n",
        1e3 * f(&r["prediction_seconds"]) / n,
        f(&r["simulation_seconds"]) / n,
        f(&r["speed_ratio"]),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_at_top_level_commas() {
        assert_eq!(split_list("drum(4), truncated(bits = 6),mitchell"), ["drum(4)", "truncated(bits = 6)", "mitchell"]);
        assert_eq!(
            split_list(r#"table("a,b.npy", layout = torchapprox),exact"#),
            [r#"table("a,b.npy", layout = torchapprox)"#, "exact"]
        );
        assert_eq!(split_list("a,,b"), ["a", "", "b"]);
    }

    #[test]
    fn spearman_uses_mean_ranks_for_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        assert_eq!(spearman(&[0.0, 1.0, 2.0], &[0.9, 0.8, 0.1]), Some(-1.0));
        assert_eq!(spearman(&[0.0, 1.0, 2.0], &[0.5; 3]), None);
    }

    #[test]
    fn quadratic_fit_recovers_a_parabola() {
        let x = [0.0, 1.0, 2.0, 3.0, 10.0];
        let y: Vec<f64> = x.iter().map(|v| 0.98 - 0.01 * v - 0.002 * v * v).collect();
        let c = fit_quadratic(&x, &y).unwrap();
        for (got, want) in c.iter().zip([0.98, -0.01, -0.002]) {
            assert!((got - want).abs() < 1e-12, "{c:?}");
        }
        assert_eq!(fit_quadratic(&[1.0, 1.0, 2.0], &[0.0, 1.0, 2.0]), None);
        assert_eq!(fit_quadratic(&[1.0; 4], &[0.0; 4]), None);
    }
}
