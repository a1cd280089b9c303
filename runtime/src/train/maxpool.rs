//! Max pooling on the fast path: the forward over a batch, keeping the input
//! each output took, and the backward from those inputs.
//!
//! Each output is the first maximum of its window's inputs in window order
//! (rows, then columns) under `>`; the padding never wins. That is the
//! reference backward's choice (`backward::pool::maxpool2d`) and the JIT's
//! value (`acc = v > acc ? v : acc` from −∞, the padding's −∞ included), which
//! is the interpreter's too (`ops::pool_max`).

use super::kernels::inside;
use super::parallel;
use super::spare::Spare;
use crate::derived::window::Window;

/// What [`maxpool`] records for an output whose window reads only padding.
pub const NO_INPUT: u32 = u32::MAX;

/// Outputs per vector of the AVX-512 kernel; the table's rows are whole vectors.
const LANES: usize = 16;

/// Per tap of the window (in window order) and output of a plane: the index
/// in the plane of the input it reads, or −1 where it reads padding (and
/// past the last output, up to a whole vector).
struct Taps {
    /// Inputs of a plane: every index is under it.
    inputs: usize,
    taps: usize,
    outputs: usize,
    /// Entries per tap: `outputs` rounded up to a whole vector.
    stride: usize,
    index: Vec<i32>,
}

impl Taps {
    fn of(win: &Window, h: usize, w: usize) -> Taps {
        let ([oh, ow], [kh, kw]) = (win.out(h, w), win.kernel);
        let (outputs, taps) = (oh * ow, kh * kw);
        let stride = outputs.next_multiple_of(LANES);
        let mut index = vec![-1i32; taps * stride];
        for i in 0..oh {
            let (rlo, rhi) = inside(win, 0, i, kh, h);
            for j in 0..ow {
                let (clo, chi) = inside(win, 1, j, kw, w);
                for u in rlo..rhi {
                    for v in clo..chi {
                        let at = win.tap(0, i, u) as usize * w + win.tap(1, j, v) as usize;
                        index[(u * kw + v) * stride + i * ow + j] = at as i32;
                    }
                }
            }
        }
        Taps { inputs: h * w, taps, outputs, stride, index }
    }

    /// One plane's outputs and the inputs they took (`offset` added: the
    /// plane's place in its sample), with the widest kernel this CPU runs.
    fn plane(&self, x: &[f32], offset: u32, y: &mut [f32], taken: &mut [u32]) {
        assert!(y.len() == self.outputs && taken.len() == self.outputs, "maxpool: outputs");
        assert!(x.len() == self.inputs, "maxpool: inputs");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; every index read is checked above.
            return unsafe { self.plane_avx512(x, offset, y, taken) };
        }
        self.plane_portable(x, offset, y, taken);
    }

    /// One output at a time: the reference for the vector kernel.
    fn plane_portable(&self, x: &[f32], offset: u32, y: &mut [f32], taken: &mut [u32]) {
        for o in 0..self.outputs {
            let (mut best, mut got) = (Window::pool_pad(true), NO_INPUT);
            for t in 0..self.taps {
                let i = self.index[t * self.stride + o];
                if i >= 0 && (got == NO_INPUT || x[i as usize] > best) {
                    (best, got) = (x[i as usize], i as u32 + offset);
                }
            }
            (y[o], taken[o]) = (best, got);
        }
    }

    /// 16 outputs at a time, each tap's inputs gathered.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds `inputs` values (every index of the
    /// table is under it); `y` and `taken` hold `outputs` values.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn plane_avx512(&self, x: &[f32], offset: u32, y: &mut [f32], taken: &mut [u32]) {
        use std::arch::x86_64::*;
        let none = _mm512_set1_epi32(-1);
        for o in (0..self.outputs).step_by(LANES) {
            let lanes = (self.outputs - o).min(LANES);
            let tail: __mmask16 = if lanes == LANES { !0 } else { (1 << lanes) - 1 };
            let (mut best, mut got) = (_mm512_set1_ps(Window::pool_pad(true)), none);
            for t in 0..self.taps {
                // SAFETY: a whole vector of the table's row; gathered lanes
                // are inside `x` (the caller's), the others not read.
                unsafe {
                    let idx = _mm512_loadu_si512(self.index.as_ptr().add(t * self.stride + o).cast());
                    let valid = _mm512_cmpge_epi32_mask(idx, _mm512_setzero_si512());
                    let v = _mm512_mask_i32gather_ps::<4>(best, valid, idx, x.as_ptr());
                    let first = _mm512_cmpeq_epi32_mask(got, none);
                    let take = valid & (first | _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best));
                    best = _mm512_mask_mov_ps(best, take, v);
                    got = _mm512_mask_mov_epi32(got, take, idx);
                }
            }
            let got =
                _mm512_mask_add_epi32(got, _mm512_cmpneq_epi32_mask(got, none), got, _mm512_set1_epi32(offset as i32));
            // SAFETY: the tail's lanes are inside `y` and `taken`.
            unsafe {
                _mm512_mask_storeu_ps(y.as_mut_ptr().add(o), tail, best);
                _mm512_mask_storeu_epi32(taken.as_mut_ptr().add(o).cast(), tail, got);
            }
        }
    }
}

/// Max pooling's forward on a batch of `[c, h, w]` samples, and, for its
/// backward, the input each output took as an index into its sample (or
/// [`NO_INPUT`]).
pub fn maxpool(x: &[f32], shape: &[usize], win: &Window, spare: &Spare) -> (Vec<f32>, Vec<u32>) {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let taps = Taps::of(win, h, w);
    let (size, per) = (c * h * w, c * taps.outputs);
    let mut y = spare.take(x.len() / size.max(1) * per);
    let mut taken = vec![NO_INPUT; y.len()];
    let mut samples: Vec<(&mut [f32], &mut [u32])> =
        y.chunks_mut(per.max(1)).zip(taken.chunks_mut(per.max(1))).collect();
    parallel::chunks_mut(&mut samples, 1, |b, one| {
        let (yb, tb) = &mut one[0];
        for plane in 0..c {
            let at = plane * taps.outputs;
            let outputs = at..at + taps.outputs;
            let x = &x[b * size + plane * h * w..][..h * w];
            taps.plane(x, (plane * h * w) as u32, &mut yb[outputs.clone()], &mut tb[outputs]);
        }
    });
    drop(samples);
    (y, taken)
}

/// Max pooling's backward from [`maxpool`]'s inputs taken: each output's
/// gradient added to the input it took, in output order
/// (`backward::pool::maxpool2d`'s bits); `size` inputs per sample.
pub fn maxpool_grad(taken: &[u32], batch: usize, size: usize, dy: &[f32], spare: &Spare) -> Vec<f32> {
    let per = taken.len() / batch.max(1);
    let mut dx = spare.take(batch * size);
    parallel::chunks_mut(&mut dx, size.max(1), |b, dxb| {
        dxb.fill(0.0);
        for (&t, d) in taken[b * per..][..per].iter().zip(&dy[b * per..][..per]) {
            if t != NO_INPUT {
                dxb[t as usize] += d;
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::backward::pool::{maxpool2d, Pool2d};

    /// Kernel, stride and padding.
    type Case = ([usize; 2], [usize; 2], [[usize; 2]; 2]);

    const WINDOWS: [Case; 5] = [
        ([2, 2], [2, 2], [[0, 0]; 2]),
        ([3, 3], [1, 2], [[1, 1], [1, 1]]),
        ([3, 2], [2, 1], [[1, 0], [0, 1]]),
        // Windows over padding only.
        ([2, 2], [3, 3], [[2, 2], [0, 0]]),
        ([1, 1], [1, 1], [[0, 0]; 2]),
    ];

    /// Repeated values, so that ties go to the first maximum in window order.
    fn inputs(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 37) % 11) as f32 - 5.0).collect()
    }

    #[test]
    fn values_are_the_interpreters_and_the_gradient_the_reference_rules() {
        let shape = [2, 7, 6];
        let mut x = inputs(3 * 2 * 7 * 6);
        // The window of rows 0–1, columns 2–3 holds −0, +0, −1, −2: the first zero wins.
        x[2..4].copy_from_slice(&[-0.0, 0.0]);
        x[8..10].copy_from_slice(&[-1.0, -2.0]);
        for (kernel, stride, padding) in WINDOWS {
            let win = Window { kernel, stride, padding };
            let [oh, ow] = win.out(7, 6);
            let dy: Vec<f32> = (0..3 * 2 * oh * ow).map(|i| (i as f32 * 0.3).sin()).collect();
            let pool = Pool2d { channels: 2, height: 7, width: 6, kernel, stride, padding };
            // Buffers left with other values: every value is written.
            let spare = Spare::default();
            spare.give([vec![f32::NAN; x.len()], vec![f32::NAN; dy.len()]]);
            let (y, taken) = maxpool(&x, &shape, &win, &spare);
            let want: Vec<f32> = x
                .chunks(2 * 7 * 6)
                .flat_map(|xb| crate::interp::ops::pool(xb, &shape, kernel, stride, padding, true))
                .collect();
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&want), "{win:?}");
            assert_eq!(maxpool_grad(&taken, 3, 2 * 7 * 6, &dy, &spare), maxpool2d(&pool, 3, &x, &dy), "{win:?}");
        }
    }

    /// The vector kernel against the portable one, with NaN, infinities and
    /// signed zeros among the inputs, and planes of more and fewer than 16
    /// outputs.
    #[test]
    fn the_vector_kernel_gives_the_portable_kernels_bits() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            for (h, w) in [(28, 28), (10, 10), (7, 6), (1, 3)] {
                let mut x = inputs(h * w);
                x[0] = f32::NAN;
                x[w * h / 2] = f32::NEG_INFINITY;
                x[w * h - 1] = f32::INFINITY;
                x.iter_mut()
                    .filter(|v| **v == 0.0)
                    .enumerate()
                    .for_each(|(i, v)| *v = if i % 2 == 0 { -0.0 } else { 0.0 });
                for (kernel, stride, padding) in WINDOWS {
                    let win = Window { kernel, stride, padding };
                    if win.padded(0, h) < kernel[0] || win.padded(1, w) < kernel[1] {
                        continue;
                    }
                    let taps = Taps::of(&win, h, w);
                    let n = taps.outputs;
                    let (mut y, mut t) = (vec![0.0; n], vec![0; n]);
                    let (mut y2, mut t2) = (vec![1.0; n], vec![1; n]);
                    taps.plane_portable(&x, 100, &mut y, &mut t);
                    // SAFETY: the CPU has AVX-512F; the table's indices are inside `x`.
                    unsafe { taps.plane_avx512(&x, 100, &mut y2, &mut t2) };
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!((bits(&y), &t), (bits(&y2), &t2), "{h}×{w} {win:?}");
                }
            }
        }
    }
}
