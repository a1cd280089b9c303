//! The host FP32 GEMM, of the JIT's `--kernels native` and of training's
//! fast path: packed panels of 8 columns ([`pack`]), each lane summing its
//! own dot product in `k` order, `s = fma(w, x, s)`, so the bits are the
//! interpreter's; only the number of sums run side by side changes with the
//! vector width. With AVX-512 a block is 12 rows × 2 pairs of panels, each
//! pair one 16-lane register (24 accumulators of the 32 registers); with
//! AVX2 and FMA, 4 rows × 2 panels of 8 lanes. Without FMA instructions the
//! portable kernel runs, each fused multiply-add a call to libm's `fmaf`.

#[cfg(target_arch = "x86_64")]
use super::lanes::Lanes;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

/// Columns per packed panel: one 8-lane vector.
pub const PANEL: usize = 8;

/// `gemm(x, rows, k, w, panels, tile)`: [`gemm_f32`].
pub const GEMM: &str = "analogc_gemm_f32";
/// `gemm_tiles(x, rows, k, w, panels, out, n)`: [`gemm_f32_tiles`].
pub const GEMM_TILES: &str = "analogc_gemm_f32_tiles";

/// `tile[r][c] = Σ_k w[c][k]·x[r][k]` for `r < rows` and every column of
/// `panels` packed panels, each sum in `k` order from 0.
///
/// # Safety
/// `x` holds `rows·k` values, `w` the packed panels, `tile` `rows·panels·8`.
pub unsafe extern "C" fn gemm_f32(x: *const f32, rows: u64, k: u64, w: *const f32, panels: u64, tile: *mut f32) {
    let g = Gemm::packed(x, rows as usize, k as usize, w, panels as usize);
    // SAFETY: the caller's contract.
    unsafe { g.run(0, k as usize, tile) };
}

/// The sums of each block of `n` along `k` on its own: `out[t][r][c] =
/// Σ_{j ∈ t·n .. min(t·n + n, k)} w[c][j]·x[r][j]`, each in `k` order (the
/// tiles of ABFP).
///
/// # Safety
/// As [`gemm_f32`], with `out` holding `⌈k/n⌉·rows·panels·8` values.
pub unsafe extern "C" fn gemm_f32_tiles(
    x: *const f32,
    rows: u64,
    k: u64,
    w: *const f32,
    panels: u64,
    out: *mut f32,
    n: u64,
) {
    let g = Gemm::packed(x, rows as usize, k as usize, w, panels as usize);
    let n = n as usize;
    for (t, lo) in (0..g.k).step_by(n).enumerate() {
        // SAFETY: the caller's contract; tile `t` is inside `out`.
        unsafe { g.run(lo, n.min(g.k - lo), out.add(t * g.rows * g.panels * PANEL)) };
    }
}

/// `w` (`[cols][k]`, row-major) packed in panels of [`PANEL`] columns,
/// `[⌈cols/8⌉][k][8]`, the missing columns of the last panel zero.
pub fn pack(w: &[f32], cols: usize) -> Vec<f32> {
    let k = w.len() / cols.max(1);
    let panels = cols.div_ceil(PANEL);
    let mut out = vec![0.0f32; panels * k * PANEL];
    for (p, panel) in out.chunks_mut(k * PANEL).enumerate() {
        pack_panel(w, k, cols, p, panel);
    }
    out
}

/// Panel `p` of [`pack`], `[k][8]`: its rows of `w` transposed.
pub fn pack_panel(w: &[f32], k: usize, cols: usize, p: usize, panel: &mut [f32]) {
    let lanes = PANEL.min(cols - p * PANEL);
    if lanes < PANEL {
        panel.fill(0.0);
    }
    super::transpose::transpose(&w[p * PANEL * k..], k, lanes, k, panel, PANEL);
}

/// `m` (`[k][cols]`, row-major: column `c` strided) packed as [`pack`]
/// packs its transpose.
pub fn pack_transposed(m: &[f32], cols: usize) -> Vec<f32> {
    pack_columns(m, cols, 0..cols)
}

/// Columns `range` of `m` (`[k][cols]`) packed as [`pack_transposed`] packs
/// them all.
pub fn pack_columns(m: &[f32], cols: usize, range: std::ops::Range<usize>) -> Vec<f32> {
    let k = m.len() / cols.max(1);
    let width = range.len();
    let panels = width.div_ceil(PANEL);
    let mut out = vec![0.0f32; panels * k * PANEL];
    for j in 0..k {
        let row = &m[j * cols + range.start..][..width];
        for p in 0..panels {
            let lanes = PANEL.min(width - p * PANEL);
            out[(p * k + j) * PANEL..][..lanes].copy_from_slice(&row[p * PANEL..][..lanes]);
        }
    }
    out
}

/// `y[r][c] = Σ_j w[c][j]·x[r][j]` for the `rows` rows of `x` (`[rows][k]`)
/// and the `cols` columns of `packed` ([`pack`]), each sum in `j` order from
/// 0: the interpreter's bits. `y` is `[rows][cols]`.
pub fn gemm(x: &[f32], k: usize, packed: &[f32], cols: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len() / k.max(1) * cols];
    gemm_into(x, k, packed, cols, &mut y);
    y
}

/// [`gemm`] written into `y` (`[rows][cols]`, every value overwritten).
pub fn gemm_into(x: &[f32], k: usize, packed: &[f32], cols: usize, y: &mut [f32]) {
    let rows = x.len() / k.max(1);
    let panels = cols.div_ceil(PANEL);
    assert!(x.len() == rows * k && packed.len() == panels * k * PANEL && y.len() == rows * cols, "gemm: operand sizes");
    // SAFETY: the sizes are checked above.
    unsafe { Gemm::packed(x.as_ptr(), rows, k, packed.as_ptr(), panels).run_into(cols, y) };
}

/// [`gemm_into`] with the first `cols` columns of `m` (`[k][m_cols]`,
/// row-major) read in place as the packed operand, each panel 8 consecutive
/// columns: `y[r][c] = Σ_j m[j][c]·x[r][j]`, each sum in `j` order from 0.
/// The last panel's lanes past `cols` read the values after them, so `m`
/// must hold `(k − 1)·m_cols + ⌈cols/8⌉·8` values; their sums are dropped.
pub fn gemm_columns_into(x: &[f32], k: usize, m: &[f32], m_cols: usize, cols: usize, y: &mut [f32]) {
    let rows = x.len() / k.max(1);
    let panels = cols.div_ceil(PANEL);
    assert!(
        x.len() == rows * k
            && cols <= m_cols
            && y.len() == rows * cols
            && (k == 0 || m.len() >= (k - 1) * m_cols + panels * PANEL),
        "gemm_columns: operand sizes"
    );
    let g = Gemm { x: x.as_ptr(), rows, k, w: m.as_ptr(), panels, panel_stride: PANEL, step_stride: m_cols };
    // SAFETY: the sizes are checked above.
    unsafe { g.run_into(cols, y) };
}

/// The operands: `x` `[rows][k]`; `w` in panels of 8 lanes, lane `l` of
/// panel `p` at step `j` at `w + p·panel_stride + j·step_stride + l`
/// (packed: `[panels][k][8]`, strides `8k` and 8).
struct Gemm {
    x: *const f32,
    rows: usize,
    k: usize,
    w: *const f32,
    panels: usize,
    panel_stride: usize,
    step_stride: usize,
}

impl Gemm {
    /// Packed panels ([`pack`]).
    fn packed(x: *const f32, rows: usize, k: usize, w: *const f32, panels: usize) -> Gemm {
        Gemm { x, rows, k, w, panels, panel_stride: k * PANEL, step_stride: PANEL }
    }
}

impl Gemm {
    /// The whole sums of the first `cols` columns into `y` (`[rows][cols]`,
    /// every value overwritten): straight into it when the panels fill it,
    /// else through a tile.
    ///
    /// # Safety
    /// The operands as the fields describe them; `y` holds `rows·cols` values.
    unsafe fn run_into(&self, cols: usize, y: &mut [f32]) {
        if self.k == 0 || self.rows == 0 {
            y.fill(0.0);
            return;
        }
        let width = self.panels * PANEL;
        if cols == width {
            // SAFETY: the caller's operands; `y` is the whole tile.
            unsafe { self.run(0, self.k, y.as_mut_ptr()) };
            return;
        }
        let mut tile = vec![0.0f32; self.rows * width];
        // SAFETY: the caller's operands.
        unsafe { self.run(0, self.k, tile.as_mut_ptr()) };
        y.chunks_mut(cols).zip(tile.chunks(width)).for_each(|(y, t)| y.copy_from_slice(&t[..cols]));
    }

    /// The sums over `lo..lo + len` into `tile` `[rows][panels·8]`.
    unsafe fn run(&self, lo: usize, len: usize, tile: *mut f32) {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                // SAFETY: the CPU has AVX-512F, VL, DQ and FMA; the caller's buffers.
                unsafe { blocked_avx512(self, lo, len, tile) };
                return;
            }
            if fma && std::arch::is_x86_feature_detected!("avx") {
                // SAFETY: the CPU has AVX and FMA; the caller's buffers.
                unsafe { blocked::<4, 2>(self, lo, len, tile) };
                return;
            }
        }
        // SAFETY: the caller's buffers.
        unsafe { self.portable(lo, len, tile) };
    }

    /// One lane at a time, the reference for the vector kernels.
    unsafe fn portable(&self, lo: usize, len: usize, tile: *mut f32) {
        let (k, panels) = (self.k, self.panels);
        for r in 0..self.rows {
            for p in 0..panels {
                let mut acc = [0.0f32; PANEL];
                for j in lo..lo + len {
                    for (lane, a) in acc.iter_mut().enumerate() {
                        // SAFETY: inside the operands.
                        let w = p * self.panel_stride + j * self.step_stride + lane;
                        *a = unsafe { (*self.w.add(w)).mul_add(*self.x.add(r * k + j), *a) };
                    }
                }
                // SAFETY: inside the tile.
                unsafe { std::ptr::copy_nonoverlapping(acc.as_ptr(), tile.add((r * panels + p) * PANEL), PANEL) };
            }
        }
    }
}

/// Blocks of 12 rows × 2 pairs of panels in 16-lane registers (then 4 rows
/// and single rows, 1 pair), the last panel of an odd count in 8 lanes.
/// Pairs outermost: a block's weights stay in cache while every row goes
/// past them. (Packed panels are not adjacent: each pair costs an insert
/// on the shuffle port, which the FMAs share; 12 rows amortize it over 24
/// FMAs. Measured on fc1 of the MNIST MLP: 84–85% of the FMA peak, against
/// 80–83% for 8 rows × 3 pairs and 70–76% for 16 rows × 1 pair.)
///
/// # Safety
/// The CPU must have AVX-512F, VL, DQ and FMA; the caller's buffers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma,avx512f,avx512vl,avx512dq")]
unsafe fn blocked_avx512(g: &Gemm, lo: usize, len: usize, tile: *mut f32) {
    let (rows, k, panels) = (g.rows, g.k, g.panels);
    let stride = panels * PANEL;
    let pairs = panels / 2;
    // Two panels side by side in memory (columns read in place) load as one vector.
    let adjacent = g.panel_stride == PANEL;
    let mut q = 0;
    while q < pairs {
        let width = (pairs - q).min(2);
        let mut r = 0;
        while r < rows {
            let n = rows_in_block(rows - r);
            // SAFETY: `r < rows`, pairs `q..q + width` inside `panels`,
            // `lo + len ≤ k`; each block reads `n` rows and `2·width` panels.
            unsafe {
                let x = g.x.add(r * k + lo);
                let w = (g.w.add(2 * q * g.panel_stride + lo * g.step_stride), g.panel_stride, g.step_stride);
                let t = tile.add((r * panels + 2 * q) * PANEL);
                macro_rules! go {
                    ($($n:literal, $q:literal);*) => {
                        match (n, width, adjacent) {
                            $(
                                ($n, $q, true) => block::<__m512, $n, $q, true>(x, k, len, w, t, stride),
                                ($n, $q, false) => block::<__m512, $n, $q, false>(x, k, len, w, t, stride),
                            )*
                            _ => unreachable!("blocks of 12, 4 or 1 rows and 1 or 2 pairs"),
                        }
                    };
                }
                go!(12, 2; 12, 1; 4, 2; 4, 1; 1, 2; 1, 1);
            }
            r += n;
        }
        q += width;
    }
    if panels % 2 == 1 {
        let p = panels - 1;
        let mut r = 0;
        while r < rows {
            let n = rows_in_block(rows - r);
            // SAFETY: as above, for the last panel.
            unsafe {
                let x = g.x.add(r * k + lo);
                let w = (g.w.add(p * g.panel_stride + lo * g.step_stride), g.panel_stride, g.step_stride);
                let t = tile.add((r * panels + p) * PANEL);
                match n {
                    12 => block::<__m256, 12, 1, false>(x, k, len, w, t, stride),
                    4 => block::<__m256, 4, 1, false>(x, k, len, w, t, stride),
                    _ => block::<__m256, 1, 1, false>(x, k, len, w, t, stride),
                }
            }
            r += n;
        }
    }
}

/// Rows in the AVX-512 kernel's next block when `left` remain: 12, then 4,
/// then one at a time.
#[cfg(target_arch = "x86_64")]
fn rows_in_block(left: usize) -> usize {
    match left {
        12.. => 12,
        4.. => 4,
        _ => 1,
    }
}

/// Blocks of `R` rows × `P` panels, then the leftover rows one at a time
/// and the leftover panels one at a time. Panels outermost: a block's
/// weights stay in cache while every row goes past them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
#[inline]
unsafe fn blocked<const R: usize, const P: usize>(g: &Gemm, lo: usize, len: usize, tile: *mut f32) {
    let (rows, k, panels) = (g.rows, g.k, g.panels);
    let (full_rows, full_panels) = (rows / R * R, panels / P * P);
    let stride = panels * PANEL;
    let mut p = 0;
    while p < panels {
        let mut r = 0;
        while r < rows {
            let rows_here = if r < full_rows { R } else { 1 };
            // SAFETY: `r < rows`, `p < panels`, `lo + len ≤ k`; each block
            // reads `rows_here` rows and P (or 1) panels from there. (No
            // closures here: they would not share the caller's wider
            // register file.)
            unsafe {
                let x = g.x.add(r * k + lo);
                let w = (g.w.add(p * g.panel_stride + lo * g.step_stride), g.panel_stride, g.step_stride);
                let t = tile.add((r * panels + p) * PANEL);
                match (rows_here == R, p < full_panels) {
                    (false, true) => block::<__m256, 1, P, false>(x, k, len, w, t, stride),
                    (false, false) => block::<__m256, 1, 1, false>(x, k, len, w, t, stride),
                    (true, true) => block::<__m256, R, P, false>(x, k, len, w, t, stride),
                    (true, false) => block::<__m256, R, 1, false>(x, k, len, w, t, stride),
                }
            }
            r += rows_here;
        }
        p += if p < full_panels { P } else { 1 };
    }
}

/// `R` rows × `Q` vectors of panels over `len` steps of `k` (a vector of
/// `L` spans `L::LANES / 8` panels: one with AVX2, a pair with AVX-512,
/// `ADJACENT` when a pair is 16 consecutive floats): `R·Q` accumulators in
/// registers (the bounds are constants, so the loops unroll and nothing
/// spills), `s = fma(w, x, s)`. `k` is the stride of `x`'s rows; `w` comes
/// with its panel and step strides. Always inlined, so it is compiled with
/// its caller's features and register file.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block<L: Lanes, const R: usize, const Q: usize, const ADJACENT: bool>(
    x: *const f32,
    k: usize,
    len: usize,
    (w, panel_stride, step_stride): (*const f32, usize, usize),
    tile: *mut f32,
    stride: usize,
) {
    let per = L::LANES / PANEL;
    // SAFETY (every block below): the caller's features; panels `q·per ..`
    // have `k` steps of 8 lanes at their strides, row `i` holds `k` values,
    // and row `i`'s vector `q` is inside the tile.
    let mut acc = [[unsafe { L::zero() }; Q]; R];
    for j in 0..len {
        let mut wv = [unsafe { L::zero() }; Q];
        for (q, wv) in wv.iter_mut().enumerate() {
            *wv = unsafe { L::load_panels::<ADJACENT>(w.add(q * per * panel_stride + j * step_stride), panel_stride) };
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            let xs = unsafe { L::splat(*x.add(i * k + j)) };
            for (a, wv) in acc.iter_mut().zip(&wv) {
                *a = unsafe { L::fma(*wv, xs, *a) };
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (q, a) in acc.iter().enumerate() {
            unsafe { a.store(tile.add(i * stride + q * L::LANES)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The safe entry packs and multiplies as the interpreter's dense layer sums.
    #[test]
    fn gemm_gives_the_interpreters_dense_bits() {
        let (rows, k, cols) = (5, 31, 19);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 337.0).collect();
        let w: Vec<f32> = (0..cols * k).map(|i| ((i * 104729 % 1000) as f32 - 500.0) / 211.0).collect();
        let y = gemm(&x, k, &pack(&w, cols), cols);
        for r in 0..rows {
            let want = crate::interp::ops::dense(&x[r * k..(r + 1) * k], &w, None);
            assert!(y[r * cols..(r + 1) * cols].iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    /// Columns read in place give the bits of the same columns packed.
    #[test]
    fn columns_in_place_match_packed_columns() {
        let (rows, k, m_cols) = (7, 13, 21);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 337.0).collect();
        let mut m: Vec<f32> = (0..k * m_cols).map(|i| ((i * 104729 % 1000) as f32 - 500.0) / 211.0).collect();
        m.extend([f32::NAN; PANEL]);
        for cols in [21, 16, 5] {
            let mut y = vec![0.0f32; rows * cols];
            gemm_columns_into(&x, k, &m, m_cols, cols, &mut y);
            let want = gemm(&x, k, &pack_columns(&m[..k * m_cols], m_cols, 0..cols), cols);
            assert!(y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{cols} columns");
        }
    }

    /// The vector kernels (whatever this CPU runs) against the portable one,
    /// bit for bit, with leftover rows and panels, whole and in tiles.
    #[test]
    fn vector_gemm_matches_the_portable_one() {
        for rows in [13, 16] {
            check(rows);
        }
    }

    /// 13 rows leave one after blocks of 6 (or 4); 16 leave a block of 4 after blocks of 6.
    fn check(rows: usize) {
        let (k, panels) = (29, 9);
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
        let w: Vec<f32> = (0..panels * k * PANEL).map(|_| next()).collect();
        let size = rows * panels * PANEL;
        let g = Gemm::packed(x.as_ptr(), rows, k, w.as_ptr(), panels);
        for (lo, len) in [(0, k), (0, 5), (10, 19), (28, 1)] {
            let (mut fast, mut slow) = (vec![0.0f32; size], vec![0.0f32; size]);
            // SAFETY: the buffers have the documented sizes.
            unsafe {
                g.run(lo, len, fast.as_mut_ptr());
                g.portable(lo, len, slow.as_mut_ptr());
            }
            assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()), "{lo}..+{len}");
            // The AVX2 kernel too, where the CPU would run the AVX-512 one.
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma") {
                let mut avx = vec![0.0f32; size];
                // SAFETY: the CPU has AVX and FMA; the buffers have the documented sizes.
                unsafe { blocked::<4, 2>(&g, lo, len, avx.as_mut_ptr()) };
                assert!(avx.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()), "AVX2 {lo}..+{len}");
            }
        }
        // Tiles of 8: four, the last of 5.
        let mut tiles = vec![0.0f32; 4 * size];
        // SAFETY: as above.
        unsafe { gemm_f32_tiles(x.as_ptr(), rows as u64, k as u64, w.as_ptr(), panels as u64, tiles.as_mut_ptr(), 8) };
        for (t, lo) in (0..k).step_by(8).enumerate() {
            let mut slow = vec![0.0f32; size];
            // SAFETY: as above.
            unsafe { g.portable(lo, 8.min(k - lo), slow.as_mut_ptr()) };
            assert!(tiles[t * size..][..size].iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
