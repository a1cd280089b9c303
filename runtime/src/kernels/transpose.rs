//! Matrix transposes, the data movement of training's fast path (a batch's
//! outputs between `[rows][samples]` and `[samples][rows]`) and of packing
//! (`gemm::pack`): 8 × 8 blocks transposed in AVX registers where the CPU
//! has AVX, the edges value by value. Values are moved, never computed, so
//! every path gives the same bits.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// `dst[c·dst_stride + r] = src[r·src_stride + c]` for `r < rows`, `c < cols`.
///
/// # Panics
/// If a row of either operand runs past its end.
pub fn transpose(src: &[f32], src_stride: usize, rows: usize, cols: usize, dst: &mut [f32], dst_stride: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        cols <= src_stride
            && rows <= dst_stride
            && src.len() >= (rows - 1) * src_stride + cols
            && dst.len() >= (cols - 1) * dst_stride + rows,
        "transpose: operand sizes"
    );
    let (whole_rows, whole_cols) = (rows / 8 * 8, cols / 8 * 8);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        for r in (0..whole_rows).step_by(8) {
            for c in (0..whole_cols).step_by(8) {
                // SAFETY: the CPU has AVX; the block's rows `r..r + 8` and
                // columns `c..c + 8` are inside both operands (checked above).
                unsafe {
                    block_avx(
                        src.as_ptr().add(r * src_stride + c),
                        src_stride,
                        dst.as_mut_ptr().add(c * dst_stride + r),
                        dst_stride,
                    )
                };
            }
        }
        edges(src, src_stride, rows, cols, dst, dst_stride, whole_rows, whole_cols);
        return;
    }
    edges(src, src_stride, rows, cols, dst, dst_stride, 0, cols);
}

/// The values [`transpose`]'s blocks leave: rows from `whole_rows` in
/// every column, and columns from `whole_cols` in the rows before it.
#[allow(clippy::too_many_arguments)]
fn edges(
    src: &[f32],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    dst_stride: usize,
    whole_rows: usize,
    whole_cols: usize,
) {
    let mut one = |r: usize, c: usize| dst[c * dst_stride + r] = src[r * src_stride + c];
    for r in 0..whole_rows {
        (whole_cols..cols).for_each(|c| one(r, c));
    }
    for r in whole_rows..rows {
        (0..cols).for_each(|c| one(r, c));
    }
}

/// One 8 × 8 block: eight rows loaded, interleaved in three rounds of
/// shuffles, stored as eight columns.
///
/// # Safety
/// The CPU must have AVX; eight rows of eight values at `src` (stride
/// `src_stride`) and at `dst` (stride `dst_stride`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn block_avx(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * src_stride)));
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        for i in 0..4 {
            _mm256_storeu_ps(dst.add(i * dst_stride), _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]));
            _mm256_storeu_ps(dst.add((i + 4) * dst_stride), _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_every_shape_and_stride() {
        for (rows, cols) in [(1, 1), (8, 8), (16, 24), (13, 7), (9, 17), (64, 10), (3, 40)] {
            let (src_stride, dst_stride) = (cols + 3, rows + 5);
            let src: Vec<f32> = (0..rows * src_stride).map(|i| i as f32).collect();
            let mut dst = vec![-1.0f32; cols * dst_stride];
            transpose(&src, src_stride, rows, cols, &mut dst, dst_stride);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * dst_stride + r], src[r * src_stride + c], "{rows}x{cols} at {r},{c}");
                }
            }
            // Nothing outside the rows is written.
            for c in 0..cols {
                assert!(dst[c * dst_stride + rows..(c + 1) * dst_stride].iter().all(|v| *v == -1.0));
            }
        }
    }
}
