//! `analogc sweep`: Walking Noise (Borras, Klein, Fröning 2022). For each noise
//! site in turn, noise of one kind on that site's output and every other noise
//! of the model off, accuracy over a grid of noise levels; or any annotation
//! swept by its `--set` path (`--sweep fc2.format.gain=1,2,4,8`).
//!
//! Every grid point is an ordinary `eval` of the model under `--set`
//! overrides, run through the same front end, passes and interpreter.
//!
//! Determinism: point `(site, value)` draws with the seed
//! `point_seed(seed, site, value_text)` = FNV-1a (64-bit) over the bytes of
//! `seed` (u64 little-endian), the site name, one 0 byte and the value as
//! written in the grid (`value_text`). It depends on nothing else, so
//! `--shard i/n` (the points `k` with `k mod n = i`, site-major order) on
//! different machines, joined by `analogc merge`, gives the same bits as one
//! unsharded run. Result files hold no timings.

use super::eval::{correct, open_data, t95, INTERRUPTED};
use super::{compile, fail, Cli, ExecArgs, Outcome};
use crate::diag::Code;
use crate::passes;
use crate::source::FsLoader;
use analog_runtime::ir::hardware::Format;
use analog_runtime::ir::{NodeKind, Op};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sites {
    /// The multiply-accumulate layers (dense, conv2d).
    Mac,
    /// Every input and every layer.
    All,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `additive(sigma = σ)`.
    Additive,
    /// `multiplicative(sigma = σ)`.
    Multiplicative,
    /// `mixed(amplitude = σ, ratio = R)`.
    Mixed,
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The model file.
    pub file: PathBuf,
    /// Which ops are noise sites: the MAC layers, or every input and layer.
    #[arg(long, value_enum, default_value_t = Sites::Mac)]
    pub sites: Sites,
    /// The noise put on the swept site.
    #[arg(long, value_enum, default_value_t = Kind::Additive)]
    pub kind: Kind,
    /// The additive share of `--kind mixed` (Walking Noise's ratio).
    #[arg(long, default_value_t = 0.5)]
    pub ratio: f64,
    /// The noise levels: `A..B:N` (N points log-spaced from A to B, both
    /// included) or a list `0.1,0.5,1`.
    #[arg(long, default_value = "1e-3..1e1:25", allow_hyphen_values = true)]
    pub sigma: String,
    /// One more site, `global`: every selected site noisy at once.
    #[arg(long)]
    pub global: bool,
    /// Sweep an annotation by its `--set` path instead of σ, e.g.
    /// `fc2.format.gain=1,2,4,8`; the model's own noise stays.
    #[arg(long, value_name = "PATH=V1,V2,...")]
    pub sweep: Option<String>,
    /// Monte-Carlo trials (simulated chips) per grid point.
    #[arg(long, default_value_t = 5)]
    pub trials: u32,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The dataset (as for `eval`). Default: the model's `data`.
    #[arg(long)]
    pub data: Option<String>,
    /// Run only the grid points k with k mod n = i (0-based), `i/n`; join the
    /// output folders with `analogc merge`.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Write sweep.csv, sweep.json, sweep.svg and sweep.png into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// What a sweep was asked to do: everything its results depend on, and
/// nothing else (no shard, no output folder, no thread count). Numbers the
/// user typed are kept as text so a merge reproduces them byte for byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub file: String,
    pub data: String,
    pub samples: usize,
    pub trials: u32,
    pub seed: u64,
    pub sites: Sites,
    pub kind: Kind,
    pub ratio: String,
    pub sigma: String,
    pub global: bool,
    pub sweep: Option<String>,
    pub set: Vec<String>,
}

/// One grid value: the number (the plot's x) and the text it is set as.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GridValue {
    pub value: f64,
    pub text: String,
}

/// The results of a sweep (or of a shard of one).
#[derive(Clone, Debug)]
pub(crate) struct Doc {
    pub model: String,
    pub classes: usize,
    pub settings: Settings,
    pub clean_hits: usize,
    pub sites: Vec<String>,
    pub grid: Vec<GridValue>,
    /// `hits[site][value]`: correct samples per trial, `None` when not run here.
    pub hits: Vec<Vec<Option<Vec<usize>>>>,
    /// `Some((i, n))` for a shard's partial result.
    pub shard: Option<(usize, usize)>,
}

/// FNV-1a, 64-bit: the documented seed of a grid point (see the module doc).
pub fn point_seed(seed: u64, site: &str, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = seed.to_le_bytes().into_iter().chain(site.bytes()).chain([0u8]).chain(value.bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Parses `--sigma`: `A..B:N` (log-spaced, endpoints exact) or `v1,v2,…`
/// (strictly increasing, ≥ 0).
pub fn parse_sigma(spec: &str) -> Result<Vec<f64>, String> {
    let spec = spec.trim();
    let num = |s: &str| -> Result<f64, String> {
        let v: f64 = s.trim().parse().map_err(|_| format!("`{}` is not a number", s.trim()))?;
        if !v.is_finite() {
            return Err(format!("`{}` is not finite", s.trim()));
        }
        Ok(v)
    };
    if let Some((range, count)) = spec.split_once(':') {
        let Some((a, b)) = range.split_once("..") else {
            return Err(format!("`{spec}`: a range is A..B:N"));
        };
        let (a, b) = (num(a)?, num(b)?);
        let n: usize =
            count.trim().parse().map_err(|_| format!("`{}` is not a whole number of points", count.trim()))?;
        if a <= 0.0 || b <= a {
            return Err(format!("`{spec}`: a log-spaced range needs 0 < A < B"));
        }
        if !(2..=10_000).contains(&n) {
            return Err(format!("`{spec}`: the number of points must be 2 to 10000"));
        }
        let (la, lb) = (a.ln(), b.ln());
        return Ok((0..n)
            .map(|k| match k {
                0 => a,
                k if k == n - 1 => b,
                k => (la + (lb - la) * k as f64 / (n - 1) as f64).exp(),
            })
            .collect());
    }
    if spec.contains("..") {
        return Err(format!("`{spec}`: a range needs a number of points, A..B:N"));
    }
    let values = spec.split(',').map(num).collect::<Result<Vec<_>, _>>()?;
    if values.iter().any(|v| *v < 0.0) {
        return Err(format!("`{spec}`: noise levels must be ≥ 0"));
    }
    if values.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!("`{spec}`: the values must be strictly increasing"));
    }
    Ok(values)
}

/// Parses `--sweep PATH=V1,V2,…`: the path and the values (each starting with
/// a number, the plot's x; a unit may follow, `0.5 lsb`).
pub(crate) fn parse_sweep(spec: &str) -> Result<(String, Vec<GridValue>), String> {
    let Some((path, values)) = spec.split_once('=') else {
        return Err(format!("`--sweep {spec}`: give PATH=V1,V2,…"));
    };
    let path = path.trim();
    if path.split('.').count() < 2 || path.split('.').any(|p| p.is_empty()) {
        return Err(format!("`{path}` is not a `--set` path (TARGET.EFFECT.PARAMETER)"));
    }
    let mut grid = vec![];
    for v in values.split(',') {
        let text = v.trim().to_string();
        let head = text.split_whitespace().next().unwrap_or("");
        let value: f64 =
            head.parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| format!("`{text}` is not a number"))?;
        grid.push(GridValue { value, text });
    }
    if grid.windows(2).any(|w| w[1].value <= w[0].value) {
        return Err(format!("`--sweep {spec}`: the values must be strictly increasing"));
    }
    Ok((path.to_string(), grid))
}

/// Parses `--shard i/n`.
pub(crate) fn parse_shard(spec: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`--shard {spec}`: give i/n with 0 ≤ i < n, e.g. 0/3");
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The grid of a sweep from its settings.
pub(crate) fn grid_of(settings: &Settings) -> Result<(String, Vec<GridValue>), String> {
    match &settings.sweep {
        Some(spec) => parse_sweep(spec),
        None => Ok((
            "sigma".into(),
            parse_sigma(&settings.sigma)?.into_iter().map(|v| GridValue { value: v, text: format!("{v}") }).collect(),
        )),
    }
}

/// The σ where a curve, falling with σ, crosses `level`: between the first
/// two grid points around it (the first at or above `level`, the next below
/// it), linear in log σ (linear in σ when the lower point is 0). `None` when
/// the curve never crosses.
pub fn midpoint(values: &[f64], means: &[f64], level: f64) -> Option<f64> {
    for k in 0..values.len().saturating_sub(1) {
        let (m0, m1) = (means[k], means[k + 1]);
        if m0 >= level && m1 < level {
            let t = (m0 - level) / (m0 - m1);
            let (v0, v1) = (values[k], values[k + 1]);
            return Some(if v0 > 0.0 && v1 > 0.0 {
                (v0.ln() + t * (v1.ln() - v0.ln())).exp()
            } else {
                v0 + t * (v1 - v0)
            });
        }
    }
    None
}

/// Mean, standard deviation, 95% confidence interval (lo, hi).
type Stats = (f64, f64, f64, f64);

/// Mean, standard deviation and 95% confidence interval over trials, as `eval`.
fn stats(acc: &[f64]) -> Stats {
    let k = acc.len() as f64;
    let mean = acc.iter().sum::<f64>() / k;
    let std =
        if acc.len() > 1 { (acc.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt() } else { 0.0 };
    let half = if acc.len() > 1 { t95(acc.len() as u32 - 1) * std / k.sqrt() } else { 0.0 };
    (mean, std, mean - half, mean + half)
}

impl Doc {
    fn n(&self) -> f64 {
        self.settings.samples as f64
    }
    pub fn clean(&self) -> f64 {
        self.clean_hits as f64 / self.n()
    }
    pub fn chance(&self) -> f64 {
        1.0 / self.classes as f64
    }
    pub fn level(&self) -> f64 {
        (self.clean() + self.chance()) / 2.0
    }
    fn axis(&self) -> String {
        self.settings.sweep.as_deref().and_then(|s| s.split_once('=')).map_or("sigma".into(), |(p, _)| p.trim().into())
    }
    fn point_stats(&self, s: usize, v: usize) -> Option<(Vec<f64>, Stats)> {
        let hits = self.hits[s][v].as_ref()?;
        let acc: Vec<f64> = hits.iter().map(|h| *h as f64 / self.n()).collect();
        let st = stats(&acc);
        Some((acc, st))
    }
    /// Midpoint per site; `None` for a site not complete here or never crossing.
    pub fn midpoints(&self) -> Vec<Option<f64>> {
        (0..self.sites.len())
            .map(|s| {
                let means: Option<Vec<f64>> =
                    (0..self.grid.len()).map(|v| self.point_stats(s, v).map(|(_, st)| st.0)).collect();
                let values: Vec<f64> = self.grid.iter().map(|g| g.value).collect();
                midpoint(&values, &means?, self.level())
            })
            .collect()
    }

    pub fn to_json(&self) -> Value {
        let mut points = vec![];
        for (s, site) in self.sites.iter().enumerate() {
            for (v, g) in self.grid.iter().enumerate() {
                let Some((acc, (mean, std, lo, hi))) = self.point_stats(s, v) else { continue };
                points.push(json!({
                    "site": site,
                    "value": g.value,
                    "value_text": g.text,
                    "seed": point_seed(self.settings.seed, site, &g.text),
                    "hits": self.hits[s][v],
                    "trials": acc,
                    "accuracy": { "mean": mean, "std": std, "ci95": [lo, hi] },
                }));
            }
        }
        let mut obj = json!({
            "model": self.model,
            "classes": self.classes,
            "settings": self.settings,
            "axis": self.axis(),
            "grid": self.grid.iter().map(|g| g.value).collect::<Vec<_>>(),
            "sites": self.sites,
            "clean_hits": self.clean_hits,
            "clean_accuracy": self.clean(),
            "chance": self.chance(),
            "midpoint_level": self.level(),
            "points": points,
        });
        if let Some((i, n)) = self.shard {
            obj["shard"] = json!({ "index": i, "count": n });
        } else {
            let mids: serde_json::Map<String, Value> =
                self.sites.iter().zip(self.midpoints()).map(|(s, m)| (s.clone(), json!(m))).collect();
            obj["midpoints"] = Value::Object(mids);
        }
        obj
    }

    /// Rebuilds a document from a `sweep.json` (a shard's or a whole run's).
    pub fn from_json(v: &Value) -> Result<Doc, String> {
        let get = |k: &str| v.get(k).ok_or_else(|| format!("no `{k}`"));
        let settings: Settings = serde_json::from_value(get("settings")?.clone()).map_err(|e| e.to_string())?;
        let (_, grid) = grid_of(&settings)?;
        let sites: Vec<String> = serde_json::from_value(get("sites")?.clone()).map_err(|e| e.to_string())?;
        let mut hits = vec![vec![None; grid.len()]; sites.len()];
        for p in get("points")?.as_array().ok_or("`points` is not a list")? {
            let site = p.get("site").and_then(Value::as_str).ok_or("a point without `site`")?;
            let text = p.get("value_text").and_then(Value::as_str).ok_or("a point without `value_text`")?;
            let s = sites.iter().position(|x| x == site).ok_or_else(|| format!("unknown site `{site}`"))?;
            let k = grid.iter().position(|g| g.text == text).ok_or_else(|| format!("unknown value `{text}`"))?;
            let h: Vec<usize> =
                serde_json::from_value(p.get("hits").cloned().unwrap_or(Value::Null)).map_err(|e| e.to_string())?;
            hits[s][k] = Some(h);
        }
        let shard = v.get("shard").map(|s| {
            (
                s.get("index").and_then(Value::as_u64).unwrap_or(0) as usize,
                s.get("count").and_then(Value::as_u64).unwrap_or(1) as usize,
            )
        });
        Ok(Doc {
            model: get("model")?.as_str().ok_or("`model` is not text")?.into(),
            classes: get("classes")?.as_u64().ok_or("`classes` is not a number")? as usize,
            settings,
            clean_hits: get("clean_hits")?.as_u64().ok_or("`clean_hits` is not a number")? as usize,
            sites,
            grid,
            hits,
            shard,
        })
    }

    pub fn csv(&self) -> String {
        let mut out = String::from("site,value,mean,std,ci95_lo,ci95_hi,trials\n");
        for (s, site) in self.sites.iter().enumerate() {
            for (v, g) in self.grid.iter().enumerate() {
                let Some((acc, (mean, std, lo, hi))) = self.point_stats(s, v) else { continue };
                let value = if g.text.contains([' ', ',', '"']) { format!("\"{}\"", g.text) } else { g.text.clone() };
                out.push_str(&format!(
                    "{site},{value},{:.4},{:.4},{:.4},{:.4},{}\n",
                    100.0 * mean,
                    100.0 * std,
                    100.0 * lo,
                    100.0 * hi,
                    acc.len()
                ));
            }
        }
        out
    }

    pub fn table(&self) -> String {
        let st = &self.settings;
        let pct = |a: f64| format!("{:.2}%", 100.0 * a);
        let axis = self.axis();
        let mut out = format!(
            "{} on {} ({} samples), {} trials per point, seed {}\n  clean accuracy {}, chance {}, midpoint level {}\n\n",
            self.model,
            st.data,
            st.samples,
            st.trials,
            st.seed,
            pct(self.clean()),
            pct(self.chance()),
            pct(self.level())
        );
        let w = self.sites.iter().map(String::len).max().unwrap_or(4).max(4);
        // σ to four digits (the files keep every digit); `--sweep` values as typed.
        let shown = |g: &GridValue| if self.settings.sweep.is_some() { g.text.clone() } else { fmt_num(g.value) };
        let vw = self.grid.iter().map(|g| shown(g).len()).max().unwrap_or(5).max(axis.len()).max(5);
        out.push_str(&format!(
            "{:<w$}  {:>vw$}  {:>8}  {:>7}  {:>8}  {:>8}\n",
            "site", axis, "mean", "std", "ci95 lo", "ci95 hi"
        ));
        for (s, site) in self.sites.iter().enumerate() {
            for (v, g) in self.grid.iter().enumerate() {
                let Some((_, (mean, std, lo, hi))) = self.point_stats(s, v) else { continue };
                out.push_str(&format!(
                    "{site:<w$}  {:>vw$}  {:>8}  {:>7}  {:>8}  {:>8}\n",
                    shown(g),
                    pct(mean),
                    pct(std),
                    pct(lo),
                    pct(hi)
                ));
            }
        }
        if self.shard.is_none() {
            out.push_str(&format!("\nmidpoints ({axis} where the mean accuracy is {}):\n", pct(self.level())));
            for (site, m) in self.sites.iter().zip(self.midpoints()) {
                match m {
                    Some(m) => out.push_str(&format!("  {site:<w$}  {}\n", fmt_num(m))),
                    None => out.push_str(&format!("  {site:<w$}  none (the curve does not cross it on this grid)\n")),
                }
            }
        }
        out
    }
}

/// A number to four significant digits, in exponent form outside [1e-3, 1e4).
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("{v}");
    }
    if (1e-3..1e4).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let r = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Writes sweep.csv and sweep.json (and for a whole sweep the plots) into `dir`.
pub(crate) fn write_outputs(cli: &Cli, doc: &Doc, dir: &Path) -> Outcome {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(cli, Code::OutputUnwritable, format!("cannot create `{}`: {e}", dir.display()));
    }
    let json = format!("{}\n", serde_json::to_string_pretty(&doc.to_json()).unwrap_or_default());
    let mut files: Vec<(&str, Vec<u8>)> =
        vec![("sweep.csv", doc.csv().into_bytes()), ("sweep.json", json.into_bytes())];
    if doc.shard.is_none() {
        match super::merge::plot_svg(doc) {
            Ok(svg) => files.push(("sweep.svg", svg.into_bytes())),
            Err(e) => return fail(cli, Code::OutputUnwritable, format!("cannot draw the plot: {e}")),
        }
    }
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Err(e) = write_atomic(&path, &bytes) {
            return fail(cli, Code::OutputUnwritable, format!("cannot write `{}`: {e}", path.display()));
        }
    }
    if doc.shard.is_none() {
        let path = dir.join("sweep.png");
        if let Err(e) = super::merge::plot_png(doc, &path) {
            return fail(cli, Code::OutputUnwritable, format!("cannot write `{}`: {e}", path.display()));
        }
    }
    Outcome::Ok
}

/// Prints the table (or the JSON) and writes the files.
pub(crate) fn finish(cli: &Cli, doc: &Doc, out: Option<&Path>, json: bool, seconds: Option<f64>) -> Outcome {
    if let Some(dir) = out {
        let o = write_outputs(cli, doc, dir);
        if o != Outcome::Ok {
            return o;
        }
    }
    if json {
        let mut obj = doc.to_json();
        if let Some(s) = seconds {
            obj["seconds"] = json!(s);
        }
        return super::print_stdout(&format!("{obj}\n"));
    }
    let mut text = doc.table();
    if let Some(s) = seconds {
        text.push_str(&format!("  {s:.1} s\n"));
    }
    super::print_stdout(&text)
}

fn noise_design(kind: Kind, sigma: &str, ratio: &str) -> String {
    match kind {
        Kind::Additive => format!("additive(sigma = {sigma})"),
        Kind::Multiplicative => format!("multiplicative(sigma = {sigma})"),
        Kind::Mixed => format!("mixed(amplitude = {sigma}, ratio = {ratio})"),
    }
}

pub fn sweep(cli: &Cli, args: &SweepArgs) -> Outcome {
    let started = Instant::now();
    let bad = |msg: String| fail(cli, Code::BadSweep, msg);
    if !(0.0..=1.0).contains(&args.ratio) {
        return bad(format!("`--ratio {}`: the ratio must be in [0, 1]", args.ratio));
    }
    if args.trials == 0 {
        return bad("`--trials 0`: a sweep needs at least one trial per point".into());
    }
    let shard = match args.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    if args.sweep.is_some() && args.global {
        return bad("`--global` walks noise sites; it does not go with `--sweep`".into());
    }
    let loader = FsLoader::default();
    let Some((fe, mut lowered)) = compile(cli, &args.file, &loader, &args.exec.set) else { return Outcome::UserError };
    let (dir, data, n) = match open_data(&fe, &lowered.graph, args.data.as_deref(), &args.file, args.limit) {
        Ok(d) => d,
        Err((code, e)) => return fail(cli, code, e),
    };
    let settings = Settings {
        file: args.file.display().to_string(),
        data: dir.display().to_string(),
        samples: n,
        trials: args.trials,
        seed: args.exec.seed,
        sites: args.sites,
        kind: args.kind,
        ratio: format!("{}", args.ratio),
        sigma: args.sigma.clone(),
        global: args.global,
        sweep: args.sweep.clone(),
        set: args.exec.set.clone(),
    };
    let (axis, grid) = match grid_of(&settings) {
        Ok(g) => g,
        Err(e) if args.sweep.is_none() => {
            return bad(format!("`--sigma {}`: {e}", args.sigma));
        }
        Err(e) => return bad(e),
    };
    // The noise sites and every target whose noise the walk switches off.
    let graph = &lowered.graph;
    let mut targets: Vec<String> = vec![];
    let mut selected: Vec<String> = vec![];
    let mut adc: Vec<String> = vec![];
    for node in &graph.nodes {
        targets.push(node.name.clone());
        let selectable = match &node.kind {
            NodeKind::Input { .. } => args.sites == Sites::All,
            NodeKind::Op { op: Op::Dense { .. } | Op::Conv2d { .. }, .. } => true,
            NodeKind::Op { op: Op::Denoise { .. }, .. } => false,
            NodeKind::Op { .. } => args.sites == Sites::All,
        };
        if selectable {
            selected.push(node.name.clone());
        }
        if let Format::Abfp { adc_noise, .. } | Format::AnalogInt { adc_noise, .. } = &node.hw.format {
            if *adc_noise != 0.0 {
                adc.push(node.name.clone());
            }
        }
    }
    let mut sites: Vec<String> = match &args.sweep {
        Some(_) => vec![axis.clone()],
        None => selected.clone(),
    };
    if args.global {
        sites.push("global".into());
    }
    if sites.is_empty() {
        return bad("the model has no noise site of the kind selected (try `--sites all`)".into());
    }
    // The `--set` overrides of a point.
    let overrides = |site: &str, g: &GridValue| -> Vec<String> {
        let mut set = args.exec.set.clone();
        if args.sweep.is_some() {
            set.push(format!("{axis}={}", g.text));
            return set;
        }
        let design = noise_design(args.kind, &g.text, &settings.ratio);
        for t in &targets {
            let on = t == site || (site == "global" && selected.contains(t));
            set.push(if on { format!("{t}.noise={design}") } else { format!("{t}.noise=none") });
            set.push(format!("{t}.weight_noise=none"));
        }
        for t in &adc {
            set.push(format!("{t}.format.adc_noise=0"));
        }
        set
    };
    // The points of this run, site-major.
    let all: Vec<(usize, usize)> = (0..sites.len()).flat_map(|s| (0..grid.len()).map(move |v| (s, v))).collect();
    let mine: Vec<(usize, usize)> = match shard {
        Some((i, k)) => all.iter().enumerate().filter(|(j, _)| j % k == i).map(|(_, p)| *p).collect(),
        None => all.clone(),
    };
    let threads = args.exec.threads();
    let batch = 64;
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new((n + mine.len() * args.trials as usize * n) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} samples, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let interrupted = |what: String| {
        progress.abandon();
        fail(cli, Code::Interrupted, format!("interrupted {what}"))
    };
    // Clean: the model with every noise off.
    let classes: usize = lowered.graph.node(lowered.graph.outputs[0].1).shape.iter().product();
    let model = lowered.graph.name.clone();
    passes::run_pipeline(&mut lowered);
    let clean_graph = lowered.graph.without_noise();
    let clean = match args.exec.engine(cli, &clean_graph) {
        Ok(i) => i,
        Err(o) => return o,
    };
    progress.set_message("clean");
    let Some(clean_hits) = correct(&clean, &clean.chip(args.exec.seed, 0), &data, n, threads, batch, &progress) else {
        return interrupted("before the clean pass finished".into());
    };
    let mut hits = vec![vec![None; grid.len()]; sites.len()];
    for (done, &(s, v)) in mine.iter().enumerate() {
        let (site, g) = (&sites[s], &grid[v]);
        let Some((_, mut point)) = compile(cli, &args.file, &loader, &overrides(site, g)) else {
            progress.abandon();
            return Outcome::UserError;
        };
        passes::run_pipeline(&mut point);
        let engine = match args.exec.engine(cli, &point.graph) {
            Ok(e) => e,
            Err(o) => {
                progress.abandon();
                return o;
            }
        };
        let seed = point_seed(args.exec.seed, site, &g.text);
        let mut h = vec![];
        for t in 0..args.trials {
            progress.set_message(format!("{site} {axis}={}", g.text));
            let chip = engine.chip(seed, t);
            let Some(k) = correct(&engine, &chip, &data, n, threads, batch, &progress) else {
                return interrupted(format!("after {done} of {} grid points", mine.len()));
            };
            h.push(k);
        }
        hits[s][v] = Some(h);
    }
    progress.finish_and_clear();
    let doc = Doc { model, classes, settings, clean_hits, sites, grid, hits, shard };
    finish(cli, &doc, args.out.as_deref(), args.json, Some(started.elapsed().as_secs_f64()))
}
