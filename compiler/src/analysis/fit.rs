//! The statistics of the AME fit: a least-squares quadratic, leave-one-out
//! predictions, Spearman's rank correlation; and the multiplier list syntax.

/// Splits a list at the commas outside parentheses, brackets and quotes.
pub fn split_list(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (vec![], String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// `[c₀, c₁, c₂]` of the least-squares quadratic through `(x, y)`; `None` when
/// the points do not determine one (fewer than 3 distinct x).
pub fn fit_quadratic(x: &[f64], y: &[f64]) -> Option<[f64; 3]> {
    // Centred and scaled x keeps the normal equations well conditioned.
    let n = x.len() as f64;
    let mid = x.iter().sum::<f64>() / n;
    let scale = x.iter().map(|v| (v - mid).abs()).fold(0.0, f64::max);
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    let u: Vec<f64> = x.iter().map(|v| (v - mid) / scale).collect();
    let mut a = [[0.0f64; 4]; 3];
    for (ui, yi) in u.iter().zip(y) {
        let p = [1.0, *ui, ui * ui];
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] += p[r] * p[c];
            }
            a[r][3] += p[r] * yi;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..3 {
        let pivot = (col..3).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        a.swap(col, pivot);
        if a[col][col].abs() < 1e-12 * n {
            return None;
        }
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let b: Vec<f64> = (0..3).map(|r| a[r][3] / a[r][r]).collect();
    // y = b₀ + b₁·u + b₂·u², u = (x − mid)/scale, expanded in x.
    let (s, m) = (scale, mid);
    Some([b[0] - b[1] * m / s + b[2] * m * m / (s * s), b[1] / s - 2.0 * b[2] * m / (s * s), b[2] / (s * s)])
}

pub fn eval_quadratic(c: &[f64; 3], x: f64) -> f64 {
    c[0] + c[1] * x + c[2] * x * x
}

/// Ranks from 1, ties given their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for k in i..=j {
            r[order[k]] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation: Pearson's of the ranks (`None` if one side is constant).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_at_top_level_commas() {
        assert_eq!(split_list("drum(4), truncated(bits = 6),mitchell"), ["drum(4)", "truncated(bits = 6)", "mitchell"]);
        assert_eq!(
            split_list(r#"table("a,b.npy", layout = torchapprox),exact"#),
            [r#"table("a,b.npy", layout = torchapprox)"#, "exact"]
        );
        assert_eq!(split_list("a,,b"), ["a", "", "b"]);
    }

    #[test]
    fn spearman_uses_mean_ranks_for_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        assert_eq!(spearman(&[0.0, 1.0, 2.0], &[0.9, 0.8, 0.1]), Some(-1.0));
        assert_eq!(spearman(&[0.0, 1.0, 2.0], &[0.5; 3]), None);
    }

    #[test]
    fn quadratic_fit_recovers_a_parabola() {
        let x = [0.0, 1.0, 2.0, 3.0, 10.0];
        let y: Vec<f64> = x.iter().map(|v| 0.98 - 0.01 * v - 0.002 * v * v).collect();
        let c = fit_quadratic(&x, &y).unwrap();
        for (got, want) in c.iter().zip([0.98, -0.01, -0.002]) {
            assert!((got - want).abs() < 1e-12, "{c:?}");
        }
        assert_eq!(fit_quadratic(&[1.0, 1.0, 2.0], &[0.0, 1.0, 2.0]), None);
        assert_eq!(fit_quadratic(&[1.0; 4], &[0.0; 4]), None);
    }
}
