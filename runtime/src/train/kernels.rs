//! The fast path's matrix products, for MAC layers without effects (FP32,
//! exact sums, exact multiplier, no weight noise), on the host GEMM
//! (`kernels::gemm`) with rows split into `threads` parts run on the caller's
//! rayon pool. The forward gives the
//! interpreter's bits. The backward sums as the reference rules
//! (`backward::mac::dense`) do: `dW` over the samples (and positions) in
//! order, `dX` over the outputs in order.

use super::parallel;
use super::spare::Spare;
use crate::derived::window::Window;
use crate::kernels::gemm::{gemm_columns_into, gemm_into, pack_panel, pack_transposed, PANEL};
use crate::kernels::transpose::transpose;
use crate::kernels::wide::wide_dispatch;

/// `y[i][o] = Σ_j w[o][j]·x[i][j] + bias[o]`, `j` ascending, for the `n` rows
/// of `x` (`[n][k]`) and the `rows` rows of `w`; `y` is `[n][rows]`. The
/// smaller of the two operands is the one rearranged: `w` packed for a
/// convolution's many patches, `x` transposed for a dense layer's batch (then
/// the products come out `[rows][n]` and are transposed back), the same sums
/// either way.
pub fn forward(
    w: &[f32],
    rows: usize,
    x: &[f32],
    k: usize,
    bias: Option<&[f32]>,
    threads: usize,
    spare: &Spare,
) -> Vec<f32> {
    let n = x.len() / k.max(1);
    if n < rows {
        // `x` transposed, `[k][n]`, its columns read in place as adjacent
        // panels (one 16-lane load per pair, no insert), a panel of zeros after
        // it for the last panel's lanes past `n`; products `[rows][n]`, each
        // row's bias added by the thread that computed it, then transposed.
        let mut xt = spare.take(k * n + PANEL);
        let (body, tail) = xt.split_at_mut(k * n);
        transpose_into(x, n, k, body);
        tail.fill(0.0);
        let yt = by_rows(w, k, n, threads, spare, |first, part, y| {
            gemm_columns_into(part, k, &xt, n, n, y);
            if let Some(b) = bias {
                y.chunks_mut(n).zip(&b[first..]).for_each(|(row, b)| row.iter_mut().for_each(|v| *v += b));
            }
        });
        let y = transpose_blocks(&yt, rows, n, spare);
        spare.give([xt, yt]);
        return y;
    }
    let mut packed = spare.take(rows.div_ceil(PANEL) * k * PANEL);
    parallel::chunks_mut(&mut packed, k * PANEL, |p, panel| pack_panel(w, k, rows, p, panel));
    let mut y = by_rows(x, k, rows, threads, spare, |_, part, y| gemm_into(part, k, &packed, rows, y));
    spare.give([packed]);
    if let Some(b) = bias {
        parallel::chunks_mut(&mut y, rows * n.div_ceil(threads.max(1)).max(1), |_, part| {
            part.chunks_mut(rows).for_each(|yr| yr.iter_mut().zip(b).for_each(|(y, b)| *y += b))
        });
    }
    y
}

/// `dw[o][j] = Σ_i dyt[o][i]·x[i][j]`, `i` ascending; `dyt` is `[rows][n]`
/// (see [`channels_first`]), `x` `[n][k]`, read in place when the values
/// after it cover its last panel (as [`im2col`] leaves them), else packed.
/// Threads take whole rows `o`.
pub fn weight_grad(dyt: &[f32], rows: usize, x: &[f32], k: usize, threads: usize, spare: &Spare) -> Vec<f32> {
    let n = dyt.len() / rows.max(1);
    if n > 0 && x.len() >= (n - 1) * k + k.div_ceil(PANEL) * PANEL {
        return by_rows(dyt, n, k, threads, spare, |_, part, y| gemm_columns_into(part, n, x, k, k, y));
    }
    let packed = pack_transposed(&x[..n * k], k);
    by_rows(dyt, n, k, threads, spare, |_, part, y| gemm_into(part, n, &packed, k, y))
}

/// A batch of `[rows][positions]` outputs' gradients, `[batch][rows][positions]`,
/// as `[rows][batch·positions]`: each row's values in sample, then position order.
pub fn channels_first(dy: &[f32], batch: usize, rows: usize, positions: usize, spare: &Spare) -> Vec<f32> {
    if positions == 1 {
        return transpose_blocks(dy, batch, rows, spare);
    }
    let mut t = spare.take(dy.len());
    parallel::chunks_mut(&mut t, batch * positions, |o, row| {
        for (b, run) in row.chunks_mut(positions).enumerate() {
            run.copy_from_slice(&dy[(b * rows + o) * positions..][..positions]);
        }
    });
    t
}

/// `dx[i][j] = Σ_o dy[i][o]·w[o][j]`, `o` ascending; `dy` is `[n][rows]`, `w`
/// `[rows][k]`, read in place when its rows are whole panels, else packed.
pub fn input_grad(dy: &[f32], rows: usize, w: &[f32], k: usize, threads: usize, spare: &Spare) -> Vec<f32> {
    if k.is_multiple_of(PANEL) {
        return by_rows(dy, rows, k, threads, spare, |_, part, y| gemm_columns_into(part, rows, w, k, k, y));
    }
    let packed = pack_transposed(w, k);
    by_rows(dy, rows, k, threads, spare, |_, part, y| gemm_into(part, rows, &packed, k, y))
}

/// The zeros after [`im2col`]'s patches: one panel's worth.
pub const TAIL: usize = PANEL;

/// The im2col patches of a batch of `[c, h, w]` samples for a one-group
/// window, `[batch][positions][c·kh·kw]`, zero in the padding: the values
/// `interp::ops::patches` gives, copied a row segment at a time. [`TAIL`]
/// zeros follow them, so that [`weight_grad`] reads them in place.
pub fn im2col(x: &[f32], shape: &[usize], win: &Window, spare: &Spare) -> Vec<f32> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let [oh, ow] = win.out(h, w);
    let [kh, kw] = win.kernel;
    let k = c * kh * kw;
    let size = c * h * w;
    let batch = x.len() / size.max(1);
    // Taken from `spare`, so every value is written: the runs inside the
    // input copied, the padding's zeros stored.
    let mut all = spare.take(batch * oh * ow * k + TAIL);
    let (patches, tail) = all.split_at_mut(batch * oh * ow * k);
    tail.fill(0.0);
    parallel::chunks_mut(patches, oh * ow * k, |b, out| {
        let xb = &x[b * size..(b + 1) * size];
        for i in 0..oh {
            for j in 0..ow {
                let patch = &mut out[(i * ow + j) * k..][..k];
                let (lo, hi) = inside(win, 1, j, kw, w);
                for ch in 0..c {
                    for u in 0..kh {
                        let dst = &mut patch[(ch * kh + u) * kw..][..kw];
                        let r = win.tap(0, i, u);
                        if r < 0 || r as usize >= h || lo >= hi {
                            dst.fill(0.0);
                            continue;
                        }
                        let row = &xb[(ch * h + r as usize) * w..][..w];
                        let t = win.tap(1, j, lo) as usize;
                        dst[..lo].fill(0.0);
                        copy_run(&mut dst[lo..hi], &row[t..t + hi - lo]);
                        dst[hi..].fill(0.0);
                    }
                }
            }
        }
    });
    all
}

/// `dst.copy_from_slice(src)` for the short runs of a window row: common
/// kernel widths are copied as fixed-size arrays (moves in registers), since
/// a library `memcpy` call per run of 3 or 5 values cost more than the copy.
fn copy_run(dst: &mut [f32], src: &[f32]) {
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) {
        let s: [f32; N] = src.try_into().expect("a run of N");
        dst.copy_from_slice(&s);
    }
    match src.len() {
        1 => dst[0] = src[0],
        2 => fixed::<2>(dst, src),
        3 => fixed::<3>(dst, src),
        5 => fixed::<5>(dst, src),
        7 => fixed::<7>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// The inverse of [`im2col`]: each sample's input gradient from its patches'
/// gradients (`[batch][positions][c·kh·kw]`), every patch element added back
/// where it was read, in the order `mac_grad::col2im` adds them (its bits).
pub fn col2im(dpatches: &[f32], shape: &[usize], win: &Window) -> Vec<f32> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let [oh, ow] = win.out(h, w);
    let [kh, kw] = win.kernel;
    let k = c * kh * kw;
    let per = oh * ow * k;
    let batch = dpatches.len() / per.max(1);
    let mut all = vec![0.0f32; batch * c * h * w];
    parallel::chunks_mut(&mut all, c * h * w, |b, dx| {
        let db = &dpatches[b * per..(b + 1) * per];
        for i in 0..oh {
            for j in 0..ow {
                let patch = &db[(i * ow + j) * k..][..k];
                let (lo, hi) = inside(win, 1, j, kw, w);
                for ch in 0..c {
                    for u in 0..kh {
                        let r = win.tap(0, i, u);
                        if r < 0 || r as usize >= h || lo >= hi {
                            continue;
                        }
                        let t = win.tap(1, j, lo) as usize;
                        let row = &mut dx[(ch * h + r as usize) * w + t..][..hi - lo];
                        let src = &patch[(ch * kh + u) * kw + lo..][..hi - lo];
                        row.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    }
                }
            }
        }
    });
    all
}

/// The taps `lo..hi` of output `i` along `axis` that fall inside an input of `size`.
pub(super) fn inside(win: &Window, axis: usize, i: usize, taps: usize, size: usize) -> (usize, usize) {
    let first = win.tap(axis, i, 0);
    let lo = (-first).max(0) as usize;
    let hi = (size as isize - first).clamp(0, taps as isize) as usize;
    (lo.min(hi), hi)
}

/// `y` (`[n][cols]`) from `f(first row, part of x, its rows of y)` over
/// contiguous parts of the rows of `x` (`[n][k]`), one part per thread,
/// pinned ([`parallel::parts_mut`]); `f` writes every value of its rows (`y`
/// is taken from `spare`).
fn by_rows(
    x: &[f32],
    k: usize,
    cols: usize,
    threads: usize,
    spare: &Spare,
    f: impl Fn(usize, &[f32], &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let n = x.len() / k.max(1);
    let per = n.div_ceil(threads.clamp(1, n.max(1))).max(1);
    let mut y = spare.take(n * cols);
    parallel::parts_mut(&mut y, per * cols, |t, part| {
        f(t * per, &x[t * per * k..][..part.len() / cols.max(1) * k], part)
    });
    y
}

wide_dispatch! {
    /// The index of the first value of `v` that is not finite (NaN or ±∞).
    /// Chunks are scanned whole for an exponent of all ones, which vectorizes
    /// (at the widest vectors the CPU has: 3× faster from cache than SSE's);
    /// only the chunk that holds one is searched value by value.
    pub fn first_non_finite(v: &[f32]) -> Option<usize> = scan
}

#[inline(always)]
fn scan(v: &[f32]) -> Option<usize> {
    const CHUNK: usize = 512;
    const EXPONENT: u32 = 0x7f80_0000;
    v.chunks(CHUNK).enumerate().find_map(|(c, chunk)| {
        let any = chunk.iter().fold(false, |any, x| any | (x.to_bits() & EXPONENT == EXPONENT));
        any.then(|| c * CHUNK + chunk.iter().position(|x| !x.is_finite()).expect("one is"))
    })
}

/// The first value of `tensors` that is not finite, in tensor, then element
/// order: `(tensor, index)`. Each tensor is scanned in parts pinned to
/// threads as [`crate::train::optim::Optimizer::step_all`] splits it
/// ([`parallel::pinned_part`]).
pub fn first_non_finite_of(tensors: &[&[f32]]) -> Option<(usize, usize)> {
    let (mut parts, mut homes) = (vec![], vec![]);
    for (i, t) in tensors.iter().enumerate() {
        let per = parallel::pinned_part(t.len());
        for (part, values) in t.chunks(per).enumerate() {
            parts.push((i, part * per, values));
            homes.push(part);
        }
    }
    let found = parallel::map_on(
        parts.len(),
        |p| homes[p],
        |p| {
            let (i, at, values) = parts[p];
            first_non_finite(values).map(|j| (i, at + j))
        },
    );
    found.into_iter().flatten().next()
}

/// [`transpose_blocks`] into `t` (`m.len()` values).
pub(super) fn transpose_into(m: &[f32], rows: usize, cols: usize, t: &mut [f32]) {
    if rows == 1 || cols == 1 {
        t.copy_from_slice(m);
        return;
    }
    let size = rows * cols;
    if m.len() == size {
        let per = cols.div_ceil(rayon::current_num_threads()).next_multiple_of(8);
        parallel::chunks_mut(t, per * rows, |g, part| {
            transpose(&m[g * per..], cols, rows, part.len() / rows, part, rows)
        });
    } else {
        parallel::chunks_mut(t, size.max(1), |b, tb| transpose(&m[b * size..][..size], cols, rows, cols, tb, rows));
    }
}

/// Each `rows × cols` block of `m` (row-major, one after another) transposed
/// to `cols × rows`: a batch's `[rows][positions]` samples to `[positions][rows]`
/// and back, or one matrix when `m` is a single block. Blocks in parallel; a
/// single block in parallel groups of columns. The result is taken from `spare`.
pub fn transpose_blocks(m: &[f32], rows: usize, cols: usize, spare: &Spare) -> Vec<f32> {
    let mut t = spare.take(m.len());
    transpose_into(m, rows, cols, &mut t);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_gives_the_interpreters_bits() {
        let (rows, k, n) = (37, 29, 3);
        let w: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 337.0).collect();
        let x: Vec<f32> = (0..n * k).map(|i| ((i * 104729 % 1000) as f32 - 500.0) / 211.0).collect();
        let b: Vec<f32> = (0..rows).map(|o| o as f32 / 7.0).collect();
        for threads in [1, 2] {
            let y = forward(&w, rows, &x, k, Some(&b), threads, &Spare::default());
            for i in 0..n {
                let want = crate::interp::ops::dense(&x[i * k..(i + 1) * k], &w, Some(&b));
                assert_eq!(y[i * rows..(i + 1) * rows], want[..]);
            }
        }
    }

    #[test]
    fn im2col_gives_the_interpreters_patches() {
        let shape = [3, 7, 6];
        let x: Vec<f32> = (0..2 * 3 * 7 * 6).map(|i| i as f32).collect();
        for (kernel, stride, padding) in [
            ([3, 3], [1, 1], [[1, 1], [1, 1]]),
            ([5, 2], [2, 3], [[2, 2], [0, 0]]),
            ([1, 1], [1, 1], [[0, 0]; 2]),
            ([2, 3], [1, 2], [[0, 1], [2, 1]]),
        ] {
            let win = Window { kernel, stride, padding };
            // A buffer left with other values: every value is written.
            let [oh, ow] = win.out(7, 6);
            let spare = Spare::default();
            spare.give([vec![f32::NAN; 2 * oh * ow * 3 * kernel[0] * kernel[1] + TAIL]]);
            let mut fast = im2col(&x, &shape, &win, &spare);
            assert_eq!(fast.split_off(fast.len() - TAIL), [0.0; TAIL]);
            let want: Vec<f32> = x
                .chunks(3 * 7 * 6)
                .flat_map(|xb| crate::interp::ops::patches(xb, &shape, kernel, stride, padding, 1).0)
                .collect();
            assert_eq!(fast, want);
        }
    }

    #[test]
    fn col2im_is_the_reference_bits() {
        let shape = [3, 7, 6];
        for (kernel, stride, padding) in
            [([3, 3], [1, 1], [[1, 1], [1, 1]]), ([5, 2], [2, 3], [[2, 2], [0, 0]]), ([2, 2], [1, 1], [[0, 1], [1, 0]])]
        {
            let win = Window { kernel, stride, padding };
            let [oh, ow] = win.out(7, 6);
            let per = oh * ow * 3 * kernel[0] * kernel[1];
            let d: Vec<f32> = (0..2 * per).map(|i| (i as f32 * 0.37).sin()).collect();
            let want: Vec<f32> =
                d.chunks(per).flat_map(|db| crate::train::mac_grad::col2im(db, &shape, win, 1)).collect();
            assert_eq!(col2im(&d, &shape, &win), want);
        }
    }

    #[test]
    fn first_non_finite_finds_the_first() {
        let mut v: Vec<f32> = (0..2000).map(|i| i as f32 - 1000.0).collect();
        assert_eq!(first_non_finite(&v), None);
        for (at, bad) in [(1999, f32::NAN), (1300, f32::INFINITY), (513, f32::NEG_INFINITY), (7, -f32::NAN)] {
            v[at] = bad;
            assert_eq!(first_non_finite(&v), Some(at));
        }
        assert_eq!(first_non_finite(&[f32::MAX, f32::MIN, -0.0, f32::MIN_POSITIVE / 2.0]), None);
    }

    #[test]
    fn gradients_are_the_reference_rules_bits() {
        for k in [11, 16] {
            gradients_match(k);
        }
    }

    fn gradients_match(k: usize) {
        let (rows, n) = (5, 4);
        let w: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let x: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let dy: Vec<f32> = (0..n * rows).map(|i| if i % 3 == 0 { 0.0 } else { (i as f32).sin() }).collect();
        let r = crate::train::backward::mac::dense(n, &x, &w, &dy);
        let dyt = channels_first(&dy, n, rows, 1, &Spare::default());
        let mut x_tail = x.clone();
        x_tail.extend([0.0; PANEL]);
        for threads in [1, 3] {
            assert_eq!(weight_grad(&dyt, rows, &x, k, threads, &Spare::default()), r.dw);
            assert_eq!(weight_grad(&dyt, rows, &x_tail, k, threads, &Spare::default()), r.dw);
            assert_eq!(input_grad(&dy, rows, &w, k, threads, &Spare::default()), r.dx);
        }
    }
}
