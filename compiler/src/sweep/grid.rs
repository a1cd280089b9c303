//! The grid of a sweep: noise levels (`--sigma`), annotation values
//! (`--sweep`), shards, the seed of each point, and where a curve crosses the
//! midpoint level.
//!
//! Determinism: point `(site, value)` draws with the seed
//! `point_seed(seed, site, value_text)` = FNV-1a (64-bit) over the bytes of
//! `seed` (u64 little-endian), the site name, one 0 byte and the value as
//! written in the grid (`value_text`). It depends on nothing else, so
//! `--shard i/n` (the points `k` with `k mod n = i`, site-major order) on
//! different machines, joined by `analogc merge`, gives the same bits as one
//! unsharded run.

/// One grid value: the number (the plot's x) and the text it is set as.
#[derive(Clone, Debug, PartialEq)]
pub struct GridValue {
    pub value: f64,
    pub text: String,
}

/// FNV-1a, 64-bit: the documented seed of a grid point (see the module doc).
pub fn point_seed(seed: u64, site: &str, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = seed.to_le_bytes().into_iter().chain(site.bytes()).chain([0u8]).chain(value.bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Parses `--sigma`: `A..B:N` (log-spaced, endpoints exact) or `v1,v2,…`
/// (strictly increasing, ≥ 0).
pub fn parse_sigma(spec: &str) -> Result<Vec<f64>, String> {
    let spec = spec.trim();
    let num = |s: &str| -> Result<f64, String> {
        let v: f64 = s.trim().parse().map_err(|_| format!("`{}` is not a number", s.trim()))?;
        if !v.is_finite() {
            return Err(format!("`{}` is not finite", s.trim()));
        }
        Ok(v)
    };
    if let Some((range, count)) = spec.split_once(':') {
        let Some((a, b)) = range.split_once("..") else {
            return Err(format!("`{spec}`: a range is A..B:N"));
        };
        let (a, b) = (num(a)?, num(b)?);
        let n: usize =
            count.trim().parse().map_err(|_| format!("`{}` is not a whole number of points", count.trim()))?;
        if a <= 0.0 || b <= a {
            return Err(format!("`{spec}`: a log-spaced range needs 0 < A < B"));
        }
        if !(2..=10_000).contains(&n) {
            return Err(format!("`{spec}`: the number of points must be 2 to 10000"));
        }
        let (la, lb) = (a.ln(), b.ln());
        return Ok((0..n)
            .map(|k| match k {
                0 => a,
                k if k == n - 1 => b,
                k => (la + (lb - la) * k as f64 / (n - 1) as f64).exp(),
            })
            .collect());
    }
    if spec.contains("..") {
        return Err(format!("`{spec}`: a range needs a number of points, A..B:N"));
    }
    let values = spec.split(',').map(num).collect::<Result<Vec<_>, _>>()?;
    if values.iter().any(|v| *v < 0.0) {
        return Err(format!("`{spec}`: noise levels must be ≥ 0"));
    }
    if values.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!("`{spec}`: the values must be strictly increasing"));
    }
    Ok(values)
}

/// Parses `--sweep PATH=V1,V2,…`: the path and the values (each starting with
/// a number, the plot's x; a unit may follow, `0.5 lsb`).
pub fn parse_sweep(spec: &str) -> Result<(String, Vec<GridValue>), String> {
    let Some((path, values)) = spec.split_once('=') else {
        return Err(format!("`--sweep {spec}`: give PATH=V1,V2,…"));
    };
    let path = path.trim();
    if path.split('.').count() < 2 || path.split('.').any(|p| p.is_empty()) {
        return Err(format!("`{path}` is not a `--set` path (TARGET.EFFECT.PARAMETER)"));
    }
    let mut grid = vec![];
    for v in values.split(',') {
        let text = v.trim().to_string();
        let head = text.split_whitespace().next().unwrap_or("");
        let value: f64 =
            head.parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| format!("`{text}` is not a number"))?;
        grid.push(GridValue { value, text });
    }
    if grid.windows(2).any(|w| w[1].value <= w[0].value) {
        return Err(format!("`--sweep {spec}`: the values must be strictly increasing"));
    }
    Ok((path.to_string(), grid))
}

/// Parses `--shard i/n`.
pub fn parse_shard(spec: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`--shard {spec}`: give i/n with 0 ≤ i < n, e.g. 0/3");
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The σ where a curve, falling with σ, crosses `level`: between the first
/// two grid points around it (the first at or above `level`, the next below
/// it), linear in log σ (linear in σ when the lower point is 0). `None` when
/// the curve never crosses.
pub fn midpoint(values: &[f64], means: &[f64], level: f64) -> Option<f64> {
    for k in 0..values.len().saturating_sub(1) {
        let (m0, m1) = (means[k], means[k + 1]);
        if m0 >= level && m1 < level {
            let t = (m0 - level) / (m0 - m1);
            let (v0, v1) = (values[k], values[k + 1]);
            return Some(if v0 > 0.0 && v1 > 0.0 {
                (v0.ln() + t * (v1.ln() - v0.ln())).exp()
            } else {
                v0 + t * (v1 - v0)
            });
        }
    }
    None
}

/// A number to four significant digits, in exponent form outside [1e-3, 1e4).
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("{v}");
    }
    if (1e-3..1e4).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

/// The axis name and the grid of a sweep: `--sweep PATH=…` values when given,
/// else the `--sigma` levels.
pub fn grid_of(sweep: Option<&str>, sigma: &str) -> Result<(String, Vec<GridValue>), String> {
    match sweep {
        Some(spec) => parse_sweep(spec),
        None => Ok((
            "sigma".into(),
            parse_sigma(sigma)?.into_iter().map(|v| GridValue { value: v, text: format!("{v}") }).collect(),
        )),
    }
}
