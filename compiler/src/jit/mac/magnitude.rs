//! The host kernel of ordered accumulation in an order by magnitude
//! (`ascending`, `descending`), for `--kernels native`: each output orders
//! its own `k` products `p_j = w_j·x_j` as the interpreter's stable sort by
//! `|p|.total_cmp` does (`interp/mac.rs::order_of`), then folds them,
//! `s = clamp(leak·s + p, lo, hi)`.
//!
//! The order is that of the distinct keys `(m_j << 32) | j`, `m_j` the bits
//! of `|p_j|` (for non-negative floats, `total_cmp` is the order of their
//! bits; NaN's magnitude bits sort above infinity's), or `0x7fff_ffff − m_j`
//! for descending. Any sort of distinct keys gives the one stable order, so
//! the sort may be anything fast: a counting sort on the top bits of `m`
//! below the largest (`window`), then insertion sort on the whole keys,
//! which only moves keys that share a bucket. The fold runs 8 columns of
//! 4 rows at once, one lane per output, each in its own sorted order.

use super::geometry::PANEL;

/// `magnitude(x, rows, k, w, panels, tile, descending, lo, hi, leak)`.
pub const MAGNITUDE: &str = "analogc_magnitude_f32";

/// Rows folded at once (independent chains of the fold).
const ROWS: usize = 4;
/// Buckets of the counting sort, each `1 << SHIFT` magnitude bits wide: the
/// top `BUCKETS − 1` cover 8 octaves below the largest product; the rest
/// share bucket 0, which is sorted the same way on its own.
const BUCKETS: usize = 2048;
const SHIFT: u32 = 15;
/// Segments this short are sorted by insertion alone.
const SMALL: usize = 32;
/// Insertion sort gives up after this many moves per key (a bucket that
/// holds many keys) and leaves the segment to `sort_unstable`.
const MOVES_PER_KEY: usize = 4;

/// `tile[r][c]` = the fold, in magnitude order, of row `r`'s products with
/// column `c` of the packed panels (no bias).
///
/// # Safety
/// `x` holds `rows·k` values, `w` the packed panels `[panels][k][8]`, `tile`
/// `rows·panels·8`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn magnitude_f32(
    x: *const f32,
    rows: u64,
    k: u64,
    w: *const f32,
    panels: u64,
    tile: *mut f32,
    descending: u32,
    lo: f32,
    hi: f32,
    leak: f32,
) {
    let (rows, k, panels) = (rows as usize, k as usize, panels as usize);
    // SAFETY: the caller's buffers.
    let (x, w, tile) = unsafe {
        (
            std::slice::from_raw_parts(x, rows * k),
            std::slice::from_raw_parts(w, panels * k * PANEL),
            std::slice::from_raw_parts_mut(tile, rows * panels * PANEL),
        )
    };
    let fold = Fold { lo, hi, leak };
    let mut sorter = Sorter::new(k, descending != 0);
    // `[row of the block][t][lane]`: each output's products in its order.
    let mut sorted = vec![0.0f32; ROWS * k * PANEL];
    for p in 0..panels {
        let wp = &w[p * k * PANEL..(p + 1) * k * PANEL];
        for r0 in (0..rows).step_by(ROWS) {
            let n = ROWS.min(rows - r0);
            for i in 0..n {
                let xr = &x[(r0 + i) * k..(r0 + i + 1) * k];
                for lane in 0..PANEL {
                    let out = &mut sorted[i * k * PANEL..(i + 1) * k * PANEL];
                    sorter.order(|j| wp[j * PANEL + lane] * xr[j], |t, v| out[t * PANEL + lane] = v);
                }
            }
            let mut sums = [[0.0f32; PANEL]; ROWS];
            fold.run(&sorted, k, &mut sums[..n]);
            for (i, s) in sums[..n].iter().enumerate() {
                let at = ((r0 + i) * panels + p) * PANEL;
                tile[at..at + PANEL].copy_from_slice(s);
            }
        }
    }
}

/// Orders one output's products by magnitude; its buffers are kept from one
/// output to the next.
struct Sorter {
    descending: bool,
    products: Vec<f32>,
    keys: Vec<u64>,
    scratch: Vec<u64>,
    count: Vec<u32>,
}

impl Sorter {
    fn new(k: usize, descending: bool) -> Sorter {
        Sorter { descending, products: vec![0.0; k], keys: vec![0; k], scratch: vec![0; k], count: vec![0; BUCKETS] }
    }

    /// Computes the products `product(j)`, `j < k`, and passes them in
    /// their order to `put(t, p)`, `t = 0, 1, …`.
    fn order(&mut self, product: impl Fn(usize) -> f32, mut put: impl FnMut(usize, f32)) {
        let flip = if self.descending { 0x7fff_ffff } else { 0 };
        for (j, (p, key)) in self.products.iter_mut().zip(&mut self.keys).enumerate() {
            *p = product(j);
            let m = (p.to_bits() & 0x7fff_ffff) ^ flip;
            *key = ((m as u64) << 32) | j as u64;
        }
        sort(&mut self.keys, &mut self.scratch, &mut self.count);
        for (t, key) in self.keys.iter().enumerate() {
            put(t, self.products[*key as u32 as usize]);
        }
    }
}

/// Sorts distinct keys ascending.
fn sort(keys: &mut [u64], scratch: &mut [u64], count: &mut [u32]) {
    let n = keys.len();
    if n <= SMALL {
        insertion(keys);
        return;
    }
    // `bucket` is non-decreasing in the key, so buckets in order hold keys
    // in order; the largest key is in the top bucket, so bucket 0 is shorter
    // than `keys`.
    let top = (keys.iter().max().copied().unwrap_or(0) >> (32 + SHIFT)) as usize;
    let bucket = |key: u64| (BUCKETS - 1).saturating_sub(top - (key >> (32 + SHIFT)) as usize);
    count.fill(0);
    for key in keys.iter() {
        count[bucket(*key)] += 1;
    }
    let low = count[0] as usize;
    let mut start = 0;
    for c in count.iter_mut() {
        let n = *c;
        *c = start;
        start += n;
    }
    for key in keys.iter() {
        let b = bucket(*key);
        scratch[count[b] as usize] = *key;
        count[b] += 1;
    }
    keys.copy_from_slice(&scratch[..n]);
    sort(&mut keys[..low], scratch, count);
    if !bounded_insertion(&mut keys[low..]) {
        keys[low..].sort_unstable();
    }
}

fn insertion(keys: &mut [u64]) {
    for i in 1..keys.len() {
        let v = keys[i];
        let mut j = i;
        while j > 0 && keys[j - 1] > v {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = v;
    }
}

/// Insertion sort that stops after `MOVES_PER_KEY` moves per key; returns
/// whether it finished (the keys are then sorted).
fn bounded_insertion(keys: &mut [u64]) -> bool {
    let mut budget = MOVES_PER_KEY * keys.len();
    for i in 1..keys.len() {
        let v = keys[i];
        if keys[i - 1] < v {
            continue;
        }
        let mut j = i;
        while j > 0 && keys[j - 1] > v {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = v;
        budget = match budget.checked_sub(i - j) {
            Some(b) => b,
            None => return false,
        };
    }
    true
}

/// `s = clamp(leak·s + p, lo, hi)`, as `interp/mac.rs::accumulate`.
#[derive(Copy, Clone)]
struct Fold {
    lo: f32,
    hi: f32,
    leak: f32,
}

impl Fold {
    /// Folds each of `sums.len()` rows' `[k][8]` blocks of `sorted` into
    /// `sums[row][lane]`.
    fn run(self, sorted: &[f32], k: usize, sums: &mut [[f32; PANEL]]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512vl") {
                // SAFETY: the CPU has AVX-512VL.
                unsafe { self.avx512(sorted, k, sums) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx") {
                // SAFETY: the CPU has AVX.
                unsafe { self.avx(sorted, k, sums) };
                return;
            }
        }
        self.portable(sorted, k, sums);
    }

    /// One lane at a time, the reference for the vector folds.
    fn portable(self, sorted: &[f32], k: usize, sums: &mut [[f32; PANEL]]) {
        for (i, s) in sums.iter_mut().enumerate() {
            let block = &sorted[i * k * PANEL..(i + 1) * k * PANEL];
            *s = [0.0; PANEL];
            for step in block.chunks_exact(PANEL) {
                for (s, p) in s.iter_mut().zip(step) {
                    *s = (self.leak * *s + p).clamp(self.lo, self.hi);
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx,avx512f,avx512vl")]
    unsafe fn avx512(self, sorted: &[f32], k: usize, sums: &mut [[f32; PANEL]]) {
        // SAFETY: the caller's contract.
        unsafe { self.avx(sorted, k, sums) }
    }

    /// Every row's 8 lanes in one register; the rows' chains interleave.
    /// `clamp` as Rust's: `max_ps(lo, v)` is `lo` only when `lo > v` (NaN
    /// stays), `min_ps(hi, v)` is `hi` only when `hi < v`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    #[inline]
    unsafe fn avx(self, sorted: &[f32], k: usize, sums: &mut [[f32; PANEL]]) {
        use std::arch::x86_64::*;
        let (lo, hi, leak) = (_mm256_set1_ps(self.lo), _mm256_set1_ps(self.hi), _mm256_set1_ps(self.leak));
        let n = sums.len();
        assert!(n <= ROWS && sorted.len() >= n * k * PANEL);
        let mut acc = [_mm256_setzero_ps(); ROWS];
        for t in 0..k {
            for (i, s) in acc[..n].iter_mut().enumerate() {
                // SAFETY: `(i·k + t)·8 + 8 ≤ n·k·8 ≤ sorted.len()` (asserted).
                let p = unsafe { _mm256_loadu_ps(sorted.as_ptr().add((i * k + t) * PANEL)) };
                let v = _mm256_add_ps(_mm256_mul_ps(leak, *s), p);
                *s = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
            }
        }
        for (s, a) in sums.iter_mut().zip(&acc) {
            // SAFETY: `s` holds 8 floats.
            unsafe { _mm256_storeu_ps(s.as_mut_ptr(), *a) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analog_runtime::interp::mac::accumulate;
    use analog_runtime::ir::hardware::{Accumulate, Order};

    /// splitmix64.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Values with ties, zeros of both signs, magnitudes over many octaves
    /// and, with `special`, infinities and NaN.
    fn value(state: &mut u64, special: bool) -> f32 {
        let r = next(state);
        match r % 16 {
            0 => 0.0,
            1 => -0.0,
            2 => 0.25,
            3 => -0.25,
            4 if special => [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN][(r >> 8) as usize % 4],
            5 => f32::from_bits(((r >> 8) as u32 & 0x807f_ffff) | (((r >> 40) as u32 % 60 + 70) << 23)),
            _ => ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0,
        }
    }

    /// The kernel (whatever this CPU runs) against the interpreter's
    /// ordered sum, bit for bit (any NaN for NaN): both directions, clamps that bind and
    /// leaks, `k` below and above the counting sort's threshold, rows not
    /// a multiple of the fold's block and partly used panels.
    #[test]
    fn kernel_matches_the_interpreter() {
        let mut state = 5;
        for (k, rows, special) in [(1, 1, false), (7, 5, true), (33, 6, false), (100, 9, true), (785, 5, false)] {
            let panels = 3;
            let x: Vec<f32> = (0..rows * k).map(|_| value(&mut state, special)).collect();
            let w: Vec<f32> = (0..panels * k * PANEL).map(|_| value(&mut state, special)).collect();
            for order in [Order::Ascending, Order::Descending] {
                for (lo, hi, leak) in [(-1e30, 1e30, 1.0), (-0.7, 1.5, 0.9)] {
                    let mut tile = vec![0.0f32; rows * panels * PANEL];
                    let descending = (order == Order::Descending) as u32;
                    // SAFETY: the buffers have the documented sizes.
                    unsafe {
                        let (xp, wp, tp) = (x.as_ptr(), w.as_ptr(), tile.as_mut_ptr());
                        magnitude_f32(xp, rows as u64, k as u64, wp, panels as u64, tp, descending, lo, hi, leak);
                    }
                    let acc = Accumulate::Ordered { order, lo: lo as f64, hi: hi as f64, leak: leak as f64 };
                    for r in 0..rows {
                        for c in 0..panels * PANEL {
                            let (p, lane) = (c / PANEL, c % PANEL);
                            let products: Vec<f32> =
                                (0..k).map(|j| w[(p * k + j) * PANEL + lane] * x[r * k + j]).collect();
                            let want = accumulate(&acc, &products, None);
                            let got = tile[(r * panels + p) * PANEL + lane];
                            // NaN's payload is the product's, which the compiler may commute.
                            let same = got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan());
                            assert!(same, "k {k}, {order:?}, row {r}, column {c}: {got} against {want}");
                        }
                    }
                }
            }
        }
    }

    /// The sort against `sort_unstable` where the counting sort's buckets
    /// are crowded: keys far below the largest, many in one bucket, equal
    /// magnitudes.
    #[test]
    fn sort_orders_crowded_keys() {
        let mut state = 9;
        let cases: Vec<Vec<u32>> = vec![
            (0..500).map(|_| next(&mut state) as u32 & 0x7fff_ffff).collect(),
            (0..500)
                .map(|i| if i == 0 { 0x7f00_0000 } else { 0x3f80_0000 + (next(&mut state) as u32 & 0xff) })
                .collect(),
            (0..500).map(|i| if i % 3 == 0 { 0 } else { 0x3f80_0000 + (next(&mut state) as u32 & 0x7fff) }).collect(),
            (0..500).map(|_| 0x3f80_0000).collect(),
        ];
        for (c, mags) in cases.iter().enumerate() {
            let mut keys: Vec<u64> = mags.iter().enumerate().map(|(j, m)| ((*m as u64) << 32) | j as u64).collect();
            let mut want = keys.clone();
            want.sort_unstable();
            let (mut scratch, mut count) = (vec![0; keys.len()], vec![0; BUCKETS]);
            sort(&mut keys, &mut scratch, &mut count);
            assert_eq!(keys, want, "case {c}");
        }
    }

    /// The vector folds against the portable one, bit for bit.
    #[test]
    fn vector_fold_matches_the_portable_fold() {
        let mut state = 3;
        let k = 37;
        let sorted: Vec<f32> = (0..ROWS * k * PANEL).map(|_| value(&mut state, true)).collect();
        for n in 1..=ROWS {
            for fold in [Fold { lo: -0.5, hi: 0.8, leak: 0.95 }, Fold { lo: -1e30, hi: 1e30, leak: 1.0 }] {
                let (mut fast, mut slow) = (vec![[0.0f32; PANEL]; n], vec![[1.0f32; PANEL]; n]);
                fold.run(&sorted, k, &mut fast);
                fold.portable(&sorted, k, &mut slow);
                let bits = |v: &[[f32; PANEL]]| v.iter().flatten().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&slow), "{n} rows");
            }
        }
    }
}
