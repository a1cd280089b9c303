//! The host direct convolution (stride 1, one group), of the JIT's
//! `--kernels native`: no im2col copy, the vectors run across output
//! positions (16 per vector with AVX-512, 8 with AVX2) and the output
//! channels sit in registers (passes of up to 16 with AVX-512, 8 with AVX2),
//! so 6 or 16 channels waste no lanes. Each output's sum
//! runs over `k = (channel, row, column)` of its window in the
//! interpreter's order from 0, `s = fma(w, x, s)`, one fused multiply-add
//! per product: the interpreter's bits. Without FMA instructions the
//! portable kernel runs, each step a call to libm's `fmaf`.
//!
//! One sample at a time. Its input is first copied into a zero-bordered
//! plane `[c][hp][wp]`, so output `(i, j)` reads tap `(ch, u, v)` at
//! `ch·hp·wp + (i + u)·wp + j + v`: consecutive outputs of a row read
//! consecutive values. The kernel computes "output" `q = i·wp + j` for
//! every `q` of the flattened plane up to the last output, and the caller
//! keeps the columns `j < ow` of each row: row `i` of output channel `o` is
//! at `tile[o·stride + i·wp ..][..ow]` ([`Shape::tile_stride`]). The other
//! columns read past their row and hold no output.

use super::gemm::PANEL;
#[cfg(target_arch = "x86_64")]
use super::lanes::Lanes;
use crate::derived::window::Window;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

/// Positions per vector of the widest kernel (16 lanes of AVX-512): the tile's
/// rows are whole multiples of it, and the plane has that much slack.
const WIDEST: usize = 16;

/// `conv(x, c, h, w, top, bottom, left, right, kh, kw, cols, weights, plane, tile)`: [`conv_f32`].
pub const CONV: &str = "analogc_conv_f32";

/// A stride-1, one-group convolution of one `[channels][height][width]`
/// sample.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Zeros `[[top, bottom], [left, right]]` around the plane.
    pub padding: [[usize; 2]; 2],
    pub kernel: [usize; 2],
    /// Output channels.
    pub cols: usize,
}

impl Shape {
    /// A convolution of `win` over `[c, h, w]` inputs (`plane`) with `cols`
    /// output channels.
    pub fn of(plane: &[usize], win: &Window, cols: usize) -> Shape {
        Shape { channels: plane[0], height: plane[1], width: plane[2], padding: win.padding, kernel: win.kernel, cols }
    }

    /// The padded plane's rows and columns.
    pub fn padded(&self) -> [usize; 2] {
        let [[top, bottom], [left, right]] = self.padding;
        [self.height + top + bottom, self.width + left + right]
    }

    /// Output rows and columns.
    pub fn out(&self) -> [usize; 2] {
        let [hp, wp] = self.padded();
        [hp + 1 - self.kernel[0], wp + 1 - self.kernel[1]]
    }

    /// Reduction length of one output.
    pub fn k(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Elements between two output channels in the tile: the flattened
    /// positions up to the last output, in whole vectors of the widest kernel.
    pub fn tile_stride(&self) -> usize {
        let [oh, ow] = self.out();
        ((oh - 1) * self.padded()[1] + ow).next_multiple_of(WIDEST)
    }

    /// Elements of the tile: `cols · tile_stride`.
    pub fn tile_len(&self) -> usize {
        self.cols * self.tile_stride()
    }

    /// Elements of the zero-bordered plane, with the slack the last vector
    /// reads past it.
    pub fn plane_len(&self) -> usize {
        let [hp, wp] = self.padded();
        self.channels * hp * wp + WIDEST
    }
}

/// The sums of one sample: `tile[o·stride + i·wp + j] = Σ_t w[o][t]·x_t`
/// for output `(i, j)` (`j < ow`) of channel `o`, `t` over the window in
/// `k` order from 0 (no bias); `w` is packed in panels of 8 columns
/// (`gemm::pack`'s `[⌈cols/8⌉][k][8]`).
///
/// # Safety
/// `x` holds `c·h·w` values, `w` the packed panels, `plane`
/// [`Shape::plane_len`] and `tile` [`Shape::tile_len`] (both written).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn conv_f32(
    x: *const f32,
    c: u64,
    h: u64,
    w: u64,
    top: u64,
    bottom: u64,
    left: u64,
    right: u64,
    kh: u64,
    kw: u64,
    cols: u64,
    weights: *const f32,
    plane: *mut f32,
    tile: *mut f32,
) {
    let n = |v: u64| v as usize;
    let s = Shape {
        channels: n(c),
        height: n(h),
        width: n(w),
        padding: [[n(top), n(bottom)], [n(left), n(right)]],
        kernel: [n(kh), n(kw)],
        cols: n(cols),
    };
    // SAFETY: the caller's contract.
    unsafe {
        let x = std::slice::from_raw_parts(x, s.channels * s.height * s.width);
        fill_plane(&s, x, std::slice::from_raw_parts_mut(plane, s.plane_len()));
        run(&s, weights, plane, tile);
    }
}

/// `conv(x, shape, packed)` for one sample: the sums `[cols][oh·ow]`, no
/// bias, each in `k` order from 0 (the interpreter's bits).
pub fn conv(x: &[f32], s: &Shape, packed: &[f32]) -> Vec<f32> {
    let [oh, ow] = s.out();
    let mut out = vec![0.0f32; s.cols * oh * ow];
    let (mut plane, mut tile) = (vec![0.0f32; s.plane_len()], vec![0.0f32; s.tile_len()]);
    conv_into(x, s, packed, (&mut plane, &mut tile), &mut out);
    out
}

/// [`conv`] into `out` (`cols·oh·ow` values), with the caller's scratch
/// `plane` ([`Shape::plane_len`] values) and `tile` ([`Shape::tile_len`]),
/// whatever they hold.
pub fn conv_into(x: &[f32], s: &Shape, packed: &[f32], (plane, tile): (&mut [f32], &mut [f32]), out: &mut [f32]) {
    let [oh, ow] = s.out();
    assert!(x.len() == s.channels * s.height * s.width, "conv: input size");
    assert!(packed.len() == s.cols.div_ceil(PANEL) * s.k() * PANEL, "conv: packed weights");
    assert!(plane.len() == s.plane_len() && tile.len() == s.tile_len(), "conv: scratch");
    assert!(out.len() == s.cols * oh * ow, "conv: output size");
    fill_plane(s, x, plane);
    // SAFETY: the sizes are checked above.
    unsafe { run(s, packed.as_ptr(), plane.as_ptr(), tile.as_mut_ptr()) };
    compact(s, tile, out);
}

/// The outputs `[cols][oh·ow]` of a tile, into `out`.
fn compact(s: &Shape, tile: &[f32], out: &mut [f32]) {
    let ([oh, ow], wp, stride) = (s.out(), s.padded()[1], s.tile_stride());
    for (o, rows) in out.chunks_mut(oh * ow).enumerate() {
        for (i, row) in rows.chunks_mut(ow).enumerate() {
            row.copy_from_slice(&tile[o * stride + i * wp..][..ow]);
        }
    }
}

/// Copies `x` into the zero-bordered plane; the slack after it is zero too.
pub(crate) fn fill_plane(s: &Shape, x: &[f32], plane: &mut [f32]) {
    let ([hp, wp], [[top, _], [left, _]]) = (s.padded(), s.padding);
    let (h, w) = (s.height, s.width);
    plane.fill(0.0);
    for ch in 0..s.channels {
        for r in 0..h {
            plane[(ch * hp + top + r) * wp + left..][..w].copy_from_slice(&x[(ch * h + r) * w..][..w]);
        }
    }
}

/// The sums into `tile`, with the widest kernel this CPU runs.
///
/// # Safety
/// `w` the packed panels, `plane` [`Shape::plane_len`] values, `tile` [`Shape::tile_len`].
unsafe fn run(s: &Shape, w: *const f32, plane: *const f32, tile: *mut f32) {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::arch::is_x86_feature_detected!("fma");
        if fma && std::arch::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has AVX-512VL and FMA; the caller's buffers.
            unsafe { passes_avx512(s, w, plane, tile) };
            return;
        }
        if fma && std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX and FMA; the caller's buffers.
            unsafe { passes_avx(s, w, plane, tile) };
            return;
        }
    }
    // SAFETY: the caller's buffers.
    unsafe { portable(s, w, plane, tile) };
}

/// One output at a time, the reference for the vector kernels.
///
/// # Safety
/// As [`run`].
unsafe fn portable(s: &Shape, w: *const f32, plane: *const f32, tile: *mut f32) {
    let (k, stride, [hp, wp], [kh, kw]) = (s.k(), s.tile_stride(), s.padded(), s.kernel);
    for o in 0..s.cols {
        let wo = (o / PANEL * k) * PANEL + o % PANEL;
        for q in 0..stride {
            let mut acc = 0.0f32;
            let mut t = 0;
            for ch in 0..s.channels {
                for u in 0..kh {
                    for v in 0..kw {
                        // SAFETY: inside the panels; `q + …` is inside the plane and its slack.
                        acc = unsafe { (*w.add(wo + t * PANEL)).mul_add(*plane.add((ch * hp + u) * wp + v + q), acc) };
                        t += 1;
                    }
                }
            }
            // SAFETY: inside the tile.
            unsafe { *tile.add(o * stride + q) = acc };
        }
    }
}

/// Passes of at most `max` output channels (whole panels), each over the
/// flattened positions in blocks of vectors of `lanes` positions; `block`
/// runs `channels` channels × `vectors` vectors from a position.
#[cfg(target_arch = "x86_64")]
macro_rules! passes {
    ($name:ident, $feature:literal, $lanes:ty, $max:literal, $(($c:literal, $nv:literal)),+) => {
        /// # Safety
        /// As [`run`], on a CPU with the named features.
        #[target_feature(enable = $feature)]
        unsafe fn $name(s: &Shape, w: *const f32, plane: *const f32, tile: *mut f32) {
            let (k, stride) = (s.k(), s.tile_stride());
            let mut o = 0;
            while o < s.cols {
                let c = (s.cols - o).min($max);
                // SAFETY: channels `o..o + c` are whole panels from panel
                // `o / 8`, and their rows of the tile.
                let (w, tile) = unsafe { (w.add(o / PANEL * k * PANEL), tile.add(o * stride)) };
                match c {
                    $(
                        $c => {
                            let lanes = <$lanes as Lanes>::LANES;
                            let wide = stride / (lanes * $nv) * (lanes * $nv);
                            let mut q = 0;
                            while q < stride {
                                // SAFETY: `q` is a whole vector (or `$nv`) inside the tile.
                                unsafe {
                                    if q < wide {
                                        block::<$lanes, $c, $nv>(s, w, plane.add(q), tile.add(q));
                                        q += lanes * $nv;
                                    } else {
                                        block::<$lanes, $c, 1>(s, w, plane.add(q), tile.add(q));
                                        q += lanes;
                                    }
                                }
                            }
                        }
                    )+
                    _ => unreachable!("at most {} channels per pass", $max),
                }
                o += c;
            }
        }
    };
}

// Accumulators + one vector per position block + one broadcast weight fit
// the register file: 32 with AVX-512VL, 16 with AVX.
#[cfg(target_arch = "x86_64")]
passes!(
    passes_avx512,
    "avx,fma,avx512f,avx512vl",
    __m512,
    16,
    (1, 4),
    (2, 4),
    (3, 4),
    (4, 4),
    (5, 4),
    (6, 4),
    (7, 3),
    (8, 3),
    (9, 2),
    (10, 2),
    (11, 2),
    (12, 2),
    (13, 1),
    (14, 1),
    (15, 1),
    (16, 1)
);
#[cfg(target_arch = "x86_64")]
passes!(passes_avx, "avx,fma", __m256, 8, (1, 4), (2, 4), (3, 3), (4, 2), (5, 2), (6, 2), (7, 1), (8, 1));

/// `C` output channels × `V` vectors of `L::LANES` positions from `plane`'s
/// first: `C·V` accumulators in registers (the bounds are constants, so
/// those loops unroll), one input load per vector and one broadcast weight
/// per channel for each step of `k`. Always inlined, so it is compiled with
/// its caller's features (AVX and FMA at least) and register file.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block<L: Lanes, const C: usize, const V: usize>(s: &Shape, w: *const f32, plane: *const f32, tile: *mut f32) {
    let (k, stride, [hp, wp], [kh, kw]) = (s.k(), s.tile_stride(), s.padded(), s.kernel);
    // SAFETY (every block below): the caller's features; reads inside the
    // plane and its slack, channel `o`'s weight of step `t` in its panel,
    // writes to channel `o`'s row of the tile.
    let mut acc = [[unsafe { L::zero() }; C]; V];
    let mut t = 0;
    for ch in 0..s.channels {
        for u in 0..kh {
            let row = (ch * hp + u) * wp;
            for v in 0..kw {
                let mut xv = [unsafe { L::zero() }; V];
                for (n, xv) in xv.iter_mut().enumerate() {
                    *xv = unsafe { L::load(plane.add(row + v + n * L::LANES)) };
                }
                for o in 0..C {
                    let wb = unsafe { L::splat(*w.add((o / PANEL * k + t) * PANEL + o % PANEL)) };
                    for (acc, xv) in acc.iter_mut().zip(&xv) {
                        acc[o] = unsafe { L::fma(wb, *xv, acc[o]) };
                    }
                }
                t += 1;
            }
        }
    }
    for (n, acc) in acc.iter().enumerate() {
        for (o, a) in acc.iter().enumerate() {
            unsafe { a.store(tile.add(o * stride + n * L::LANES)) };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::interp::ops::patches;
    use crate::kernels::gemm;

    /// `n` pseudo-random values in `[−0.5, 0.5)` from `seed`.
    pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// Shapes with padding on some sides, widths that are no multiple of
    /// 8, 1-row planes (conv1d), and every channel count of a pass and past it.
    fn shapes() -> Vec<Shape> {
        let mut v = Vec::new();
        for cols in (1..=18).chain([24, 33]) {
            v.push(Shape { channels: 1, height: 9, width: 11, padding: [[2, 2], [2, 2]], kernel: [5, 5], cols });
        }
        for (channels, height, width, padding, kernel) in [
            (3, 7, 10, [[0, 0], [0, 0]], [3, 3]),
            (2, 6, 5, [[1, 0], [0, 2]], [2, 3]),
            (4, 1, 13, [[0, 0], [1, 1]], [1, 3]),
            (6, 14, 14, [[0, 0], [0, 0]], [5, 5]),
            (1, 1, 1, [[0, 0], [0, 0]], [1, 1]),
        ] {
            for cols in [1, 5, 6, 16] {
                v.push(Shape { channels, height, width, padding, kernel, cols });
            }
        }
        v
    }

    /// Against the interpreter's patches summed by the host GEMM (the
    /// im2col path), bit for bit.
    #[test]
    fn direct_convolution_matches_im2col_and_gemm() {
        for s in shapes() {
            let x = values(s.channels * s.height * s.width, 3);
            let w = values(s.cols * s.k(), 5);
            let packed = gemm::pack(&w, s.cols);
            let (p, positions, k) = patches(&x, &[s.channels, s.height, s.width], s.kernel, [1, 1], s.padding, 1);
            let rows = gemm::gemm(&p, k, &packed, s.cols);
            let want: Vec<f32> = (0..s.cols)
                .flat_map(|o| (0..positions).map(move |q| (o, q)))
                .map(|(o, q)| rows[q * s.cols + o])
                .collect();
            assert!(same(&conv(&x, &s, &packed), &want), "{s:?}");
        }
    }

    /// Each vector kernel this CPU has against the portable one, with
    /// inputs that include NaN and infinities.
    #[test]
    fn vector_convolution_matches_the_portable_one() {
        for s in shapes() {
            let mut x = values(s.channels * s.height * s.width, 11);
            x[0] = f32::INFINITY;
            if let Some(v) = x.get_mut(7) {
                *v = f32::NAN;
            }
            let packed = gemm::pack(&values(s.cols * s.k(), 13), s.cols);
            let mut plane = vec![0.0f32; s.plane_len()];
            fill_plane(&s, &x, &mut plane);
            let mut slow = vec![0.0f32; s.tile_len()];
            // SAFETY: the buffers have the documented sizes.
            unsafe { portable(&s, packed.as_ptr(), plane.as_ptr(), slow.as_mut_ptr()) };
            for (name, kernel) in vector_kernels() {
                let mut fast = vec![0.0f32; s.tile_len()];
                // SAFETY: as above, on a CPU with the kernel's features.
                unsafe { kernel(&s, packed.as_ptr(), plane.as_ptr(), fast.as_mut_ptr()) };
                assert!(same(&compacted(&s, &fast), &compacted(&s, &slow)), "{name}: {s:?}");
            }
        }
    }

    fn compacted(s: &Shape, tile: &[f32]) -> Vec<f32> {
        let [oh, ow] = s.out();
        let mut out = vec![0.0; s.cols * oh * ow];
        compact(s, tile, &mut out);
        out
    }

    type Kernel = unsafe fn(&Shape, *const f32, *const f32, *mut f32);

    /// The vector kernels this CPU runs.
    fn vector_kernels() -> Vec<(&'static str, Kernel)> {
        let mut v: Vec<(&'static str, Kernel)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx512vl") {
                v.push(("avx512", passes_avx512));
            }
            if fma && std::arch::is_x86_feature_detected!("avx") {
                v.push(("avx", passes_avx));
            }
        }
        v
    }
}
