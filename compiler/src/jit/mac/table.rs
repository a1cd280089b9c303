//! The host kernel of int8 layers whose products go through a 256×256
//! table (any multiplier but `exact`), for `--kernels native` with exact
//! accumulation: integer sums do not depend on their order, so the kernel
//! runs in i-k-j order, holding the 256-entry table row of one input code
//! in eight 512-bit registers and looking up 32 columns at once with
//! `vpermi2w` (AVX-512BW). Entries are 16-bit (signed, or unsigned for
//! unsigned tables); a table with wider entries stays on the generated
//! kernel.
//!
//! Per row `r` and column `c` the result is the interpreter's integer sum
//! `Σ_k M(x_q, w_q) − z_w·x_q − z_x·w_q + z_x·z_w`, computed as
//! `Σ_k M − z_w·Σ_k x_q − z_x·Σ_k w_q + k·z_x·z_w` in wrapping `i32`
//! (equal, because the layer only comes here when every partial sum fits).

/// `table(q, rows, k, data, cols, out, z_x, table16, unsigned)`.
pub const TABLE: &str = "analogc_table_i8";

/// Columns per lookup.
pub const LANES: usize = 32;

/// How the 16-bit entries widen: `Some(false)` signed, `Some(true)`
/// unsigned, `None` when some entry fits neither.
pub fn entries16(entries: &[i32]) -> Option<bool> {
    if entries.iter().all(|e| i16::try_from(*e).is_ok()) {
        Some(false)
    } else if entries.iter().all(|e| u16::try_from(*e).is_ok()) {
        Some(true)
    } else {
        None
    }
}

/// A group's data, in 32-bit words: weight codes `[k][cols]` as u16 (low
/// byte, two per word), then `z_w` `[cols]` and `Σ_k w_q` `[cols]` (i32).
/// `cols` is the group's columns rounded up to 32 (padding codes 0).
pub fn pack_group(codes: &[i32], zero_points: &[i32], k: usize, cols: usize) -> Vec<f32> {
    let pad = cols.div_ceil(LANES) * LANES;
    let mut idx = vec![0u16; k * pad];
    let mut zw = vec![0i32; pad];
    let mut sum_w = vec![0i32; pad];
    for c in 0..cols {
        for j in 0..k {
            idx[j * pad + c] = (codes[c * k + j] & 255) as u16;
            sum_w[c] = sum_w[c].wrapping_add(codes[c * k + j]);
        }
        zw[c] = zero_points[c];
    }
    let mut out: Vec<f32> = idx.chunks(2).map(|p| f32::from_bits(p[0] as u32 | (p[1] as u32) << 16)).collect();
    out.extend(zw.iter().chain(&sum_w).map(|v| f32::from_bits(*v as u32)));
    out
}

/// Words of [`pack_group`]'s output.
pub fn group_words(k: usize, cols: usize) -> usize {
    let pad = cols.div_ceil(LANES) * LANES;
    k * pad / 2 + 2 * pad
}

/// The table as 16-bit entries, two per word.
pub fn pack_table(entries: &[i32]) -> Vec<f32> {
    entries.chunks(2).map(|p| f32::from_bits(p[0] as u16 as u32 | (p[1] as u16 as u32) << 16)).collect()
}

/// `out[r][c]` (`rows × cols` rounded up to 32, i32) for the input codes
/// `q` `[rows][k]` (i32).
///
/// # Safety
/// `q` holds `rows·k` codes in 0..=255 or −127..=127, `data` a group of
/// [`pack_group`] for `k` and `cols`, `table16` [`pack_table`]'s 65,536
/// entries, `out` `rows·⌈cols/32⌉·32` values.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn table_i8(
    q: *const i32,
    rows: u64,
    k: u64,
    data: *const u16,
    cols: u64,
    out: *mut i32,
    z_x: i32,
    table16: *const u16,
    unsigned: u32,
) {
    let (rows, k) = (rows as usize, k as usize);
    let pad = (cols as usize).div_ceil(LANES) * LANES;
    // SAFETY: the caller's buffers.
    let (q, idx, table, out) = unsafe {
        (
            std::slice::from_raw_parts(q, rows * k),
            std::slice::from_raw_parts(data, k * pad),
            std::slice::from_raw_parts(table16, 65536),
            std::slice::from_raw_parts_mut(out, rows * pad),
        )
    };
    // SAFETY: the words after the codes.
    let (zw, sum_w) = unsafe {
        let words = data.add(k * pad) as *const i32;
        (std::slice::from_raw_parts(words, pad), std::slice::from_raw_parts(words.add(pad), pad))
    };
    #[cfg(target_arch = "x86_64")]
    let avx512 = std::arch::is_x86_feature_detected!("avx512bw");
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = false;
    for r in 0..rows {
        let x = &q[r * k..(r + 1) * k];
        let acc = &mut out[r * pad..(r + 1) * pad];
        match avx512 {
            // SAFETY: the CPU has AVX-512BW; the slices' sizes as above.
            #[cfg(target_arch = "x86_64")]
            true => unsafe { row_avx512(x, idx, table, acc, pad, unsigned != 0) },
            _ => row_portable(x, idx, table, acc, pad, unsigned != 0),
        }
        let sum_x = x.iter().fold(0i32, |s, v| s.wrapping_add(*v));
        for c in 0..pad {
            let corr = zw[c].wrapping_mul(sum_x).wrapping_add(z_x.wrapping_mul(sum_w[c]));
            let kzz = (k as i32).wrapping_mul(z_x).wrapping_mul(zw[c]);
            acc[c] = acc[c].wrapping_sub(corr).wrapping_add(kzz);
        }
    }
}

/// One row's table sums, one lookup at a time (the reference).
fn row_portable(x: &[i32], idx: &[u16], table: &[u16], acc: &mut [i32], pad: usize, unsigned: bool) {
    acc.fill(0);
    for (j, xq) in x.iter().enumerate() {
        let t = &table[((*xq & 255) as usize) << 8..][..256];
        for (a, w) in acc.iter_mut().zip(&idx[j * pad..(j + 1) * pad]) {
            let e = t[*w as usize];
            *a = a.wrapping_add(if unsigned { e as i32 } else { e as i16 as i32 });
        }
    }
}

/// One row's table sums: for each `k`, the table row of `x[k]` in eight
/// registers, then 32 columns per `vpermi2w` lookup, widened to i32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn row_avx512(x: &[i32], idx: &[u16], table: &[u16], acc: &mut [i32], pad: usize, unsigned: bool) {
    use std::arch::x86_64::*;
    // Column blocks of 128 (8 accumulators) so the accumulators stay in registers.
    const BLOCK: usize = 4 * LANES;
    let mut c0 = 0;
    while c0 < pad {
        let chunks = ((pad - c0) / LANES).min(BLOCK / LANES);
        let mut sums = [_mm512_setzero_si512(); 2 * BLOCK / LANES];
        for (j, xq) in x.iter().enumerate() {
            let row = table[((*xq & 255) as usize) << 8..].as_ptr();
            // SAFETY: 256 entries from `row`.
            let t: [__m512i; 8] = std::array::from_fn(|i| unsafe { _mm512_loadu_si512(row.add(32 * i) as *const _) });
            for ch in 0..chunks {
                // SAFETY: 32 codes of step `j` from column `c0 + 32·ch < pad`.
                let i = unsafe { _mm512_loadu_si512(idx.as_ptr().add(j * pad + c0 + ch * LANES) as *const _) };
                let p01 = _mm512_permutex2var_epi16(t[0], i, t[1]);
                let p23 = _mm512_permutex2var_epi16(t[2], i, t[3]);
                let p45 = _mm512_permutex2var_epi16(t[4], i, t[5]);
                let p67 = _mm512_permutex2var_epi16(t[6], i, t[7]);
                let bit6 = _mm512_test_epi16_mask(i, _mm512_set1_epi16(0x40));
                let bit7 = _mm512_test_epi16_mask(i, _mm512_set1_epi16(0x80));
                let lo = _mm512_mask_blend_epi16(bit6, p01, p23);
                let hi = _mm512_mask_blend_epi16(bit6, p45, p67);
                let v = _mm512_mask_blend_epi16(bit7, lo, hi);
                let (a, b) = (_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v));
                let (a, b) = if unsigned {
                    (_mm512_cvtepu16_epi32(a), _mm512_cvtepu16_epi32(b))
                } else {
                    (_mm512_cvtepi16_epi32(a), _mm512_cvtepi16_epi32(b))
                };
                sums[2 * ch] = _mm512_add_epi32(sums[2 * ch], a);
                sums[2 * ch + 1] = _mm512_add_epi32(sums[2 * ch + 1], b);
            }
        }
        for (n, s) in sums.iter().enumerate().take(2 * chunks) {
            // SAFETY: 16 columns from `c0 + 16·n < pad`.
            unsafe { _mm512_storeu_si512(acc.as_mut_ptr().add(c0 + 16 * n) as *mut _, *s) };
        }
        c0 += chunks * LANES;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 path (when this CPU has it) against the portable loop and
    /// against the definition, for signed and unsigned tables.
    #[test]
    fn table_sums_are_the_integer_terms() {
        let (rows, k, cols) = (3, 21, 70);
        let mut state = 5u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 8
        };
        for unsigned in [false, true] {
            let entries: Vec<i32> = (0..65536)
                .map(|_| if unsigned { (next() % 65536) as i32 } else { (next() % 65536) as i32 - 32768 })
                .collect();
            let (lo, hi) = if unsigned { (0, 255) } else { (-127, 127) };
            let span = (hi - lo + 1) as u32;
            let q: Vec<i32> = (0..rows * k).map(|_| lo + (next() % span) as i32).collect();
            let codes: Vec<i32> = (0..cols * k).map(|_| lo + (next() % span) as i32).collect();
            let zp: Vec<i32> = (0..cols).map(|c| if unsigned { (c * 3 % 256) as i32 } else { 0 }).collect();
            let z_x = if unsigned { 17 } else { 0 };
            let mut data = pack_group(&codes, &zp, k, cols);
            assert_eq!(data.len(), group_words(k, cols));
            let table = pack_table(&entries);
            let pad = cols.div_ceil(LANES) * LANES;
            let mut out = vec![0i32; rows * pad];
            // SAFETY: sizes as documented.
            unsafe {
                table_i8(
                    q.as_ptr(),
                    rows as u64,
                    k as u64,
                    data.as_mut_ptr() as *const u16,
                    cols as u64,
                    out.as_mut_ptr(),
                    z_x,
                    table.as_ptr() as *const u16,
                    unsigned as u32,
                )
            };
            for r in 0..rows {
                for c in 0..cols {
                    let want: i64 = (0..k)
                        .map(|j| {
                            let (x, w) = (q[r * k + j] as i64, codes[c * k + j] as i64);
                            let m = entries[(((x & 255) << 8) | (w & 255)) as usize] as i64;
                            m - zp[c] as i64 * x - z_x as i64 * w + z_x as i64 * zp[c] as i64
                        })
                        .sum();
                    assert_eq!(out[r * pad + c] as i64, want, "row {r}, column {c}, unsigned {unsigned}");
                }
            }
            // The portable row against the one this CPU ran.
            let idx: Vec<u16> = data.iter().flat_map(|w| [w.to_bits() as u16, (w.to_bits() >> 16) as u16]).collect();
            let t16: Vec<u16> = table.iter().flat_map(|w| [w.to_bits() as u16, (w.to_bits() >> 16) as u16]).collect();
            let (mut a, mut b) = (vec![0i32; pad], vec![0i32; pad]);
            row_portable(&q[..k], &idx[..k * pad], &t16, &mut a, pad, unsigned);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the CPU has AVX-512BW.
                unsafe { row_avx512(&q[..k], &idx[..k * pad], &t16, &mut b, pad, unsigned) };
                assert_eq!(a, b);
            }
        }
    }
}
