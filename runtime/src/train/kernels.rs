//! The fast path's matrix products, for MAC layers without effects (FP32,
//! exact sums, exact multiplier, no weight noise). The forward gives the
//! interpreter's bits: each output is summed from 0 in `k` order, one
//! rounded multiply and one rounded add per product (no fused multiply-add),
//! only several outputs at once. The backward sums in the reference rules'
//! orders (`backward::mac`), skipping zero gradients.

use super::parallel;

/// Outputs computed at once: independent sums the CPU overlaps.
const LANES: usize = 32;

/// `y[i][o] = Σ_j w[o][j]·x[i][j] + bias[o]`, `j` ascending, for the `n` rows
/// of `x` (`[n][k]`); `wt` is `w` transposed (`[k][rows]`), `y` is `[n][rows]`.
pub fn forward(wt: &[f32], rows: usize, x: &[f32], k: usize, bias: Option<&[f32]>, threads: usize) -> Vec<f32> {
    let n = x.len() / k.max(1);
    let mut y = vec![0.0f32; n * rows];
    let rows_per_chunk = n.div_ceil(threads.max(1)).max(1);
    parallel::chunks_mut(&mut y, rows_per_chunk * rows, threads, |c, ys| {
        for (r, yr) in ys.chunks_mut(rows).enumerate() {
            let xr = &x[(c * rows_per_chunk + r) * k..][..k];
            row(wt, rows, xr, yr);
            if let Some(b) = bias {
                yr.iter_mut().zip(b).for_each(|(y, b)| *y += b);
            }
        }
    });
    y
}

/// One row of [`forward`], without the bias.
fn row(wt: &[f32], rows: usize, x: &[f32], y: &mut [f32]) {
    let mut o = 0;
    while o + LANES <= rows {
        let mut acc = [0.0f32; LANES];
        for (j, xj) in x.iter().enumerate() {
            let w: &[f32; LANES] = wt[j * rows + o..][..LANES].try_into().expect("LANES weights");
            for l in 0..LANES {
                acc[l] += w[l] * xj;
            }
        }
        y[o..o + LANES].copy_from_slice(&acc);
        o += LANES;
    }
    for (oo, yo) in y.iter_mut().enumerate().skip(o) {
        *yo = x.iter().enumerate().fold(0.0f32, |s, (j, xj)| s + wt[j * rows + oo] * xj);
    }
}

/// `w` (`[rows][k]`) transposed to `[k][rows]`.
pub fn transpose(w: &[f32], rows: usize) -> Vec<f32> {
    let k = w.len() / rows.max(1);
    let mut t = vec![0.0; w.len()];
    for o in 0..rows {
        for j in 0..k {
            t[j * rows + o] = w[o * k + j];
        }
    }
    t
}

/// `dw[o][j] = Σ_i dy[i][o]·x[i][j]`, `i` ascending; `dy` is `[n][rows]`, `x` `[n][k]`.
pub fn weight_grad(dy: &[f32], rows: usize, x: &[f32], k: usize, threads: usize) -> Vec<f32> {
    let n = dy.len() / rows.max(1);
    let mut dw = vec![0.0f32; rows * k];
    parallel::chunks_mut(&mut dw, k.max(1), threads, |o, dwo| {
        for i in 0..n {
            let d = dy[i * rows + o];
            if d != 0.0 {
                dwo.iter_mut().zip(&x[i * k..(i + 1) * k]).for_each(|(g, x)| *g += d * x);
            }
        }
    });
    dw
}

/// `dx[i][j] = Σ_o dy[i][o]·w[o][j]`, `o` ascending; `dy` is `[n][rows]`, `w` `[rows][k]`.
pub fn input_grad(dy: &[f32], rows: usize, w: &[f32], k: usize, threads: usize) -> Vec<f32> {
    let n = dy.len() / rows.max(1);
    let mut dx = vec![0.0f32; n * k];
    parallel::chunks_mut(&mut dx, k.max(1), threads, |i, dxi| {
        for o in 0..rows {
            let d = dy[i * rows + o];
            if d != 0.0 {
                dxi.iter_mut().zip(&w[o * k..(o + 1) * k]).for_each(|(g, w)| *g += d * w);
            }
        }
    });
    dx
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
        let y = forward(&transpose(&w, rows), rows, &x, k, Some(&b), 2);
        for i in 0..n {
            let want = crate::interp::ops::dense(&x[i * k..(i + 1) * k], &w, Some(&b));
            assert_eq!(y[i * rows..(i + 1) * rows], want[..]);
        }
    }

    #[test]
    fn gradients_match_the_reference_rule() {
        let (rows, k, n) = (5, 7, 4);
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
