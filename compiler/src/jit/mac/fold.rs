//! The host kernel of ordered accumulation in an order shared by every
//! output (natural, reversed, random, positive/negative first), for
//! `--kernels native`: `s = clamp(leak·s + w·x, lo, hi)` per product, each
//! lane folding its own dot product in the interpreter's order, so the
//! bits are the interpreter's (`interp/mac.rs::accumulate`). Sign orders
//! are two passes in natural order that skip the other sign's products,
//! as the stable sort by sign orders them.

use super::geometry::PANEL;

/// `fold(x, rows, k, w, panels, tile, perm, order, lo, hi, leak)`.
pub const FOLD: &str = "analogc_fold_f32";

/// `order` codes.
pub const NATURAL: u32 = 0;
pub const REVERSED: u32 = 1;
/// `perm` holds the chip's permutation.
pub const RANDOM: u32 = 2;
pub const POSITIVE_FIRST: u32 = 3;
pub const NEGATIVE_FIRST: u32 = 4;

/// Which products a pass folds (a `const` parameter of the kernels).
const ALL: u8 = 0;
/// `!(p < 0)`
const NOT_NEGATIVE: u8 = 1;
/// `p < 0`
const NEGATIVE: u8 = 2;
/// `!(p >= 0)`
const NOT_POSITIVE: u8 = 3;
/// `p >= 0`
const POSITIVE: u8 = 4;

struct Fold<'a> {
    idx: &'a [u32],
    passes: &'a [u8],
    lo: f32,
    hi: f32,
    leak: f32,
}

/// `tile[r][c]` = the ordered fold of row `r` against column `c` of the
/// packed panels (no bias).
///
/// # Safety
/// `x` holds `rows·k` values, `w` the packed panels, `tile` `rows·panels·8`,
/// and with `order == RANDOM` `perm` a permutation of `0..k`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fold_f32(
    x: *const f32,
    rows: u64,
    k: u64,
    w: *const f32,
    panels: u64,
    tile: *mut f32,
    perm: *const u32,
    order: u32,
    lo: f32,
    hi: f32,
    leak: f32,
) {
    let (rows, k, panels) = (rows as usize, k as usize, panels as usize);
    // SAFETY: with `RANDOM`, the caller's permutation of `0..k`.
    let perm = if order == RANDOM { unsafe { std::slice::from_raw_parts(perm, k) } } else { &[] };
    let (idx, passes) = plan(order, k, perm);
    let f = Fold { idx: &idx, passes, lo, hi, leak };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has AVX-512VL; buffers as documented.
            unsafe { fold_avx512(x, rows, k, w, panels, tile, &f) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX; buffers as documented.
            unsafe { blocked::<2, 2>(x, rows, k, w, panels, tile, &f) };
            return;
        }
    }
    // SAFETY: buffers as documented.
    unsafe { portable(x, rows, k, w, panels, tile, &f) };
}

/// The order's product indices, and its passes.
fn plan(order: u32, k: usize, perm: &[u32]) -> (Vec<u32>, &'static [u8]) {
    let idx = match order {
        REVERSED => (0..k as u32).rev().collect(),
        RANDOM => perm.to_vec(),
        _ => (0..k as u32).collect(),
    };
    let passes: &'static [u8] = match order {
        POSITIVE_FIRST => &[NOT_NEGATIVE, NEGATIVE],
        NEGATIVE_FIRST => &[NOT_POSITIVE, POSITIVE],
        _ => &[ALL],
    };
    (idx, passes)
}

/// One lane at a time, the reference for the vector kernels.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(p < 0)` keeps NaN products, as the stable sort does
unsafe fn portable(x: *const f32, rows: usize, k: usize, w: *const f32, panels: usize, tile: *mut f32, f: &Fold) {
    for r in 0..rows {
        for p in 0..panels {
            for lane in 0..PANEL {
                let mut s = 0.0f32;
                for &pass in f.passes {
                    for &j in f.idx {
                        let j = j as usize;
                        // SAFETY: inside the caller's buffers.
                        let prod = unsafe { *w.add((p * k + j) * PANEL + lane) * *x.add(r * k + j) };
                        let take = match pass {
                            NOT_NEGATIVE => !(prod < 0.0),
                            NEGATIVE => prod < 0.0,
                            NOT_POSITIVE => !(prod >= 0.0),
                            POSITIVE => prod >= 0.0,
                            _ => true,
                        };
                        if take {
                            s = (f.leak * s + prod).clamp(f.lo, f.hi);
                        }
                    }
                }
                // SAFETY: inside the tile.
                unsafe { *tile.add((r * panels + p) * PANEL + lane) = s };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx512f,avx512vl")]
unsafe fn fold_avx512(x: *const f32, rows: usize, k: usize, w: *const f32, panels: usize, tile: *mut f32, f: &Fold) {
    // SAFETY: the caller's contract; the wider register file is this function's.
    unsafe { blocked::<4, 4>(x, rows, k, w, panels, tile, f) }
}

/// Blocks of `R` rows × `P` panels, then leftover rows and panels one at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn blocked<const R: usize, const P: usize>(
    x: *const f32,
    rows: usize,
    k: usize,
    w: *const f32,
    panels: usize,
    tile: *mut f32,
    f: &Fold,
) {
    let (full_rows, full_panels) = (rows / R * R, panels / P * P);
    let stride = panels * PANEL;
    let mut p = 0;
    while p < panels {
        let mut r = 0;
        while r < rows {
            // SAFETY: `r < rows`, `p < panels`; a block reads R (or 1) rows
            // and P (or 1) panels from there.
            unsafe {
                let (x, w, t) = (x.add(r * k), w.add(p * k * PANEL), tile.add((r * panels + p) * PANEL));
                match (r < full_rows, p < full_panels) {
                    (true, true) => block::<R, P>(x, k, w, t, stride, f),
                    (true, false) => block::<R, 1>(x, k, w, t, stride, f),
                    (false, true) => block::<1, P>(x, k, w, t, stride, f),
                    (false, false) => block::<1, 1>(x, k, w, t, stride, f),
                }
            }
            r += if r < full_rows { R } else { 1 };
        }
        p += if p < full_panels { P } else { 1 };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn block<const R: usize, const P: usize>(
    x: *const f32,
    k: usize,
    w: *const f32,
    tile: *mut f32,
    stride: usize,
    f: &Fold,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); P]; R];
    for &pass in f.passes {
        // SAFETY: as the caller's.
        unsafe {
            match pass {
                NOT_NEGATIVE => run::<R, P, NOT_NEGATIVE>(&mut acc, x, k, w, f),
                NEGATIVE => run::<R, P, NEGATIVE>(&mut acc, x, k, w, f),
                NOT_POSITIVE => run::<R, P, NOT_POSITIVE>(&mut acc, x, k, w, f),
                POSITIVE => run::<R, P, POSITIVE>(&mut acc, x, k, w, f),
                _ => run::<R, P, ALL>(&mut acc, x, k, w, f),
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (p, a) in acc.iter().enumerate() {
            // SAFETY: row `i`'s panel `p` in the tile.
            unsafe { _mm256_storeu_ps(tile.add(i * stride + p * PANEL), *a) };
        }
    }
}

/// One pass over the order. `clamp` as Rust's: `max_ps(lo, v)` is `lo` only
/// when `lo > v` (NaN stays), `min_ps(hi, v)` is `hi` only when `hi < v`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn run<const R: usize, const P: usize, const M: u8>(
    acc: &mut [[std::arch::x86_64::__m256; P]; R],
    x: *const f32,
    k: usize,
    w: *const f32,
    f: &Fold,
) {
    use std::arch::x86_64::*;
    let (lo, hi, leak, zero) =
        (_mm256_set1_ps(f.lo), _mm256_set1_ps(f.hi), _mm256_set1_ps(f.leak), _mm256_setzero_ps());
    for &j in f.idx {
        let j = j as usize;
        let mut wv = [zero; P];
        for (p, wv) in wv.iter_mut().enumerate() {
            // SAFETY: panel `p` holds `k` rows of 8; `j < k`.
            *wv = unsafe { _mm256_loadu_ps(w.add((p * k + j) * PANEL)) };
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: row `i` holds `k` values.
            let xs = unsafe { _mm256_broadcast_ss(&*x.add(i * k + j)) };
            for (s, wv) in acc.iter_mut().zip(&wv) {
                let prod = _mm256_mul_ps(*wv, xs);
                let new = _mm256_add_ps(_mm256_mul_ps(leak, *s), prod);
                let new = _mm256_min_ps(hi, _mm256_max_ps(lo, new));
                *s = match M {
                    NOT_NEGATIVE => _mm256_blendv_ps(new, *s, _mm256_cmp_ps::<_CMP_LT_OQ>(prod, zero)),
                    NEGATIVE => _mm256_blendv_ps(*s, new, _mm256_cmp_ps::<_CMP_LT_OQ>(prod, zero)),
                    NOT_POSITIVE => _mm256_blendv_ps(new, *s, _mm256_cmp_ps::<_CMP_GE_OQ>(prod, zero)),
                    POSITIVE => _mm256_blendv_ps(*s, new, _mm256_cmp_ps::<_CMP_GE_OQ>(prod, zero)),
                    _ => new,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector kernels (whatever this CPU runs) against the portable one,
    /// bit for bit, for every order, on values with ties, zeros and clamping.
    #[test]
    fn vector_kernels_match_the_portable_fold() {
        let (rows, k, panels) = (7, 37, 5);
        let mut state = 1u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 20) as f32 / 4096.0 - 0.5) * if state.is_multiple_of(7) { 0.0 } else { 3.0 }
        };
        let x: Vec<f32> = (0..rows * k).map(|_| next()).collect();
        let w: Vec<f32> = (0..panels * k * PANEL).map(|_| next()).collect();
        let perm: Vec<u32> = (0..k as u32).map(|i| (i * 11) % k as u32).collect();
        for order in [NATURAL, REVERSED, RANDOM, POSITIVE_FIRST, NEGATIVE_FIRST] {
            for (lo, hi, leak) in [(-1.0, 1.0, 1.0), (-0.3, 2.0, 0.9)] {
                let mut fast = vec![0.0f32; rows * panels * PANEL];
                let mut slow = fast.clone();
                let (idx, passes) = plan(order, k, &perm);
                let f = Fold { idx: &idx, passes, lo, hi, leak };
                // SAFETY: the buffers have the documented sizes.
                unsafe {
                    fold_f32(
                        x.as_ptr(),
                        rows as u64,
                        k as u64,
                        w.as_ptr(),
                        panels as u64,
                        fast.as_mut_ptr(),
                        perm.as_ptr(),
                        order,
                        lo,
                        hi,
                        leak,
                    );
                    portable(x.as_ptr(), rows, k, w.as_ptr(), panels, slow.as_mut_ptr(), &f);
                }
                let same = fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "order {order}, clamp [{lo}, {hi}], leak {leak}");
            }
        }
    }
}
