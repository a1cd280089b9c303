//! Statistical quality of the shared generator (`analog_runtime::rng`).
//!
//! Every test uses fixed seeds, so it is deterministic: it either always passes
//! or always fails. The tolerances are 5 standard deviations of the statistic
//! under the null hypothesis (a true N(0, 1) or U(0, 1) source), derived from the
//! sample size in each test; a correct generator fails one of them with
//! probability about 6·10^−7 per bound, i.e. for an unlucky seed only.
//! Run with `-- --nocapture` to see the observed statistics.

use analog_runtime::rng::{fill_gaussian, gaussian, permutation, uniform, PER_CHIP};

const SEED: u64 = 0x0005_eed0_fa11_c0de;
/// Elements per sample (one `fill_gaussian` call).
const LEN: usize = 1 << 16;
/// Samples per data set: `SAMPLES · LEN = 2^22 ≈ 4.2 million` draws.
const SAMPLES: u32 = 64;
const N: usize = LEN * SAMPLES as usize;

/// `SAMPLES · len` Gaussians: samples `0..SAMPLES`, elements `0..len` of each.
fn gaussians(seed: u64, trial: u32, site: u32, len: usize) -> Vec<f32> {
    let mut v = vec![0f32; len * SAMPLES as usize];
    for (s, chunk) in v.chunks_exact_mut(len).enumerate() {
        fill_gaussian(seed, trial, s as u32, site, chunk);
    }
    v
}

/// Mean, variance, skewness and excess kurtosis (two-pass, f64).
fn moments(x: &[f32]) -> (f64, f64, f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut m2, mut m3, mut m4) = (0f64, 0f64, 0f64);
    for &v in x {
        let d = v as f64 - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    let (m2, m3, m4) = (m2 / n, m3 / n, m4 / n);
    (mean, m2, m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0)
}

/// Pearson correlation of two equally long series.
fn pearson(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

/// The standard normal CDF, to about 1e−15 absolute: Marsaglia's series
/// (J. Stat. Softw. 11(4), 2004), Φ(x) = 1/2 + φ(x)·(x + x³/3 + x⁵/(3·5) + …),
/// whose terms are all of one sign (no cancellation).
fn phi(x: f64) -> f64 {
    if x < -10.0 {
        return 0.0;
    }
    if x > 10.0 {
        return 1.0;
    }
    let q = x * x;
    let (mut s, mut t, mut b, mut i) = (x, 0.0f64, x, 1.0f64);
    while s != t {
        t = s;
        i += 2.0;
        b *= q / i;
        s = t + b;
    }
    // ln(sqrt(2π)) = 0.918938533204672741780329736406
    0.5 + s * (-0.5 * q - 0.918_938_533_204_672_7).exp()
}

/// The two-sided probability P(|Z| > k) of a standard normal.
fn two_sided_tail(k: f64) -> f64 {
    2.0 * phi(-k)
}

/// Kolmogorov–Smirnov statistic of the data against `cdf`.
fn ks_statistic(data: &[f32], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut x = data.to_vec();
    x.sort_unstable_by(f32::total_cmp);
    let n = x.len() as f64;
    let mut d = 0f64;
    for (i, &v) in x.iter().enumerate() {
        let f = cdf(v as f64);
        d = d.max((i + 1) as f64 / n - f).max(f - i as f64 / n);
    }
    d
}

/// Critical value of the KS statistic at α = 0.001 for `n` draws (asymptotic
/// Kolmogorov distribution: c(α) = sqrt(−ln(α/2)/2) = 1.94947).
fn ks_critical(n: usize) -> f64 {
    (-(0.001f64 / 2.0).ln() / 2.0).sqrt() / (n as f64).sqrt()
}

#[test]
fn normal_cdf_reference() {
    // The numbers quoted in the task: 2.6998e-3 beyond 3σ, 6.334e-5 beyond 4σ.
    assert!((two_sided_tail(3.0) - 2.6998e-3).abs() < 1e-7);
    assert!((two_sided_tail(4.0) - 6.334e-5).abs() < 1e-8);
    assert!((phi(0.0) - 0.5).abs() < 1e-16);
    assert!((phi(1.959963984540054) - 0.975).abs() < 1e-15);
    assert!((phi(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-15);
}

#[test]
fn gaussian_moments() {
    let z = gaussians(SEED, 0, 0, LEN);
    let n = z.len() as f64;
    let (mean, var, skew, kurt) = moments(&z);
    // Standard errors under N(0, 1): mean 1/√N, variance √(2/N), skewness √(6/N),
    // excess kurtosis √(24/N).
    let (se_m, se_v, se_s, se_k) = (1.0 / n.sqrt(), (2.0 / n).sqrt(), (6.0 / n).sqrt(), (24.0 / n).sqrt());
    println!(
        "N = {n}: mean {mean:+.3e} ({:+.2}σ), variance {var:.6} ({:+.2}σ), skewness {skew:+.3e} ({:+.2}σ), \
         excess kurtosis {kurt:+.3e} ({:+.2}σ)",
        mean / se_m,
        (var - 1.0) / se_v,
        skew / se_s,
        kurt / se_k
    );
    assert!(mean.abs() < 5.0 * se_m, "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * se_v, "variance {var}");
    assert!(skew.abs() < 5.0 * se_s, "skewness {skew}");
    assert!(kurt.abs() < 5.0 * se_k, "excess kurtosis {kurt}");
    assert!(z.iter().all(|v| v.is_finite()));
}

#[test]
fn gaussian_kolmogorov_smirnov() {
    let z = gaussians(SEED, 1, 0, LEN);
    let d = ks_statistic(&z, phi);
    let crit = ks_critical(z.len());
    println!(
        "KS vs N(0,1), N = {}: D = {d:.3e}, √N·D = {:.3}, critical (α = 0.001) {crit:.3e}",
        z.len(),
        d * (z.len() as f64).sqrt()
    );
    assert!(d < crit, "KS D = {d} ≥ {crit}");
}

/// Counts beyond kσ against the binomial: expected N·p, standard deviation
/// √(N·p·(1 − p)), tolerance 5 standard deviations.
fn check_tails(z: &[f32], ks: &[f64]) {
    let n = z.len() as f64;
    for &k in ks {
        let p = two_sided_tail(k);
        let count = z.iter().filter(|v| (v.abs() as f64) > k).count() as f64;
        let sd = (n * p * (1.0 - p)).sqrt();
        println!(
            "N = {n}: beyond {k}σ {count} (frequency {:.4e}), expected {:.1} (p = {p:.4e}), {:+.2}σ",
            count / n,
            n * p,
            (count - n * p) / sd
        );
        assert!((count - n * p).abs() < 5.0 * sd, "tail beyond {k}σ: {count}, expected {}", n * p);
    }
}

#[test]
fn gaussian_tails() {
    check_tails(&gaussians(SEED, 2, 0, LEN), &[1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn gaussian_deep_tails() {
    // 2^26 draws: 38 expected beyond 5σ. The largest possible |z| is
    // sqrt(−2 ln 2^−24) ≈ 5.768 (P(|Z| > 5.768) ≈ 8e−9: 0.5 expected here).
    let z = gaussians(SEED, 3, 0, LEN * 16);
    check_tails(&z, &[4.0, 4.5, 5.0]);
    let max = z.iter().fold(0f32, |m, v| m.max(v.abs()));
    println!("largest |z| of {}: {max}", z.len());
    assert!(max <= 5.7682);
}

/// Correlation between pairs of draws; bound 5/√N (the standard error of ρ
/// under independence is 1/√N).
fn check_correlation(what: &str, a: &[f32], b: &[f32]) {
    let rho = pearson(a, b);
    let bound = 5.0 / (a.len() as f64).sqrt();
    println!("ρ({what}) = {rho:+.3e} over N = {} ({:+.2}σ)", a.len(), rho * (a.len() as f64).sqrt());
    assert!(rho.abs() < bound, "correlation of {what}: {rho} (bound {bound})");
}

#[test]
fn correlation_neighbouring_elements() {
    let z = gaussians(SEED, 4, 9, LEN + 3);
    for lag in 1..=3 {
        let (mut a, mut b) = (Vec::with_capacity(N), Vec::with_capacity(N));
        for s in z.chunks_exact(LEN + 3) {
            a.extend_from_slice(&s[..LEN]);
            b.extend_from_slice(&s[lag..LEN + lag]);
        }
        check_correlation(&format!("element e, e+{lag}"), &a, &b);
    }
    // One Philox block serves elements 64g + 16i + l, i = 0..4: two Box–Muller
    // pairs, i = 0, 1 from words 0 and 1, i = 2, 3 from words 2 and 3. The two
    // of a pair share (u1, u2): uncorrelated and independent, so their squares
    // are uncorrelated too; the two pairs share nothing.
    let (mut a, mut b) = (Vec::with_capacity(N), Vec::with_capacity(N));
    for s in z.chunks_exact(LEN + 3) {
        a.extend_from_slice(&s[..LEN - 32]);
        b.extend_from_slice(&s[32..LEN]);
    }
    check_correlation("element e, e+32", &a, &b);
    let at = |g: usize, i: usize, l: usize| 64 * g + 16 * i + l;
    for (what, i, j) in
        [("z²(draw 0), z²(draw 1)", 0, 1), ("z²(draw 2), z²(draw 3)", 2, 3), ("z²(draw 0), z²(draw 2)", 0, 2)]
    {
        let (mut a2, mut b2) = (Vec::with_capacity(N / 4), Vec::with_capacity(N / 4));
        for s in z.chunks_exact(LEN + 3) {
            for g in 0..LEN / 64 {
                for l in 0..16 {
                    a2.push(s[at(g, i, l)] * s[at(g, i, l)]);
                    b2.push(s[at(g, j, l)] * s[at(g, j, l)]);
                }
            }
        }
        check_correlation(what, &a2, &b2);
    }
}

#[test]
fn correlation_neighbouring_sites_samples_trials_seeds() {
    let base = gaussians(SEED, 5, 20, LEN);
    check_correlation("site s, s+1", &base, &gaussians(SEED, 5, 21, LEN));
    check_correlation("trial t, t+1", &base, &gaussians(SEED, 6, 20, LEN));
    check_correlation("seed, seed+1", &base, &gaussians(SEED + 1, 5, 20, LEN));
    check_correlation("seed, seed+2^32", &base, &gaussians(SEED + (1 << 32), 5, 20, LEN));
    // Samples: `base` holds samples 0..64; pair sample s with s + 1.
    let next: Vec<f32> = {
        let mut v = base[LEN..].to_vec();
        let mut last = vec![0f32; LEN];
        fill_gaussian(SEED, 5, SAMPLES, 20, &mut last);
        v.extend_from_slice(&last);
        v
    };
    check_correlation("sample i, i+1", &base, &next);
    // A dynamic draw against the static (per-chip) draw of the same site.
    let mut per_chip = vec![0f32; LEN];
    fill_gaussian(SEED, 5, PER_CHIP, 20, &mut per_chip);
    check_correlation("sample 0, PER_CHIP", &base[..LEN], &per_chip);
}

/// Uniforms take one Philox word each, four to a block (elements 16 apart):
/// neighbours within and across blocks are uncorrelated. (A uniform and the Gaussian of the same
/// coordinates share bits by design; a site draws one kind only.)
#[test]
fn correlation_neighbouring_uniforms() {
    let n = 1u32 << 22;
    let u: Vec<f32> = (0..n).map(|e| uniform(SEED, 7, 1, 3, e)).collect();
    for lag in [1, 2, 16, 32, 48, 64] {
        check_correlation(&format!("uniform(e), uniform(e+{lag})"), &u[..u.len() - lag], &u[lag..]);
    }
}

#[test]
fn fill_matches_gaussian_bit_for_bit() {
    let coords = [
        (SEED, 0u32, 0u32, 0u32),
        (0, 0, 0, 0),
        (u64::MAX, u32::MAX, u32::MAX, u32::MAX),
        (SEED, 11, PER_CHIP, 7),
        (0x0123_4567_89ab_cdef, 1, 2, 3),
    ];
    for (seed, trial, sample, site) in coords {
        for len in [0usize, 1, 2, 3, 5, 16, 31, 32, 33, 64, 65, 127, 1000, 10_007] {
            let mut out = vec![f32::NAN; len];
            fill_gaussian(seed, trial, sample, site, &mut out);
            for (e, v) in out.iter().enumerate() {
                let g = gaussian(seed, trial, sample, site, e as u32);
                assert_eq!(v.to_bits(), g.to_bits(), "({seed}, {trial}, {sample}, {site}) len {len} element {e}");
            }
        }
    }
    // A prefix of a longer fill is the shorter fill (nothing depends on the length).
    let mut long = vec![0f32; 4096];
    let mut short = vec![0f32; 77];
    fill_gaussian(SEED, 1, 2, 3, &mut long);
    fill_gaussian(SEED, 1, 2, 3, &mut short);
    assert_eq!(
        long[..77].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        short.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn every_coordinate_changes_the_value() {
    // 1000 base points spread over the whole coordinate space (derived from the
    // generator itself), each coordinate changed in its low and high bits.
    for i in 0..1000u32 {
        let h = |k: u32| (uniform(SEED, i, k, 99, 0).to_bits() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (seed, trial, sample, site, element) = (h(0), h(1) as u32, h(2) as u32, h(3) as u32, h(4) as u32 >> 1);
        let g = gaussian(seed, trial, sample, site, element);
        let u = uniform(seed, trial, sample, site, element);
        let variants = [
            (seed ^ 1, trial, sample, site, element),
            (seed ^ (1 << 32), trial, sample, site, element),
            (seed ^ (1 << 63), trial, sample, site, element),
            (seed, trial ^ 1, sample, site, element),
            (seed, trial ^ (1 << 31), sample, site, element),
            (seed, trial, sample ^ 1, site, element),
            (seed, trial, sample ^ (1 << 31), site, element),
            (seed, trial, sample, site ^ 1, element),
            (seed, trial, sample, site ^ (1 << 31), element),
            (seed, trial, sample, site, element ^ 1),
            (seed, trial, sample, site, element ^ 2),
            (seed, trial, sample, site, element ^ (1 << 31)),
        ];
        for (j, &(a, b, c, d, e)) in variants.iter().enumerate() {
            assert_ne!(gaussian(a, b, c, d, e).to_bits(), g.to_bits(), "point {i}, variant {j}");
            assert_ne!(uniform(a, b, c, d, e).to_bits(), u.to_bits(), "point {i}, variant {j}");
        }
    }
}

#[test]
fn uniform_mean_and_kolmogorov_smirnov() {
    let n = 1u32 << 22;
    let u: Vec<f32> = (0..n).map(|e| uniform(SEED, 8, e >> 16, 4, e & 0xffff)).collect();
    assert!(u.iter().all(|&v| v > 0.0 && v < 1.0));
    let (mean, var, skew, kurt) = moments(&u);
    let nf = n as f64;
    // U(0, 1): mean 1/2 (se √(1/12)/√N), variance 1/12 (se √((1/80 − 1/144)/N)),
    // skewness 0, excess kurtosis −1.2.
    let se_m = (1.0 / 12.0 / nf).sqrt();
    let se_v = ((1.0 / 80.0 - 1.0 / 144.0) / nf).sqrt();
    println!(
        "uniform, N = {n}: mean {mean:.6} ({:+.2}σ), variance {var:.6} ({:+.2}σ), skewness {skew:+.2e}, excess kurtosis {kurt:.4}",
        (mean - 0.5) / se_m,
        (var - 1.0 / 12.0) / se_v
    );
    assert!((mean - 0.5).abs() < 5.0 * se_m, "mean {mean}");
    assert!((var - 1.0 / 12.0).abs() < 5.0 * se_v, "variance {var}");
    let d = ks_statistic(&u, |x| x.clamp(0.0, 1.0));
    let crit = ks_critical(u.len());
    println!("KS vs U(0,1), N = {n}: D = {d:.3e}, √N·D = {:.3}, critical (α = 0.001) {crit:.3e}", d * nf.sqrt());
    assert!(d < crit, "KS D = {d} ≥ {crit}");
}

fn is_permutation(p: &[u32]) -> bool {
    let mut seen = vec![false; p.len()];
    p.iter().all(|&v| (v as usize) < p.len() && !std::mem::replace(&mut seen[v as usize], true))
}

#[test]
fn permutation_is_a_permutation() {
    for n in [0usize, 1, 2, 3, 10, 1000, 4097] {
        for trial in 0..4 {
            let p = permutation(SEED, trial, 17, n);
            assert_eq!(p.len(), n);
            assert!(is_permutation(&p), "n {n} trial {trial}");
            assert_eq!(p, permutation(SEED, trial, 17, n), "deterministic");
        }
    }
    assert_eq!(permutation(SEED, 0, 17, 1), vec![0]);
}

#[test]
fn permutation_differs_per_trial_site_and_seed() {
    let n = 100;
    let perms: Vec<Vec<u32>> = (0..50).map(|t| permutation(SEED, t, 3, n)).collect();
    for i in 0..perms.len() {
        for j in 0..i {
            assert_ne!(perms[i], perms[j], "trials {i} and {j}");
        }
    }
    assert_ne!(permutation(SEED, 0, 3, n), permutation(SEED, 0, 4, n));
    assert_ne!(permutation(SEED, 0, 3, n), permutation(SEED + 1, 0, 3, n));
    assert_ne!(permutation(SEED, 0, 3, n), (0..n as u32).collect::<Vec<_>>());
}

#[test]
fn permutation_positions_are_uniform() {
    // n = 10 over T = 100 000 trials: every (element, position) cell is
    // Binomial(T, 1/10): expected 10 000, sd 94.9, tolerance 5 sd.
    let (n, t) = (10usize, 100_000u32);
    let mut counts = vec![vec![0u32; n]; n];
    for trial in 0..t {
        for (pos, &v) in permutation(SEED, trial, 5, n).iter().enumerate() {
            counts[v as usize][pos] += 1;
        }
    }
    let expected = t as f64 / n as f64;
    let sd = (t as f64 * 0.1 * 0.9).sqrt();
    let worst = counts.iter().flatten().map(|&c| (c as f64 - expected).abs() / sd).fold(0f64, f64::max);
    println!(
        "positions of element 0 over {t} trials: {:?} (expected {expected}, sd {sd:.1}); worst cell {worst:.2}σ",
        counts[0]
    );
    assert!(worst < 5.0, "a cell is {worst} sd from its expectation");

    // n = 3 over 60 000 trials: each of the 6 orders is Binomial(T, 1/6):
    // expected 10 000, sd 91.3.
    let t = 60_000u32;
    let mut by_order = std::collections::BTreeMap::new();
    for trial in 0..t {
        *by_order.entry(permutation(SEED, trial, 6, 3)).or_insert(0u32) += 1;
    }
    let sd = (t as f64 / 6.0 * 5.0 / 6.0).sqrt();
    println!("orders of 3 over {t} trials: {by_order:?} (expected 10000, sd {sd:.1})");
    assert_eq!(by_order.len(), 6);
    for (order, &c) in &by_order {
        assert!((c as f64 - 10_000.0).abs() < 5.0 * sd, "order {order:?}: {c}");
    }
}
