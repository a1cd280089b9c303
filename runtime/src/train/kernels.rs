//! The fast path's matrix products, for MAC layers without effects (FP32,
//! exact sums, exact multiplier, no weight noise), on the host GEMM
//! (`kernels::gemm`) with rows split over threads. The forward gives the
//! interpreter's bits. The backward sums as the reference rules
//! (`backward::mac::dense`) do: `dW` over the samples (and positions) in
//! order, `dX` over the outputs in order.

use super::parallel;
use crate::derived::window::Window;
use crate::kernels::gemm::{gemm, pack, pack_transposed};

/// `y[i][o] = Σ_j w[o][j]·x[i][j] + bias[o]`, `j` ascending, for the `n` rows
/// of `x` (`[n][k]`) and the `rows` rows of `w`; `y` is `[n][rows]`.
pub fn forward(w: &[f32], rows: usize, x: &[f32], k: usize, bias: Option<&[f32]>, threads: usize) -> Vec<f32> {
    let packed = pack(w, rows);
    let mut y = by_rows(x, k, threads, |part| gemm(part, k, &packed, rows));
    if let Some(b) = bias {
        y.chunks_mut(rows).for_each(|yr| yr.iter_mut().zip(b).for_each(|(y, b)| *y += b));
    }
    y
}

/// `dw[o][j] = Σ_i dy[i][o]·x[i][j]`, `i` ascending; `dy` is `[n][rows]`, `x` `[n][k]`.
pub fn weight_grad(dy: &[f32], rows: usize, x: &[f32], k: usize, threads: usize) -> Vec<f32> {
    let n = dy.len() / rows.max(1);
    let dyt = transpose(dy, n);
    let packed = pack_transposed(x, k);
    by_rows(&dyt, n, threads, |part| gemm(part, n, &packed, k))
}

/// `dx[i][j] = Σ_o dy[i][o]·w[o][j]`, `o` ascending; `dy` is `[n][rows]`, `w` `[rows][k]`.
pub fn input_grad(dy: &[f32], rows: usize, w: &[f32], k: usize, threads: usize) -> Vec<f32> {
    let packed = pack_transposed(w, k);
    by_rows(dy, rows, threads, |part| gemm(part, rows, &packed, k))
}

/// The im2col patches of a batch of `[c, h, w]` samples for a one-group
/// window, `[batch][positions][c·kh·kw]`, zero in the padding: the values
/// `interp::ops::patches` gives, copied a row segment at a time.
pub fn im2col(x: &[f32], shape: &[usize], win: &Window, threads: usize) -> Vec<f32> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let [oh, ow] = win.out(h, w);
    let [kh, kw] = win.kernel;
    let k = c * kh * kw;
    let size = c * h * w;
    let batch = x.len() / size.max(1);
    parallel::map(batch, threads, |b| {
        let xb = &x[b * size..(b + 1) * size];
        let mut out = vec![0.0f32; oh * ow * k];
        for i in 0..oh {
            for j in 0..ow {
                let patch = &mut out[(i * ow + j) * k..][..k];
                for ch in 0..c {
                    for u in 0..kh {
                        let r = win.tap(0, i, u);
                        if r < 0 || r as usize >= h {
                            continue;
                        }
                        let row = &xb[(ch * h + r as usize) * w..][..w];
                        let dst = &mut patch[(ch * kh + u) * kw..][..kw];
                        for (v, d) in dst.iter_mut().enumerate() {
                            let t = win.tap(1, j, v);
                            if t >= 0 && (t as usize) < w {
                                *d = row[t as usize];
                            }
                        }
                    }
                }
            }
        }
        out
    })
    .concat()
}

/// `f` over contiguous parts of the rows of `x` (`[n][k]`), concatenated.
fn by_rows(x: &[f32], k: usize, threads: usize, f: impl Fn(&[f32]) -> Vec<f32> + Sync) -> Vec<f32> {
    let n = x.len() / k.max(1);
    let parts = threads.clamp(1, n.max(1));
    let per = n.div_ceil(parts);
    parallel::map(parts, parts, |t| f(&x[(t * per).min(n) * k..((t + 1) * per).min(n) * k])).concat()
}

/// `m` (`[rows][cols]`) transposed to `[cols][rows]`.
fn transpose(m: &[f32], rows: usize) -> Vec<f32> {
    let cols = m.len() / rows.max(1);
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
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
            let y = forward(&w, rows, &x, k, Some(&b), threads);
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
        for (kernel, stride, padding) in [([3, 3], [1, 1], [1, 1]), ([5, 2], [2, 3], [2, 0]), ([1, 1], [1, 1], [0, 0])]
        {
            let win = Window { kernel, stride, padding };
            let fast = im2col(&x, &shape, &win, 2);
            let want: Vec<f32> = x
                .chunks(3 * 7 * 6)
                .flat_map(|xb| crate::interp::ops::patches(xb, &shape, kernel, stride, padding, 1).0)
                .collect();
            assert_eq!(fast, want);
        }
    }

    #[test]
    fn gradients_are_the_reference_rules_bits() {
        let (rows, k, n) = (5, 11, 4);
        let w: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let x: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let dy: Vec<f32> = (0..n * rows).map(|i| if i % 3 == 0 { 0.0 } else { (i as f32).sin() }).collect();
        let r = crate::train::backward::mac::dense(n, &x, &w, &dy);
        for threads in [1, 3] {
            assert_eq!(weight_grad(&dy, rows, &x, k, threads), r.dw);
            assert_eq!(input_grad(&dy, rows, &w, k, threads), r.dx);
        }
    }
}
