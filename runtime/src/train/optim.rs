//! The optimizers, as PyTorch documents them (`torch.optim.SGD`, `Adam`,
//! `AdamW`), and gradient clipping by global norm (`clip_grad_norm_`).
//!
//! Parameters, gradients and the optimizer's state are f32, as in PyTorch;
//! the per-step scalars (bias corrections, step size) are computed in f64 from
//! the f64 hyperparameters and applied in f32, element by element, in the
//! order the formulas are written. An update touches each element alone, so
//! it is the same bits for any split of a tensor across threads.

use super::kernels::first_non_finite;
use super::parallel;
use crate::kernels::wide::wide_dispatch;
use std::sync::Mutex;

/// An optimizer and its hyperparameters (the learning rate comes per step,
/// from the schedule).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// With `g ← g + weight_decay·θ`, then, when `momentum ≠ 0`,
    /// `b ← momentum·b + g` (no dampening; `b` starts at 0, so it is `g` after
    /// the first step, as PyTorch sets it), `g ← g + momentum·b` with
    /// `nesterov`, else `g ← b`; finally `θ ← θ − lr·g`.
    Sgd { momentum: f64, nesterov: bool, weight_decay: f64 },
    /// With `g ← g + weight_decay·θ` (L2, coupled), `m ← β1·m + (1 − β1)·g`,
    /// `v ← β2·v + (1 − β2)·g²`, at step `t` (from 1)
    /// `θ ← θ − (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + eps)`: eps is added to
    /// the bias-corrected `√v̂`, outside the square root.
    Adam { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    /// Adam with decoupled weight decay: first `θ ← θ·(1 − lr·weight_decay)`,
    /// then Adam's step with `g` undecayed.
    AdamW { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
}

impl Optimizer {
    /// PyTorch's defaults: SGD without momentum or decay.
    pub const SGD: Optimizer = Optimizer::Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.0 };
    /// PyTorch's defaults: β = (0.9, 0.999), eps = 1e−8, no decay.
    pub const ADAM: Optimizer = Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    /// PyTorch's defaults: as Adam, weight decay 0.01.
    pub const ADAMW: Optimizer = Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };

    /// One update of a parameter tensor `theta` by its gradient `grad` with
    /// learning rate `lr`, advancing its `state`.
    pub fn step(&self, lr: f64, state: &mut State, theta: &mut [f32], grad: &[f32]) {
        let t = state.advance(theta.len(), grad.len());
        update(self, lr, t, (theta, grad, &mut state.first, &mut state.second));
    }

    /// [`step`](Self::step) of every tensor at once, each tensor in one part
    /// per thread of the caller's rayon pool ([`parallel::pinned_part`]), part
    /// `i` on thread `i` (as [`parallel::parts_mut`] pins a layer's
    /// rows: each core updates the rows whose gradient it computed), each part
    /// then scanned for values the update made non-finite while it is in
    /// cache. The same bits as one tensor after another, since each element is
    /// updated alone. Returns the first non-finite value, in tensor and
    /// element order: `(tensor, index)`.
    pub fn step_all(&self, lr: f64, tensors: Vec<Update<'_>>) -> Option<(usize, usize)> {
        // Per part: its tensor, its first index, `t`, and the slices it updates.
        type Part<'p> = (usize, usize, u64, &'p mut [f32], &'p [f32], &'p mut [f32], &'p mut [f32]);
        let (mut parts, mut homes): (Vec<Mutex<Part>>, Vec<usize>) = (vec![], vec![]);
        for (i, u) in tensors.into_iter().enumerate() {
            let t = u.state.advance(u.theta.len(), u.grad.len());
            let per = parallel::pinned_part(u.theta.len());
            let chunks = u.theta.chunks_mut(per).zip(u.grad.chunks(per));
            let moments = u.state.first.chunks_mut(per).zip(u.state.second.chunks_mut(per));
            for (part, ((theta, grad), (first, second))) in chunks.zip(moments).enumerate() {
                parts.push(Mutex::new((i, part * per, t, theta, grad, first, second)));
                homes.push(part);
            }
        }
        let found = parallel::map_on(
            parts.len(),
            |p| homes[p],
            |p| {
                let mut part = parts[p].lock().unwrap_or_else(|e| e.into_inner());
                let (i, at, t, theta, grad, first, second) = &mut *part;
                update(self, lr, *t, (theta, grad, first, second));
                first_non_finite(theta).map(|j| (*i, *at + j))
            },
        );
        found.into_iter().flatten().next()
    }
}

/// One slice of a tensor: `θ`, its gradient, and the optimizer's first and
/// second state (see [`State`]).
type Slices<'s> = (&'s mut [f32], &'s [f32], &'s mut [f32], &'s mut [f32]);

wide_dispatch! {
    /// Update `t` (from 1) of the elements of one slice of a tensor, at the
    /// widest vectors the CPU has.
    fn update(optimizer: &Optimizer, lr: f64, t: u64, slices: Slices<'_>) = update_body
}

#[inline(always)]
fn update_body(optimizer: &Optimizer, lr: f64, t: u64, (theta, grad, first, second): Slices<'_>) {
    match *optimizer {
        Optimizer::Sgd { momentum, nesterov, weight_decay } => {
            let (lr, mu, wd) = (lr as f32, momentum as f32, weight_decay as f32);
            for ((t, g), b) in theta.iter_mut().zip(grad).zip(first) {
                let mut g = *g;
                if weight_decay != 0.0 {
                    g += wd * *t;
                }
                if momentum != 0.0 {
                    *b = mu * *b + g;
                    g = if nesterov { g + mu * *b } else { *b };
                }
                *t -= lr * g;
            }
        }
        Optimizer::Adam { beta1, beta2, eps, weight_decay } => {
            adam(t, (theta, grad, first, second), lr, [beta1, beta2, eps], weight_decay as f32)
        }
        Optimizer::AdamW { beta1, beta2, eps, weight_decay } => {
            let keep = (1.0 - lr * weight_decay) as f32;
            theta.iter_mut().for_each(|t| *t *= keep);
            adam(t, (theta, grad, first, second), lr, [beta1, beta2, eps], 0.0)
        }
    }
}

/// Adam's moments and update at step `t` (see [`Optimizer::Adam`]), `l2` the coupled decay.
#[inline(always)]
fn adam(t: u64, (theta, grad, first, second): Slices<'_>, lr: f64, [beta1, beta2, eps]: [f64; 3], l2: f32) {
    let t = t as f64;
    let step_size = (lr / (1.0 - beta1.powf(t))) as f32;
    let correction2_sqrt = (1.0 - beta2.powf(t)).sqrt() as f32;
    // 1 − β in f64: 1 − (β as f32) would be off by 5e−5 relative for β = 0.999.
    let (b1, b2, eps) = (beta1 as f32, beta2 as f32, eps as f32);
    let (c1, c2) = ((1.0 - beta1) as f32, (1.0 - beta2) as f32);
    for ((theta, g), (m, v)) in theta.iter_mut().zip(grad).zip(first.iter_mut().zip(second)) {
        let g = g + l2 * *theta;
        *m = b1 * *m + c1 * g;
        *v = b2 * *v + c2 * g * g;
        *theta -= step_size * (*m / (v.sqrt() / correction2_sqrt + eps));
    }
}

/// One tensor's update in [`Optimizer::step_all`].
pub struct Update<'a> {
    pub state: &'a mut State,
    pub theta: &'a mut [f32],
    pub grad: &'a [f32],
}

/// An optimizer's state for one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// Updates made so far (`t` of the formulas after an update).
    pub step: u64,
    /// SGD's momentum buffer `b`, Adam's first moment `m`.
    pub first: Vec<f32>,
    /// Adam's second moment `v` (unused by SGD).
    pub second: Vec<f32>,
}

impl State {
    /// The state before the first update of a tensor of `len` values.
    pub fn new(len: usize) -> State {
        State { step: 0, first: vec![0.0; len], second: vec![0.0; len] }
    }

    /// Counts an update of a tensor of `len` values by a gradient of
    /// `grad_len`; returns its `t` (from 1).
    fn advance(&mut self, len: usize, grad_len: usize) -> u64 {
        assert!(grad_len == len && self.first.len() == len, "step: lengths differ");
        self.step += 1;
        self.step
    }
}

/// Clipping by global norm, as `torch.nn.utils.clip_grad_norm_`: the norm
/// `‖g‖ = √(Σ g²)` over all tensors (squares summed in f64, tensor by tensor,
/// element by element), and when `‖g‖ > max_norm` every gradient is scaled by
/// `max_norm / (‖g‖ + 1e−6)` (by 1, i.e. unchanged, otherwise). Returns the
/// norm before clipping.
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    let norm = grads.iter().flat_map(|g| g.iter()).map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        grads.iter_mut().flat_map(|g| g.iter_mut()).for_each(|v| *v *= coef as f32);
    }
    norm
}
