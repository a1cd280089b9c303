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
use super::mac_grad::{add_terms, SampleGrads};
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

    /// One sample's gradients: `c[o][j]`, the gradient of output `o`'s sum
    /// with respect to its product `j` (the exact rule: the saturation masks
    /// of the forward's steps and the leak of the steps after; 1 with the
    /// linear shortcut), then each output's terms as `mac_grad::sample` adds
    /// them (`mac_grad::add_terms`, outputs with `d_o = 0` skipped).
    pub fn sample(&self, x: &[f32], d: &[f32], want_dx: bool, grad: OrderedGrad) -> SampleGrads {
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
        // FP32 inputs pass no quantizer: the clipping mask is all ones.
        let mask = vec![1.0f32; k];
        let mut dw = vec![0.0f32; rows * k];
        let mut dx = want_dx.then(|| vec![0.0f32; k]);
        for (o, (&d, dw)) in d.iter().zip(dw.chunks_exact_mut(k)).enumerate() {
            if d == 0.0 {
                continue;
            }
            let c = c.as_deref().map(|c| &c[o * k..][..k]);
            add_terms(d, c, (x, &self.w[o * k..][..k], &mask), Some(dw), dx.as_deref_mut());
        }
        SampleGrads { dx, dw }
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
