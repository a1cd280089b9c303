//! A stride-1, one-group convolution's gradients on the fast path without
//! im2col patches, with the bits of the patch path they replace
//! (`kernels::weight_grad` over the patches, `kernels::input_grad` then
//! `kernels::col2im`):
//!
//! - `dW[o][t] = Σ_b Σ_p dy_b[o][p]·patch_b[p][t]` summed over the samples,
//!   then the positions, in order from 0, one fused multiply-add each (the
//!   reference rule's order, `backward::mac::conv2d`), read from the
//!   samples' zero-bordered planes (`kernels::conv`'s). With few output
//!   channels the vectors run across taps: each patch row gathered 16 taps
//!   at a time, the sums of up to 16 output channels in registers. From
//!   12 output channels on (`CHANNELS_IN_LANES`) they run across output
//!   channels: per position one load of 16 channels' output gradients and
//!   one broadcast input per tap, 8 taps' sums in registers.
//! - `dX`: each tap's `dp[p][t] = Σ_o dy[o][p]·w[o][t]` (`o` in order from 0,
//!   fused), added into the input it was read from as `col2im` adds them:
//!   from 0, in position order. An input `(r, c)` is read by position
//!   `(r + top − u, c + left − v)` through tap `(u, v)`, so position order is
//!   `u`, then `v`, descending; 16 inputs of a row are computed at once.
//!
//! Both need AVX-512 (gathers, masked loads); on other CPUs a convolution
//! takes the patch path ([`applies`]). The portable kernels here are the
//! vector kernels' references in the tests.

use super::parallel;
use super::spare::Spare;
use crate::derived::window::Window;
use crate::kernels::conv::{self, Shape};

/// Taps (or output channels) per vector.
const LANES: usize = 16;

/// Whether a convolution's gradients take this path: stride 1 on a CPU
/// with AVX-512F.
pub fn applies(win: &Window) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        win.stride == [1, 1] && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = win;
        false
    }
}

/// The operands of `dW`: the batch's zero-bordered planes and output
/// gradients, and where each tap and position reads in a plane.
struct WeightGrad<'a> {
    s: &'a Shape,
    /// `[batch][Shape::plane_len]`, taken from the caller's spare buffers.
    planes: Vec<f32>,
    dy: &'a [f32],
    batch: usize,
    /// Per tap (rounded up to whole vectors, the extra ones 0 and masked
    /// off): its offset in a plane from the position's.
    taps: Vec<i32>,
    /// Per output position, `(i, j)` in order: `i·wp + j`.
    positions: Vec<i32>,
}

/// `dW` `[cols][k]` of a batch: `x` its inputs `[batch][c·h·w]`, `dy` its
/// output gradients `[batch][cols][oh·ow]`.
pub fn weight_grad(s: &Shape, x: &[f32], dy: &[f32], spare: &Spare) -> Vec<f32> {
    let g = WeightGrad::new(s, x, dy, spare);
    let dw = 'dw: {
        #[cfg(target_arch = "x86_64")]
        if s.cols >= CHANNELS_IN_LANES && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            break 'dw unsafe { g.by_channels(spare) };
        }
        g.by_taps(spare)
    };
    spare.give([g.planes]);
    dw
}

impl<'a> WeightGrad<'a> {
    /// The batch's planes (from `x`, `[batch][c·h·w]`), tap offsets and
    /// positions.
    fn new(s: &'a Shape, x: &[f32], dy: &'a [f32], spare: &Spare) -> WeightGrad<'a> {
        let size = s.channels * s.height * s.width;
        let batch = x.len() / size.max(1);
        let (k, plane_len) = (s.k(), s.plane_len());
        let ([oh, ow], [hp, wp], [kh, kw]) = (s.out(), s.padded(), s.kernel);
        let mut planes = spare.take(batch * plane_len);
        parallel::chunks_mut(&mut planes, plane_len, |b, p| conv::fill_plane(s, &x[b * size..][..size], p));
        let taps = (0..k.next_multiple_of(LANES))
            .map(|t| if t < k { ((t / (kh * kw) * hp + t % (kh * kw) / kw) * wp + t % kw) as i32 } else { 0 })
            .collect();
        let positions = (0..oh).flat_map(|i| (0..ow).map(move |j| (i * wp + j) as i32)).collect();
        WeightGrad { s, planes, dy, batch, taps, positions }
    }
}

impl WeightGrad<'_> {
    /// `dW` with the vectors across taps: blocks of up to 16 output channels
    /// × 16 taps, split over the threads (each block's sums whole on one).
    fn by_taps(&self, spare: &Spare) -> Vec<f32> {
        let (s, k) = (self.s, self.s.k());
        let rows = if s.cols <= 8 { 8 } else { 16 };
        let vectors = k.div_ceil(LANES);
        let blocks = s.cols.div_ceil(rows) * vectors;
        let per = blocks.div_ceil(rayon::current_num_threads().max(1)).max(1);
        let mut sums = spare.take(blocks * rows * LANES);
        parallel::parts_mut(&mut sums, per * rows * LANES, |part, mine| {
            for (i, out) in mine.chunks_mut(rows * LANES).enumerate() {
                let block = part * per + i;
                self.block(block / vectors * rows, block % vectors * LANES, out);
            }
        });
        let mut dw = spare.take(s.cols * k);
        for (o, row) in dw.chunks_mut(k).enumerate() {
            for (t, v) in row.iter_mut().enumerate() {
                *v = sums[((o / rows * vectors + t / LANES) * rows + o % rows) * LANES + t % LANES];
            }
        }
        spare.give([sums]);
        dw
    }
}

/// From this many output channels on, `dW`'s vectors run across output
/// channels (16 a vector) instead of taps: one load of the output gradients
/// and one broadcast input per 16 sums, no gather.
const CHANNELS_IN_LANES: usize = 12;
/// Taps per block of the channels-in-lanes kernel: 8 sums in registers,
/// whose plane offsets stay in registers too.
const TAPS: usize = 8;

impl WeightGrad<'_> {
    /// `dW` with the vectors across output channels: blocks of 16 channels ×
    /// [`TAPS`] taps, split over the threads.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn by_channels(&self, spare: &Spare) -> Vec<f32> {
        let (cols, k, positions) = (self.s.cols, self.s.k(), self.positions.len());
        // The output gradients channel-last, `[batch][positions][cols]`, then
        // a vector of slack for the last 16 channels' load.
        let mut dyt = spare.take(self.dy.len() + LANES);
        let (body, slack) = dyt.split_at_mut(self.dy.len());
        super::kernels::transpose_into(self.dy, cols, positions, body);
        slack.fill(0.0);
        let tap_blocks = k.div_ceil(TAPS);
        let blocks = cols.div_ceil(LANES) * tap_blocks;
        let per = blocks.div_ceil(rayon::current_num_threads().max(1)).max(1);
        const BLOCK: usize = TAPS * LANES;
        let mut sums = spare.take(blocks * BLOCK);
        parallel::parts_mut(&mut sums, per * BLOCK, |part, mine| {
            for (i, out) in mine.chunks_mut(BLOCK).enumerate() {
                let block = part * per + i;
                let (o0, t0) = (block / tap_blocks * LANES, block % tap_blocks * TAPS);
                let out: &mut [f32; BLOCK] = out.try_into().expect("a block");
                // SAFETY: the caller's AVX-512F; the reads are checked inside.
                unsafe { self.channels_avx512(&dyt, o0, t0, out) };
            }
        });
        let mut dw = spare.take(cols * k);
        for (o, row) in dw.chunks_mut(k).enumerate() {
            for (t, v) in row.iter_mut().enumerate() {
                *v = sums[(o / LANES * tap_blocks + t / TAPS) * BLOCK + t % TAPS * LANES + o % LANES];
            }
        }
        spare.give([dyt, sums]);
        dw
    }

    /// The sums of output channels `o0..o0 + 16` (those past `cols` are
    /// garbage) and taps `t0..t0 + 8` (those past `k` read offset 0), into
    /// `out` (`[8][16]`): per position, one load of the 16 channels' output
    /// gradients and one broadcast input per tap.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `dyt` is `dy` channel-last with 16 values of slack.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn channels_avx512(&self, dyt: &[f32], o0: usize, t0: usize, out: &mut [f32; TAPS * LANES]) {
        use std::arch::x86_64::*;
        let (plane_len, positions, cols, k) = (self.s.plane_len(), self.positions.len(), self.s.cols, self.s.k());
        let offs: [usize; TAPS] = std::array::from_fn(|t| if t0 + t < k { self.taps[t0 + t] as usize } else { 0 });
        let last = self.positions.last().copied().unwrap_or(0) as usize + offs.iter().max().copied().unwrap_or(0);
        assert!(positions == 0 || last < plane_len, "conv_grad: planes");
        assert!(self.planes.len() >= self.batch * plane_len, "conv_grad: planes");
        assert!(dyt.len() >= self.batch * positions * cols + LANES && o0 < cols, "conv_grad: output gradients");
        let mut acc = [_mm512_setzero_ps(); TAPS];
        for b in 0..self.batch {
            // SAFETY (the block): the reads checked above.
            unsafe {
                let plane = self.planes.as_ptr().add(b * plane_len);
                let dy = dyt.as_ptr().add(b * positions * cols + o0);
                for (p, &at) in self.positions.iter().enumerate() {
                    let d = _mm512_loadu_ps(dy.add(p * cols));
                    let x = plane.add(at as usize);
                    for (acc, off) in acc.iter_mut().zip(&offs) {
                        *acc = _mm512_fmadd_ps(d, _mm512_set1_ps(*x.add(*off)), *acc);
                    }
                }
            }
        }
        for (t, acc) in acc.iter().enumerate() {
            // SAFETY: inside `out`.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(t * LANES), *acc) };
        }
    }

    /// The sums of output channels `o0..` (as many as `out` has rows of 16,
    /// those past `cols` left as they are) and taps `t0..t0 + 16`, into
    /// `out` (`[rows][16]`).
    fn block(&self, o0: usize, t0: usize, out: &mut [f32]) {
        let rows = (out.len() / LANES).min(self.s.cols - o0);
        assert!(self.taps.len() >= t0 + LANES, "conv_grad: taps");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the reads are checked inside.
            return unsafe {
                match out.len() / LANES {
                    8 => self.block_avx512::<8>(o0, rows, t0, out),
                    _ => self.block_avx512::<16>(o0, rows, t0, out),
                }
            };
        }
        self.block_portable(o0, rows, t0, out);
    }

    fn block_portable(&self, o0: usize, rows: usize, t0: usize, out: &mut [f32]) {
        let (plane_len, positions) = (self.s.plane_len(), self.positions.len());
        let k = self.s.k();
        for r in 0..rows {
            for l in 0..LANES {
                let mut acc = 0.0f32;
                for b in 0..self.batch {
                    let plane = &self.planes[b * plane_len..][..plane_len];
                    let dy = &self.dy[(b * self.s.cols + o0 + r) * positions..][..positions];
                    for (p, d) in self.positions.iter().zip(dy) {
                        let x = if t0 + l < k { plane[(p + self.taps[t0 + l]) as usize] } else { 0.0 };
                        acc = x.mul_add(*d, acc);
                    }
                }
                out[r * LANES + l] = acc;
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; `out` holds `R` rows of 16; `rows <= R`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn block_avx512<const R: usize>(&self, o0: usize, rows: usize, t0: usize, out: &mut [f32]) {
        use std::arch::x86_64::*;
        let (plane_len, positions, cols) = (self.s.plane_len(), self.positions.len(), self.s.cols);
        let k = self.s.k();
        // Every gathered tap (offset + position) is inside its plane; every
        // output gradient read is inside `dy`.
        let last = self.positions.last().copied().unwrap_or(0) + self.taps[..k].iter().max().copied().unwrap_or(0);
        assert!(positions == 0 || (last as usize) < plane_len, "conv_grad: planes");
        assert!(self.planes.len() >= self.batch * plane_len && self.dy.len() >= self.batch * cols * positions);
        assert!(out.len() >= R * LANES && (1..=R).contains(&rows) && o0 + rows <= cols, "conv_grad: block");
        let live: __mmask16 = if t0 + LANES <= k { !0 } else { (1 << (k - t0)) - 1 };
        // SAFETY (every block below): the CPU's AVX-512F; gathers of the
        // live lanes at offsets inside the plane, reads inside `dy` (both
        // checked above); writes inside `out`.
        let taps = unsafe { _mm512_loadu_si512(self.taps.as_ptr().add(t0).cast()) };
        // The rows past `cols` repeat the last one: all `R` sums run (the
        // loops unroll, the sums stay in registers), the extra ones unstored.
        let row: [usize; R] = std::array::from_fn(|r| r.min(rows - 1) * positions);
        let mut acc = [_mm512_setzero_ps(); R];
        for b in 0..self.batch {
            let plane = unsafe { self.planes.as_ptr().add(b * plane_len) };
            let dy = unsafe { self.dy.as_ptr().add((b * cols + o0) * positions) };
            for (p, &at) in self.positions.iter().enumerate() {
                let idx = _mm512_add_epi32(taps, _mm512_set1_epi32(at));
                let x = unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), live, idx, plane) };
                for (acc, row) in acc.iter_mut().zip(&row) {
                    let d = _mm512_set1_ps(unsafe { *dy.add(row + p) });
                    *acc = _mm512_fmadd_ps(x, d, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(rows) {
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(r * LANES), *acc) };
        }
    }
}

/// `dX` `[batch][c·h·w]` of a batch: `w` the weights `[cols][c][kh][kw]`,
/// `dy` the output gradients `[batch][cols][oh·ow]`.
pub fn input_grad(s: &Shape, w: &[f32], dy: &[f32], spare: &Spare) -> Vec<f32> {
    let ([oh, ow], size) = (s.out(), s.channels * s.height * s.width);
    let per = s.cols * oh * ow;
    assert!(w.len() == s.cols * s.k(), "conv_grad: weights");
    let blocks = by_channel_blocks(s, w);
    let mut dx = spare.take(dy.len() / per.max(1) * size);
    parallel::chunks_mut(&mut dx, size.max(1), |b, dxb| {
        let dy = &dy[b * per..][..per];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; `dy` and `dxb` have one sample's sizes.
            return unsafe { input_grad_avx512(s, &blocks, dy, dxb) };
        }
        input_grad_portable(s, w, dy, dxb);
    });
    dx
}

/// Input channels per block of the `dX` kernel: one load of an output
/// gradient feeds each channel's own sum (independent sums, whose latencies
/// overlap).
const CHANNELS: usize = 8;

/// The weights by blocks of [`CHANNELS`] input channels, each
/// `[kh][kw][cols][CHANNELS]`: the 8 weights one output gradient meets, side
/// by side; a block's channels past `c` repeat its last.
fn by_channel_blocks(s: &Shape, w: &[f32]) -> Vec<f32> {
    let ([kh, kw], c, cols) = (s.kernel, s.channels, s.cols);
    let mut out = Vec::with_capacity(c.div_ceil(CHANNELS) * kh * kw * cols * CHANNELS);
    for ch0 in (0..c).step_by(CHANNELS) {
        let last = (c - ch0).min(CHANNELS) - 1;
        for tap in 0..kh * kw {
            for o in 0..cols {
                out.extend((0..CHANNELS).map(|n| w[(o * c + ch0 + n.min(last)) * kh * kw + tap]));
            }
        }
    }
    out
}

/// The positions that read input `r` (or `c`) along an axis through taps
/// `u` in descending order: `(u, r + before − u)` inside `0..out`.
fn readers(r: usize, before: usize, taps: usize, out: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..taps).rev().filter_map(move |u| (r + before).checked_sub(u).filter(|i| *i < out).map(|i| (u, i)))
}

fn input_grad_portable(s: &Shape, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let ([oh, ow], [kh, kw], (h, wd)) = (s.out(), s.kernel, (s.height, s.width));
    let [[top, _], [left, _]] = s.padding;
    for ch in 0..s.channels {
        for r in 0..h {
            for c in 0..wd {
                let mut acc = 0.0f32;
                for (u, i) in readers(r, top, kh, oh) {
                    for (v, j) in readers(c, left, kw, ow) {
                        let mut dp = 0.0f32;
                        for o in 0..s.cols {
                            dp = w[((o * s.channels + ch) * kh + u) * kw + v].mul_add(dy[(o * oh + i) * ow + j], dp);
                        }
                        acc += dp;
                    }
                }
                dx[(ch * h + r) * wd + c] = acc;
            }
        }
    }
}

/// # Safety
/// The CPU has AVX-512F; `blocks` is [`by_channel_blocks`]'s, `dy` and `dx`
/// hold one sample's output gradients and inputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn input_grad_avx512(s: &Shape, blocks: &[f32], dy: &[f32], dx: &mut [f32]) {
    use std::arch::x86_64::*;
    let ([oh, ow], [kh, kw], (h, wd), c, cols) = (s.out(), s.kernel, (s.height, s.width), s.channels, s.cols);
    let [[top, _], [left, _]] = s.padding;
    assert!(blocks.len() == c.div_ceil(CHANNELS) * kh * kw * cols * CHANNELS, "conv_grad: weights");
    assert!(dy.len() == cols * oh * ow && dx.len() == c * h * wd, "conv_grad: sample");
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for ch0 in (0..c).step_by(CHANNELS) {
        let chans = CHANNELS.min(c - ch0);
        let block = &blocks[ch0 / CHANNELS * kh * kw * cols * CHANNELS..][..kh * kw * cols * CHANNELS];
        for r in 0..h {
            for c0 in (0..wd).step_by(LANES) {
                let tail: __mmask16 = if c0 + LANES <= wd { !0 } else { (1 << (wd - c0)) - 1 };
                let mut acc = [_mm512_setzero_ps(); CHANNELS];
                for (u, i) in readers(r, top, kh, oh) {
                    for v in (0..kw).rev() {
                        // Lane `l` reads output column `c0 + l + left − v`, if inside `0..ow`.
                        let j0 = (c0 + left) as i32 - v as i32;
                        let j = _mm512_add_epi32(lane, _mm512_set1_epi32(j0));
                        let inside = _mm512_mask_cmpge_epi32_mask(tail, j, _mm512_setzero_si512())
                            & _mm512_cmplt_epi32_mask(j, _mm512_set1_epi32(ow as i32));
                        if inside == 0 {
                            continue;
                        }
                        let taps = block[(u * kw + v) * cols * CHANNELS..][..cols * CHANNELS].as_ptr();
                        let mut dp = [_mm512_setzero_ps(); CHANNELS];
                        for o in 0..cols {
                            // SAFETY: only the lanes inside the row are read
                            // (masked loads do not touch the others); the
                            // `CHANNELS` weights of `o` are inside the block.
                            let row = dy.as_ptr().wrapping_add((o * oh + i) * ow).wrapping_offset(j0 as isize);
                            let d = unsafe { _mm512_maskz_loadu_ps(inside, row) };
                            for (n, dp) in dp.iter_mut().enumerate() {
                                *dp = _mm512_fmadd_ps(_mm512_set1_ps(unsafe { *taps.add(o * CHANNELS + n) }), d, *dp);
                            }
                        }
                        for (acc, dp) in acc.iter_mut().zip(&dp) {
                            *acc = _mm512_mask_add_ps(*acc, inside, *acc, *dp);
                        }
                    }
                }
                for (n, acc) in acc.iter().enumerate().take(chans) {
                    // SAFETY: the tail's lanes are inside row `r` of channel `ch0 + n` of `dx`.
                    unsafe { _mm512_mask_storeu_ps(dx.as_mut_ptr().add(((ch0 + n) * h + r) * wd + c0), tail, *acc) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::tests::values;
    use crate::train::kernels;

    /// Shapes with padding on some sides (wider than the kernel on one),
    /// widths past 16, 1-row planes (conv1d), channel counts past a block,
    /// LeNet-5's two, and batches of one and more.
    fn cases() -> Vec<(Shape, usize)> {
        let mut v = Vec::new();
        for (channels, height, width, padding, kernel, cols, batch) in [
            (1, 28, 28, [[2, 2], [2, 2]], [5, 5], 6, 3),
            (6, 14, 14, [[0, 0], [0, 0]], [5, 5], 16, 2),
            (3, 7, 19, [[1, 0], [0, 2]], [3, 3], 17, 3),
            (2, 6, 5, [[0, 0], [1, 4]], [2, 3], 7, 1),
            (4, 1, 13, [[0, 0], [1, 1]], [1, 3], 1, 4),
            (1, 1, 1, [[0, 0], [0, 0]], [1, 1], 3, 2),
        ] {
            v.push((Shape { channels, height, width, padding, kernel, cols }, batch));
        }
        v
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    /// The patch path's bits (im2col, then the matrix products and col2im),
    /// for whichever kernels this CPU runs, on 1 and 3 threads.
    #[test]
    fn gradients_are_the_patch_paths_bits() {
        for (s, batch) in cases() {
            let [oh, ow] = s.out();
            let (rows, k, positions) = (s.cols, s.k(), oh * ow);
            let x = values(batch * s.channels * s.height * s.width, 3);
            let w = values(rows * k, 5);
            let mut dy = values(batch * rows * positions, 7);
            dy[0] = -0.0;
            let win = Window { kernel: s.kernel, stride: [1, 1], padding: s.padding };
            let spare = Spare::default();
            let plane = [s.channels, s.height, s.width];
            let patches = kernels::im2col(&x, &plane, &win, &spare);
            let dyt = kernels::channels_first(&dy, batch, rows, positions, &spare);
            let want_dw = kernels::weight_grad(&dyt, rows, &patches, k, 1, &spare);
            let dy_rows = kernels::transpose_blocks(&dy, rows, positions, &spare);
            let dp = kernels::input_grad(&dy_rows, rows, &w, k, 1, &spare);
            let want_dx = kernels::col2im(&dp, &plane, &win);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let spare = Spare::default();
                spare.give([vec![f32::NAN; want_dw.len()], vec![f32::NAN; want_dx.len()]]);
                let (dw, dx) = pool.install(|| (weight_grad(&s, &x, &dy, &spare), input_grad(&s, &w, &dy, &spare)));
                assert_eq!(bits(&dw), bits(&want_dw), "dW {s:?}");
                assert_eq!(bits(&dx), bits(&want_dx), "dX {s:?}");
            }
        }
    }

    /// The portable kernels give the same bits, so a CPU without AVX-512
    /// would too.
    #[test]
    fn portable_kernels_give_the_same_bits() {
        for (s, batch) in cases() {
            let [oh, ow] = s.out();
            let positions = oh * ow;
            let size = s.channels * s.height * s.width;
            let x = values(batch * size, 11);
            let w = values(s.cols * s.k(), 13);
            let dy = values(batch * s.cols * positions, 17);
            let spare = Spare::default();
            let fast_dw = weight_grad(&s, &x, &dy, &spare);
            let fast_dx = input_grad(&s, &w, &dy, &spare);

            let (g, k) = (WeightGrad::new(&s, &x, &dy, &spare), s.k());
            for o in 0..s.cols {
                for t0 in (0..k).step_by(LANES) {
                    let mut out = [0.0f32; LANES];
                    g.block_portable(o, 1, t0, &mut out);
                    let n = LANES.min(k - t0);
                    assert_eq!(bits(&out[..n]), bits(&fast_dw[o * k + t0..][..n]), "dW {s:?}");
                }
            }
            for b in 0..batch {
                let mut dx = vec![f32::NAN; size];
                input_grad_portable(&s, &w, &dy[b * s.cols * positions..][..s.cols * positions], &mut dx);
                assert_eq!(bits(&dx), bits(&fast_dx[b * size..][..size]), "dX {s:?}");
            }
        }
    }
}
