//! Dense, conv1d and conv2d: `dx = δ·W`, `dW = δᵀ·x`, `db = Σ δ`, and their
//! conv equivalents, the bias's gradient returned whether or not the layer
//! has one. A conv1d is the conv2d of one row ([`Conv2d::one_row`]).

use super::{tap, window};
use crate::ir::op::Padding2d;

/// The gradients of a MAC layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MacGrads {
    /// `[batch][input]`
    pub dx: Vec<f32>,
    /// The weight's shape.
    pub dw: Vec<f32>,
    /// `[out]`
    pub db: Vec<f32>,
}

crate::kernels::fma::fma_dispatch! {
    /// Dense, `y[b, o] = Σ_j W[o, j]·x[b, j] + bias[o]`:
    ///
    /// ```text
    /// dx[b, j] = Σ_o dy[b, o]·W[o, j]      (o ascending)
    /// dW[o, j] = Σ_b dy[b, o]·x[b, j]      (b ascending)
    /// db[o]    = Σ_b dy[b, o]
    /// ```
    ///
    /// Each product is one fused multiply-add into its sum, as in the forward.
    ///
    /// `x` is `[batch][in]`, `w` `[out, in]`, `dy` `[batch][out]`.
    pub fn dense(batch: usize, x: &[f32], w: &[f32], dy: &[f32]) -> MacGrads = dense_portable
}

#[inline(always)]
fn dense_portable(batch: usize, x: &[f32], w: &[f32], dy: &[f32]) -> MacGrads {
    let n = x.len() / batch;
    let out = dy.len() / batch;
    assert_eq!((x.len(), w.len(), dy.len()), (batch * n, out * n, batch * out), "dense: shapes");
    let mut g = MacGrads { dx: vec![0.0; batch * n], dw: vec![0.0; out * n], db: vec![0.0; out] };
    for b in 0..batch {
        let xb = &x[b * n..(b + 1) * n];
        let dxb = &mut g.dx[b * n..(b + 1) * n];
        for o in 0..out {
            let d = dy[b * out + o];
            let wo = &w[o * n..(o + 1) * n];
            let dwo = &mut g.dw[o * n..(o + 1) * n];
            for j in 0..n {
                dxb[j] = d.mul_add(wo[j], dxb[j]);
                dwo[j] = d.mul_add(xb[j], dwo[j]);
            }
            g.db[o] += d;
        }
    }
    g
}

/// The geometry of a conv2d: one sample's input `[channels, height, width]`
/// and the op's attributes, as `docs/language.md` §3.2 defines them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2d {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// `[[top, bottom], [left, right]]`.
    pub padding: Padding2d,
    pub groups: usize,
}

impl Conv2d {
    /// `[h', w']`, `h' = ⌊(h + top + bottom − kernel) / stride⌋ + 1`.
    pub fn out_hw(&self) -> [usize; 2] {
        [
            window(self.height, self.kernel[0], self.stride[0], self.padding[0]),
            window(self.width, self.kernel[1], self.stride[1], self.padding[1]),
        ]
    }

    /// A conv1d on `[channels, length]` with weights `[out, channels/groups,
    /// kernel]`: the conv2d of one row, `[channels, 1, length]`, over the same
    /// buffers, so [`conv2d`] is its rule.
    #[allow(clippy::too_many_arguments)]
    pub fn one_row(
        channels: usize,
        length: usize,
        out: usize,
        kernel: usize,
        stride: usize,
        padding: [usize; 2],
        groups: usize,
    ) -> Conv2d {
        Conv2d {
            channels,
            height: 1,
            width: length,
            out,
            kernel: [1, kernel],
            stride: [1, stride],
            padding: [[0, 0], padding],
            groups,
        }
    }

    /// The input position `(r, t)` that kernel tap `(u, v)` of output `(i, j)`
    /// reads, `None` in the zero padding.
    fn tap(&self, i: usize, j: usize, u: usize, v: usize) -> Option<(usize, usize)> {
        let r = tap(i, u, self.stride[0], self.padding[0][0], self.height)?;
        Some((r, tap(j, v, self.stride[1], self.padding[1][0], self.width)?))
    }
}

crate::kernels::fma::fma_dispatch! {
    /// Conv2d (cross-correlation, zero padding, groups),
    /// `y[b, o, i, j] = bias[o] + Σ_{c,u,v} W[o, c, u, v]·x[b, g(o)·c_g + c, s·i + u − p, s·j + v − p]`:
    ///
    /// ```text
    /// dx[b, g·c_g + c, r, t] = Σ_{o ∈ g, i, j, u, v : tap} dy[b, o, i, j]·W[o, c, u, v]   ((o, i, j, u, v) ascending)
    /// dW[o, c, u, v]         = Σ_{b, i, j : tap} dy[b, o, i, j]·x[b, g(o)·c_g + c, r, t]  ((b, i, j) ascending)
    /// db[o]                  = Σ_{b, i, j} dy[b, o, i, j]
    /// ```
    ///
    /// where a tap `(r, t) = (s·i + u − p, s·j + v − p)` lies inside the input
    /// (padding receives no gradient). `x` is `[batch][c, h, w]`, `w`
    /// `[out, c/groups, kh, kw]`, `dy` `[batch][out, h', w']`.
    pub fn conv2d(conv: &Conv2d, batch: usize, x: &[f32], w: &[f32], dy: &[f32]) -> MacGrads = conv2d_portable
}

#[inline(always)]
fn conv2d_portable(conv: &Conv2d, batch: usize, x: &[f32], w: &[f32], dy: &[f32]) -> MacGrads {
    let [oh, ow] = conv.out_hw();
    let [kh, kw] = conv.kernel;
    let cg = conv.channels / conv.groups;
    let per_group = conv.out / conv.groups;
    let x_size = conv.channels * conv.height * conv.width;
    let y_size = conv.out * oh * ow;
    assert_eq!(
        (x.len(), w.len(), dy.len()),
        (batch * x_size, conv.out * cg * kh * kw, batch * y_size),
        "conv2d: shapes"
    );
    let mut g = MacGrads { dx: vec![0.0; batch * x_size], dw: vec![0.0; w.len()], db: vec![0.0; conv.out] };
    for b in 0..batch {
        for o in 0..conv.out {
            let first_channel = o / per_group * cg;
            for i in 0..oh {
                for j in 0..ow {
                    let d = dy[b * y_size + (o * oh + i) * ow + j];
                    g.db[o] += d;
                    for c in 0..cg {
                        for u in 0..kh {
                            for v in 0..kw {
                                let Some((r, t)) = conv.tap(i, j, u, v) else { continue };
                                let xi = b * x_size + ((first_channel + c) * conv.height + r) * conv.width + t;
                                let wi = ((o * cg + c) * kh + u) * kw + v;
                                g.dx[xi] = d.mul_add(w[wi], g.dx[xi]);
                                g.dw[wi] = d.mul_add(x[xi], g.dw[wi]);
                            }
                        }
                    }
                }
            }
        }
    }
    g
}
