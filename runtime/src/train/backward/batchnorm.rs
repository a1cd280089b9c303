//! Batch normalization in its two modes, forward and backward:
//! `y = (x − mean[c]) / std[c] · γ[c] + β[c]` over channel `c` (the first axis
//! of a sample, `[c]` or `[c, h, w]`), with `std = √(var + eps)`.
//!
//! - **Training mode** (PyTorch's `model.train()`): `mean` and `var` are the
//!   batch's, over the `m = batch·h·w` values of each channel, `var` biased
//!   (divided by `m`); the running statistics move towards them with
//!   [`update_running`]. The gradient flows through the statistics too.
//! - **Eval mode** (frozen): `mean` and `var` are the running statistics, as in
//!   inference (`interp::ops::batchnorm`, bit for bit); they are constants.
//!
//! Training uses training mode for a batchnorm whose parameters train, as
//! PyTorch does, so its running statistics follow the trained network and the
//! written model evaluates as trained; a frozen batchnorm (a layer not
//! trained) uses eval mode, because freezing a layer freezes all it holds.

/// The statistics a forward normalized with, per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub mean: Vec<f32>,
    /// Biased for batch statistics.
    pub var: Vec<f32>,
    /// `√(var + eps)`, in f32 as the inference formula computes it.
    pub std: Vec<f32>,
}

/// The gradients of a batchnorm.
#[derive(Clone, Debug, PartialEq)]
pub struct NormGrads {
    /// `[batch][sample]`
    pub dx: Vec<f32>,
    /// `[c]`, the gradient of `weight`.
    pub dgamma: Vec<f32>,
    /// `[c]`, the gradient of `bias`.
    pub dbeta: Vec<f32>,
}

/// The indices of channel `c`'s values in a batch of `len` values, in order
/// (sample, then position).
fn channel(len: usize, shape: &[usize], c: usize) -> impl Iterator<Item = usize> {
    let per: usize = shape[1..].iter().product();
    let sample = shape[0] * per;
    (0..len / sample).flat_map(move |b| b * sample + c * per..b * sample + (c + 1) * per)
}

impl Stats {
    /// The batch's statistics, summed in f64 in channel order (two passes:
    /// the mean, then the squared deviations from it) and rounded once to f32.
    /// An error when a channel has fewer than two values (its unbiased
    /// variance, which the running statistics take, does not exist).
    pub fn of_batch(x: &[f32], shape: &[usize], eps: f64) -> Result<Stats, String> {
        let m = x.len() / shape[0];
        if m < 2 {
            return Err(format!("batchnorm in training mode needs more than one value per channel, got {m}"));
        }
        let mut stats = Stats { mean: vec![], var: vec![], std: vec![] };
        for c in 0..shape[0] {
            let mean = channel(x.len(), shape, c).map(|i| x[i] as f64).sum::<f64>() / m as f64;
            let var = channel(x.len(), shape, c).map(|i| (x[i] as f64 - mean).powi(2)).sum::<f64>() / m as f64;
            stats.mean.push(mean as f32);
            stats.var.push(var as f32);
            stats.std.push((var as f32 + eps as f32).sqrt());
        }
        Ok(stats)
    }

    /// The running statistics, as inference uses them.
    pub fn frozen(running_mean: &[f32], running_var: &[f32], eps: f64) -> Stats {
        Stats {
            mean: running_mean.to_vec(),
            var: running_var.to_vec(),
            std: running_var.iter().map(|v| (v + eps as f32).sqrt()).collect(),
        }
    }
}

/// The forward in either mode: `y = (x − mean[c]) / std[c] · γ[c] + β[c]`.
pub fn normalize(x: &[f32], shape: &[usize], stats: &Stats, gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    let per: usize = shape[1..].iter().product();
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i / per % shape[0];
            (v - stats.mean[c]) / stats.std[c] * gamma[c] + beta[c]
        })
        .collect()
}

/// The running-statistics update of training mode (PyTorch's, `momentum`
/// default 0.1), after a forward whose batch statistics `stats` were taken over
/// `count` values per channel (`batch·h·w`):
/// `running_mean ← (1 − momentum)·running_mean + momentum·mean`,
/// `running_var ← (1 − momentum)·running_var + momentum·var·count/(count − 1)`
/// (the unbiased variance), each in f64 and rounded once.
pub fn update_running(stats: &Stats, count: usize, momentum: f64, running_mean: &mut [f32], running_var: &mut [f32]) {
    let unbias = count as f64 / (count - 1) as f64;
    for c in 0..stats.mean.len() {
        running_mean[c] = ((1.0 - momentum) * running_mean[c] as f64 + momentum * stats.mean[c] as f64) as f32;
        running_var[c] = ((1.0 - momentum) * running_var[c] as f64 + momentum * stats.var[c] as f64 * unbias) as f32;
    }
}

/// `dγ[c] = Σ dy·x̂` and `dβ[c] = Σ dy` over the channel's values (f64, in
/// order), with `x̂ = (x − mean[c]) / std[c]`: `(Σ dy, Σ dy·x̂)` per channel.
fn parameter_grads(x: &[f32], shape: &[usize], stats: &Stats, dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let xhat = |i: usize, c: usize| (x[i] - stats.mean[c]) / stats.std[c];
    let sum_dy = (0..shape[0]).map(|c| channel(x.len(), shape, c).map(|i| dy[i] as f64).sum()).collect();
    let sum_dy_xhat =
        (0..shape[0]).map(|c| channel(x.len(), shape, c).map(|i| dy[i] as f64 * xhat(i, c) as f64).sum()).collect();
    (sum_dy, sum_dy_xhat)
}

fn narrow(sums: Vec<f64>) -> Vec<f32> {
    sums.into_iter().map(|s| s as f32).collect()
}

/// Training mode's backward, through the batch statistics, from the forward's
/// input and [`Stats::of_batch`]:
/// `dx = γ/std · (dy − mean(dy) − x̂·mean(dy·x̂))`, the means over the
/// channel's `m` values; `dγ = Σ dy·x̂`, `dβ = Σ dy`.
pub fn backward_train(x: &[f32], shape: &[usize], gamma: &[f32], stats: &Stats, dy: &[f32]) -> NormGrads {
    let m = (x.len() / shape[0]) as f64;
    let (sum_dy, sum_dy_xhat) = parameter_grads(x, shape, stats, dy);
    let per: usize = shape[1..].iter().product();
    let dx = x
        .iter()
        .zip(dy)
        .enumerate()
        .map(|(i, (v, d))| {
            let c = i / per % shape[0];
            let xhat = (v - stats.mean[c]) / stats.std[c];
            let (mean_dy, mean_dy_xhat) = ((sum_dy[c] / m) as f32, (sum_dy_xhat[c] / m) as f32);
            gamma[c] / stats.std[c] * (d - mean_dy - xhat * mean_dy_xhat)
        })
        .collect();
    NormGrads { dx, dgamma: narrow(sum_dy_xhat), dbeta: narrow(sum_dy) }
}

/// Eval mode's backward, the statistics constant ([`Stats::frozen`]):
/// `dx = dy·γ/std`; `dγ = Σ dy·x̂`, `dβ = Σ dy`.
pub fn backward_eval(x: &[f32], shape: &[usize], gamma: &[f32], stats: &Stats, dy: &[f32]) -> NormGrads {
    let (sum_dy, sum_dy_xhat) = parameter_grads(x, shape, stats, dy);
    let per: usize = shape[1..].iter().product();
    let dx = dy
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let c = i / per % shape[0];
            d * (gamma[c] / stats.std[c])
        })
        .collect();
    NormGrads { dx, dgamma: narrow(sum_dy_xhat), dbeta: narrow(sum_dy) }
}
