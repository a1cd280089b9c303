//! The result of a sweep (or of one shard of it): what was asked, the
//! correct-sample counts of every grid point, and what follows from them
//! (accuracies, midpoints). Its files: `sweep.json` (which [`SweepResult::from_json`]
//! reads back for `merge`), `sweep.csv`, and the table `sweep` prints.

use super::grid::{fmt_num, grid_of, midpoint, point_seed, GridValue};
use crate::evaluate::Spread;
use crate::json::to_sorted_json;
use crate::words::count;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which ops are noise sites.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sites {
    /// The multiply-accumulate layers (dense, conv1d, conv2d).
    Mac,
    /// Every input and every layer.
    All,
}

/// The noise put on a swept site.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `additive(sigma = σ)`.
    Additive,
    /// `multiplicative(sigma = σ)`.
    Multiplicative,
    /// `mixed(amplitude = σ, ratio = R)`.
    Mixed,
}

/// What a sweep was asked to do: everything its results depend on, and
/// nothing else (no shard, no output folder, no thread count). Numbers the
/// user typed are kept as text so a merge reproduces them byte for byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
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

impl Settings {
    /// The axis name and the grid these settings describe.
    pub fn grid(&self) -> Result<(String, Vec<GridValue>), String> {
        grid_of(self.sweep.as_deref(), &self.sigma)
    }

    /// The swept `--set` path, or `sigma`.
    pub fn axis(&self) -> String {
        self.sweep.as_deref().and_then(|s| s.split_once('=')).map_or("sigma".into(), |(p, _)| p.trim().into())
    }
}

/// The results of a sweep (or of a shard of one).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResult {
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

/// One grid point of `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub site: String,
    pub value: f64,
    pub value_text: String,
    pub seed: u64,
    pub hits: Vec<usize>,
    /// Accuracy per trial.
    pub trials: Vec<f64>,
    pub accuracy: Spread,
}

#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// `sweep.json`: the result as written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepFile {
    pub model: String,
    pub classes: usize,
    pub settings: Settings,
    pub axis: String,
    pub grid: Vec<f64>,
    pub sites: Vec<String>,
    pub clean_hits: usize,
    pub clean_accuracy: f64,
    pub chance: f64,
    pub midpoint_level: f64,
    pub points: Vec<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Per site, for a whole sweep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub midpoints: Option<BTreeMap<String, Option<f64>>>,
    /// Wall time, in `--json` output only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// What `merge` reads back from a `sweep.json`: the counts and what they were
/// counted for (everything else follows from them).
#[derive(Clone, Debug, Deserialize)]
pub struct Stored {
    pub model: String,
    pub classes: usize,
    pub settings: Settings,
    pub sites: Vec<String>,
    pub clean_hits: usize,
    pub points: Vec<StoredPoint>,
    #[serde(default)]
    pub shard: Option<Shard>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct StoredPoint {
    pub site: String,
    pub value_text: String,
    pub hits: Vec<usize>,
}

impl SweepResult {
    fn n(&self) -> f64 {
        self.settings.samples as f64
    }
    pub fn clean(&self) -> f64 {
        self.clean_hits as f64 / self.n()
    }
    pub fn chance(&self) -> f64 {
        1.0 / self.classes as f64
    }
    /// Halfway between clean and chance: where midpoints are read.
    pub fn level(&self) -> f64 {
        (self.clean() + self.chance()) / 2.0
    }
    pub fn axis(&self) -> String {
        self.settings.axis()
    }

    /// Accuracy per trial of a point and their spread; `None` when not run here.
    pub fn point(&self, s: usize, v: usize) -> Option<(Vec<f64>, Spread)> {
        let hits = self.hits[s][v].as_ref()?;
        let acc: Vec<f64> = hits.iter().map(|h| *h as f64 / self.n()).collect();
        let spread = Spread::of(&acc);
        Some((acc, spread))
    }

    /// Midpoint per site; `None` for a site not complete here or never crossing.
    pub fn midpoints(&self) -> Vec<Option<f64>> {
        (0..self.sites.len())
            .map(|s| {
                let means: Option<Vec<f64>> =
                    (0..self.grid.len()).map(|v| self.point(s, v).map(|(_, st)| st.mean)).collect();
                let values: Vec<f64> = self.grid.iter().map(|g| g.value).collect();
                midpoint(&values, &means?, self.level())
            })
            .collect()
    }

    /// The result as `sweep.json` holds it.
    pub fn to_file(&self) -> SweepFile {
        let mut points = vec![];
        for (s, site) in self.sites.iter().enumerate() {
            for (v, g) in self.grid.iter().enumerate() {
                let Some((acc, spread)) = self.point(s, v) else { continue };
                points.push(Point {
                    site: site.clone(),
                    value: g.value,
                    value_text: g.text.clone(),
                    seed: point_seed(self.settings.seed, site, &g.text),
                    hits: self.hits[s][v].clone().unwrap_or_default(),
                    trials: acc,
                    accuracy: spread,
                });
            }
        }
        SweepFile {
            model: self.model.clone(),
            classes: self.classes,
            settings: self.settings.clone(),
            axis: self.axis(),
            grid: self.grid.iter().map(|g| g.value).collect(),
            sites: self.sites.clone(),
            clean_hits: self.clean_hits,
            clean_accuracy: self.clean(),
            chance: self.chance(),
            midpoint_level: self.level(),
            points,
            shard: self.shard.map(|(index, count)| Shard { index, count }),
            midpoints: self.shard.is_none().then(|| self.sites.iter().cloned().zip(self.midpoints()).collect()),
            seconds: None,
        }
    }

    /// Rebuilds a result from its `sweep.json` (a shard's or a whole run's).
    pub fn from_stored(f: Stored) -> Result<SweepResult, String> {
        let (_, grid) = f.settings.grid()?;
        let mut hits = vec![vec![None; grid.len()]; f.sites.len()];
        for p in f.points {
            let s = f.sites.iter().position(|x| *x == p.site).ok_or_else(|| format!("unknown site `{}`", p.site))?;
            let k = grid
                .iter()
                .position(|g| g.text == p.value_text)
                .ok_or_else(|| format!("unknown value `{}`", p.value_text))?;
            hits[s][k] = Some(p.hits);
        }
        Ok(SweepResult {
            model: f.model,
            classes: f.classes,
            settings: f.settings,
            clean_hits: f.clean_hits,
            sites: f.sites,
            grid,
            hits,
            shard: f.shard.map(|s| (s.index, s.count)),
        })
    }

    /// `sweep.json`'s text (keys sorted, as every JSON analogc writes).
    pub fn json_pretty(&self) -> String {
        format!("{}\n", to_sorted_json(&self.to_file(), true))
    }

    /// `sweep.csv`: one row per point, accuracies in percent.
    pub fn csv(&self) -> String {
        let mut out = String::from("site,value,mean,std,ci95_lo,ci95_hi,trials\n");
        for (s, site) in self.sites.iter().enumerate() {
            for (v, g) in self.grid.iter().enumerate() {
                let Some((acc, st)) = self.point(s, v) else { continue };
                let value = if g.text.contains([' ', ',', '"']) { format!("\"{}\"", g.text) } else { g.text.clone() };
                out.push_str(&format!(
                    "{site},{value},{:.4},{:.4},{:.4},{:.4},{}\n",
                    100.0 * st.mean,
                    100.0 * st.std,
                    100.0 * st.ci95[0],
                    100.0 * st.ci95[1],
                    acc.len()
                ));
            }
        }
        out
    }

    /// The table `analogc sweep` prints.
    pub fn table(&self) -> String {
        let st = &self.settings;
        let pct = |a: f64| format!("{:.2}%", 100.0 * a);
        let axis = self.axis();
        let mut out = format!(
            "{} on {} ({}), {} per point, seed {}\n  clean accuracy {}, chance {}, midpoint level {}\n\n",
            self.model,
            st.data,
            count(st.samples as u64, "sample"),
            count(st.trials, "trial"),
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
                let Some((_, p)) = self.point(s, v) else { continue };
                out.push_str(&format!(
                    "{site:<w$}  {:>vw$}  {:>8}  {:>7}  {:>8}  {:>8}\n",
                    shown(g),
                    pct(p.mean),
                    pct(p.std),
                    pct(p.ci95[0]),
                    pct(p.ci95[1])
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
