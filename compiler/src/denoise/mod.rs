//! Denoise blocks in a trained model (Azizi et al., arXiv 2409.18553): the
//! MAC layers ranked by `analyze`'s sensitivity, blocks placed after the most
//! sensitive ones (or the least, or at random) within a parameter budget, and
//! the model written with them as identity blocks, ready for `analogc train
//! --train <blocks>`. `docs/training.md` ("Recipe 4") states the choices.

mod budget;
mod insert;
mod text;
mod write;

pub use budget::{spend, Budget, Site};

use crate::analysis::{analyze, analyze_calibrated, CalibrateOptions};
use crate::control::Control;
use crate::data::Data;
use crate::diag::{Code, Diagnostic};
use crate::error::{Error, Result};
use crate::model::{Exec, Model};
use analog_runtime::rng;
use serde::Serialize;
use std::path::Path;

/// The generator site of `--place random`'s order (trial 0, the seed's key).
pub const PLACE_SITE: u32 = 0x2800_0000;

/// Which layers get blocks first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// The largest sensitivity first.
    Sensitive,
    /// The smallest first.
    Insensitive,
    /// A seeded random order.
    Random,
}

impl Placement {
    fn words(self) -> &'static str {
        match self {
            Placement::Sensitive => "the most sensitive layers first",
            Placement::Insensitive => "the least sensitive layers first",
            Placement::Random => "layers in a random order",
        }
    }
}

pub struct DenoiseOptions {
    pub budget: Budget,
    pub place: Placement,
    /// Every block's hidden width; `None`: each as wide as the budget left pays, at most the layer's width.
    pub hidden: Option<usize>,
    /// The sensitivities are measured on the first `limit` samples.
    pub limit: usize,
    /// `seed` orders `--place random` and draws the blocks' `down` weights.
    pub exec: Exec,
}

impl DenoiseOptions {
    /// The checks that need no model.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: &str| Err(Error::user(Code::BadDenoiseOption, msg));
        if self.hidden == Some(0) {
            return bad("`--hidden 0`: a block needs a hidden width of at least 1");
        }
        if self.limit == 0 {
            return bad("`--limit 0`: the sensitivities need at least one sample");
        }
        self.exec.check()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DenoiseReport {
    pub model: String,
    pub placement: Placement,
    pub seed: u64,
    pub budget: Budget,
    /// The parameters the budget allows.
    pub budget_parameters: usize,
    /// Every tensor element the model's layers read.
    pub model_parameters: usize,
    /// The MAC layers as the analysis ranks them, most sensitive first.
    pub ranking: Vec<RankedLayer>,
    pub blocks: Vec<Block>,
    pub parameters_added: usize,
    /// `parameters_added` in percent of `model_parameters`.
    pub percent_added: f64,
    /// The samples the sensitivities were measured on.
    pub samples: usize,
    /// The files written (with `out`).
    pub model_file: Option<String>,
    pub weights_file: Option<String>,
    /// Trains the written blocks alone, the rest of the model frozen.
    pub train_command: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankedLayer {
    pub layer: String,
    pub sensitivity: Option<f64>,
    /// The layer's block, if it got one.
    pub block: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Block {
    pub name: String,
    pub after: String,
    pub hidden: usize,
    /// The size of a conv block's kernels; `None` for a dense block.
    pub kernel: Option<usize>,
    pub parameters: usize,
}

/// Ranks `model`'s MAC layers on the first `options.limit` samples of `data`
/// (a folder or a name; `None`: the model's own), places blocks within the
/// budget and, given `out`, writes the model with them into that folder.
pub fn denoise(
    model: &Model,
    data: Option<&str>,
    options: &DenoiseOptions,
    out: Option<&Path>,
    control: Control,
) -> Result<DenoiseReport> {
    options.check()?;
    if let Some(out) = out {
        write::refuse(model, out)?;
    }
    let graph = model.graph();
    let mac_layers: Vec<String> = analyze(model)?.layers.into_iter().map(|l| l.name).collect();
    let sites: Vec<Site> = mac_layers
        .iter()
        .filter_map(|name| {
            let shape = &graph.nodes.iter().find(|n| n.name == *name)?.shape;
            match shape[..] {
                [width] => Some(Site { layer: name.clone(), width, kernel: 1 }),
                [channels, _, _] => Some(Site { layer: name.clone(), width: channels, kernel: 3 }),
                _ => None,
            }
        })
        .collect();
    if sites.is_empty() {
        return Err(Error::user(
            Code::NoDenoiseSite,
            format!("model `{}` has no dense or conv2d layer to place a denoise block after", model.name()),
        ));
    }
    let total: usize = model.unoptimized()?.graph().nodes.iter().flat_map(|n| &n.params).map(|p| p.value.len()).sum();
    let allowed = options.budget.parameters(total);
    let everywhere: Vec<usize> = (0..sites.len()).collect();
    if spend(&sites, &everywhere, allowed, options.hidden).is_empty() {
        return Err(too_small(&sites, allowed, total, options.hidden));
    }

    let data = Data::open(model, data, Some(options.limit))?;
    let calibrate = CalibrateOptions { trials: 1, calibrate_limit: options.limit, midpoints: None, exec: options.exec };
    let analysis = analyze_calibrated(model, &data, &calibrate, control)?;
    let ranked = analysis.denoise.ok_or_else(|| Error::Internal("a calibrated analysis without placement".into()))?;
    let by_rank: Vec<usize> =
        ranked.ranking.iter().filter_map(|r| sites.iter().position(|s| s.layer == r.layer)).collect();
    let order = match options.place {
        Placement::Sensitive => by_rank,
        Placement::Insensitive => by_rank.into_iter().rev().collect(),
        Placement::Random => {
            rng::permutation(options.exec.seed, 0, PLACE_SITE, sites.len()).into_iter().map(|i| i as usize).collect()
        }
    };
    let chosen = spend(&sites, &order, allowed, options.hidden);
    let asked: Vec<(String, usize)> = chosen.iter().map(|&(i, h)| (sites[i].layer.clone(), h)).collect();
    let new = write::named(model, &asked)?;
    let written = out.map(|out| write::write(model, &new, out, options.exec.seed)).transpose()?;

    let blocks: Vec<Block> = chosen
        .iter()
        .zip(&new)
        .map(|(&(i, hidden), b)| Block {
            name: b.name.clone(),
            after: sites[i].layer.clone(),
            hidden,
            kernel: (sites[i].kernel > 1).then_some(sites[i].kernel),
            parameters: sites[i].parameters(hidden),
        })
        .collect();
    let added: usize = blocks.iter().map(|b| b.parameters).sum();
    let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    let train_command = out.zip(written.as_ref()).map(|(out, w)| {
        let copy = out.join(w.model_file.file_name().expect("a file name"));
        format!(
            "analogc train {} --train {} --out {}",
            shell_word(&copy.display().to_string()),
            names.join(","),
            shell_word(&out.join("trained").display().to_string())
        )
    });
    Ok(DenoiseReport {
        model: model.name().to_string(),
        placement: options.place,
        seed: options.exec.seed,
        budget: options.budget,
        budget_parameters: allowed,
        model_parameters: total,
        ranking: ranked
            .ranking
            .iter()
            .map(|r| RankedLayer {
                layer: r.layer.clone(),
                sensitivity: r.sensitivity,
                block: blocks.iter().find(|b| b.after == r.layer).map(|b| b.name.clone()),
            })
            .collect(),
        parameters_added: added,
        percent_added: 100.0 * added as f64 / total as f64,
        samples: data.n,
        model_file: written.as_ref().map(|w| w.model_file.display().to_string()),
        weights_file: written.as_ref().map(|w| w.weights_file.display().to_string()),
        train_command,
        blocks,
    })
}

/// E1102, with the cheapest block that would do.
fn too_small(sites: &[Site], allowed: usize, total: usize, hidden: Option<usize>) -> Error {
    let width = hidden.unwrap_or(1);
    let cheapest = sites.iter().min_by_key(|s| s.parameters(width)).expect("a site");
    let d = Diagnostic::error(
        Code::BudgetTooSmall,
        format!("a budget of {allowed} parameters (of the model's {total}) does not pay for one denoise block"),
    )
    .note(format!(
        "the cheapest, after `{}` with a hidden width of {width}, takes {} parameters",
        cheapest.layer,
        cheapest.parameters(width)
    ))
    .help("raise `--budget`, or lower `--hidden`");
    Error::User { sources: Box::default(), diagnostics: vec![d] }
}

/// `word` as one shell word: as it is when it needs no quoting, else in single quotes.
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./+=:,@%".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
