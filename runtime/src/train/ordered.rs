//! Training's fast path for a dense layer whose FP32 products enter an
//! ordered, leaky, saturating sum (`docs/language.md` §6.4; its gradient,
//! §10) in an order that does not depend on the data (`natural`, `reversed`,
//! `random`). Every output's running sum then takes the inputs in the same
//! order, so the sums of all outputs advance together, one input at a time,
//! in vector lanes; the interpreter (`interp::mac::accumulate`) and the
//! reference rule (`mac_grad`) run one output's chain after another, each
//! step waiting for the one before. Per output the operations and their
//! order are the reference's: the outputs, the saturation masks and the
//! gradients are its bits (tested against it).

use super::forward::OrderedGrad;
use super::parallel;
use crate::derived::format::Leaky;
use crate::derived::noise::repeat;
use crate::interp::mac::order_of;
use crate::interp::weights_vary;
use crate::ir::hardware::{Format, Multiplier, Order};
use crate::ir::{Node, NodeKind, Op};
use crate::kernels::transpose::transpose;
use crate::kernels::wide::wide_dispatch;

/// Whether this path takes `node`: a dense layer, FP32 with an exact
/// multiplier and clean weights, evaluated once, summed in an order fixed
/// before the data.
pub fn takes(node: &Node) -> bool {
    let NodeKind::Op { op: Op::Dense { .. }, .. } = &node.kind else { return false };
    let Some(leaky) = Leaky::of(&node.hw.accumulate) else { return false };
    matches!(leaky.order, Order::Natural | Order::Reversed | Order::Random)
        && node.hw.format == Format::Fp32
        && node.hw.multiplier == Multiplier::Exact
        && !weights_vary(node)
        && repeat(node) == 1
}

/// A layer [`takes`] takes, ready for a step: its weights `[rows][k]`, their
/// transpose `[k][rows]` (one input's weights for every output, a vector
/// load), and the order of its sums.
pub struct Layer<'a> {
    w: &'a [f32],
    wt: Vec<f32>,
    rows: usize,
    k: usize,
    order: Vec<usize>,
    leaky: Leaky,
}

/// Samples whose gradients are computed at once: their weight gradients are
/// held until added, in sample order.
const GROUP: usize = 8;

impl<'a> Layer<'a> {
    /// `node`'s layer (`random`: the chip's permutation of `order = random`),
    /// or `None` if this path does not take it.
    pub fn of(node: &'a Node, random: Option<&[u32]>) -> Option<Layer<'a>> {
        if !takes(node) {
            return None;
        }
        let leaky = Leaky::of(&node.hw.accumulate)?;
        let weight = node.param("weight")?;
        let (w, rows) = (&weight.data[..], weight.shape[0]);
        let k = w.len() / rows.max(1);
        // The order does not look at the products: only their number.
        let order = order_of(leaky.order, &vec![0.0; k], random);
        let mut wt = vec![0.0f32; w.len()];
        transpose(w, k, rows, k, &mut wt, rows);
        Some(Layer { w, wt, rows, k, order, leaky })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// One sample's outputs `y` (`[rows]`) for its input `x` (`[k]`), the
    /// bias added as the interpreter adds it (`+ 0` without one).
    pub fn forward(&self, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        sums(&self.wt, &self.order, x, self.rails(), y, None);
        match bias {
            Some(b) => y.iter_mut().zip(b).for_each(|(y, b)| *y += b),
            None => y.iter_mut().for_each(|y| *y += 0.0),
        }
    }

    /// The batch's `(dx, dW)` (`x` `[batch][k]`, `dy` `[batch][rows]`): each
    /// sample's as `mac_grad::sample` computes it, the weight gradients added
    /// in sample order.
    pub fn backward(&self, x: &[f32], dy: &[f32], want_dx: bool, grad: OrderedGrad) -> (Option<Vec<f32>>, Vec<f32>) {
        let (rows, k) = (self.rows, self.k);
        let batch = dy.len() / rows.max(1);
        let mut dw = vec![0.0f32; rows * k];
        let mut dx = want_dx.then(|| Vec::with_capacity(batch * k));
        for first in (0..batch).step_by(GROUP) {
            let samples = parallel::map(GROUP.min(batch - first), |i| {
                let b = first + i;
                self.sample(&x[b * k..][..k], &dy[b * rows..][..rows], want_dx, grad)
            });
            for (dw_b, dx_b) in samples {
                dw.iter_mut().zip(&dw_b).for_each(|(a, b)| *a += b);
                if let (Some(dx), Some(dx_b)) = (&mut dx, dx_b) {
                    dx.extend(dx_b);
                }
            }
        }
        (dx, dw)
    }

    /// One sample's `(dW, dx)`: `c[o][j]`, the gradient of output `o`'s sum
    /// with respect to its product `j` (the exact rule: the saturation masks
    /// of the forward's steps and the leak of the steps after; 1 with the
    /// linear shortcut), then `dW[o][j] = 0 + (d_o·c)·x_j` and
    /// `dx_j = Σ_o ((d_o·c)·w[o][j])·1` over `o` ascending, outputs with
    /// `d_o = 0` skipped (`mac_grad::sample`'s operations).
    fn sample(&self, x: &[f32], d: &[f32], want_dx: bool, grad: OrderedGrad) -> (Vec<f32>, Option<Vec<f32>>) {
        let (rows, k) = (self.rows, self.k);
        let c = (grad == OrderedGrad::Exact).then(|| {
            let mut inside = vec![0u8; k * rows];
            let mut s = vec![0.0f32; rows];
            sums(&self.wt, &self.order, x, self.rails(), &mut s, Some(&mut inside));
            // `c` by input, `[k][rows]`, then by output.
            let mut by_input = vec![0.0f32; k * rows];
            chain(&self.order, &inside, self.leaky.leak, &mut s, &mut by_input);
            let mut c = vec![0.0f32; rows * k];
            transpose(&by_input, rows, k, rows, &mut c, k);
            c
        });
        let mut dw = vec![0.0f32; rows * k];
        let mut dx = want_dx.then(|| vec![0.0f32; k]);
        products_grads(c.as_deref(), d, x, self.w, &mut dw, dx.as_deref_mut());
        (dw, dx)
    }

    /// `[leak, lo, hi]`.
    fn rails(&self) -> [f32; 3] {
        [self.leaky.leak, self.leaky.lo, self.leaky.hi]
    }
}

wide_dispatch! {
    /// Every output's ordered sum `s_o = clamp(leak·s_o + w[o][j]·x_j, lo, hi)`
    /// over the inputs `j` in `order`, from `s = 0`, into `s` (`[rows]`;
    /// `wt` `[k][rows]`, `rails` `[leak, lo, hi]`); with `inside`
    /// (`[step][rows]`), whether each step's `leak·s + p` was inside the rails.
    fn sums(wt: &[f32], order: &[usize], x: &[f32], rails: [f32; 3], s: &mut [f32], inside: Option<&mut [u8]>) = sums_body
}

#[inline(always)]
fn sums_body(wt: &[f32], order: &[usize], x: &[f32], rails: [f32; 3], s: &mut [f32], inside: Option<&mut [u8]>) {
    let [leak, lo, hi] = rails;
    let rows = s.len();
    s.fill(0.0);
    match inside {
        None => {
            for &j in order {
                let (xj, w) = (x[j], &wt[j * rows..][..rows]);
                for (s, w) in s.iter_mut().zip(w) {
                    *s = (leak * *s + w * xj).clamp(lo, hi);
                }
            }
        }
        Some(inside) => {
            for (&j, inside) in order.iter().zip(inside.chunks_exact_mut(rows)) {
                let (xj, w) = (x[j], &wt[j * rows..][..rows]);
                for ((s, w), a) in s.iter_mut().zip(w).zip(inside) {
                    let u = leak * *s + w * xj;
                    *a = u8::from(lo <= u && u <= hi);
                    *s = u.clamp(lo, hi);
                }
            }
        }
    }
}

wide_dispatch! {
    /// The exact rule's `c` by input (`[k][rows]`): from the last step down,
    /// `g_o` (from 1) is zeroed by a step outside the rails, taken as that
    /// step's input's `c`, then multiplied by the leak. `g` is scratch (`[rows]`).
    fn chain(order: &[usize], inside: &[u8], leak: f32, g: &mut [f32], by_input: &mut [f32]) = chain_body
}

#[inline(always)]
fn chain_body(order: &[usize], inside: &[u8], leak: f32, g: &mut [f32], by_input: &mut [f32]) {
    let rows = g.len();
    g.fill(1.0);
    for (&j, inside) in order.iter().zip(inside.chunks_exact(rows)).rev() {
        let c = &mut by_input[j * rows..][..rows];
        for ((g, c), a) in g.iter_mut().zip(c).zip(inside) {
            if *a == 0 {
                *g = 0.0;
            }
            *c = *g;
            *g *= leak;
        }
    }
}

wide_dispatch! {
    /// `dw` (`[rows][k]`) and `dx` (`[k]`), both zero on entry, from `c`
    /// (`[rows][k]`; `None`: every `c` is 1), the output gradient `d`, the
    /// input `x` and the weights `w` (see [`Layer::sample`]).
    fn products_grads(c: Option<&[f32]>, d: &[f32], x: &[f32], w: &[f32], dw: &mut [f32], dx: Option<&mut [f32]>) = products_grads_body
}

#[inline(always)]
fn products_grads_body(c: Option<&[f32]>, d: &[f32], x: &[f32], w: &[f32], dw: &mut [f32], mut dx: Option<&mut [f32]>) {
    let k = x.len();
    let ones = vec![1.0f32; if c.is_some() { 0 } else { k }];
    for (o, (&d, dw)) in d.iter().zip(dw.chunks_exact_mut(k)).enumerate() {
        if d == 0.0 {
            continue;
        }
        let c = c.map_or(&ones[..], |c| &c[o * k..][..k]);
        for ((dw, c), x) in dw.iter_mut().zip(c).zip(x) {
            *dw += d * c * x;
        }
        if let Some(dx) = dx.as_deref_mut() {
            for ((dx, c), w) in dx.iter_mut().zip(c).zip(&w[o * k..][..k]) {
                *dx += d * c * w * 1.0;
            }
        }
    }
}
