//! Closed-form approximate 8-bit multipliers (docs/language.md §6.4) and the
//! classic error metrics of a multiplier's 256×256 product table.
//!
//! Every design is a function `M(a, b)` of two 8-bit operands: `a` is the input
//! activation, `b` the weight. Operands are in `-128..=127` when signed and in
//! `0..=255` when unsigned.
//!
//! **Signed operands (sign-magnitude).** A signed design multiplies the
//! magnitudes `|a|` and `|b|` (in `0..=128`; `|−128| = 128` is an 8-bit
//! magnitude) with the unsigned design and gives the result the sign of `a·b`.
//! Hence `M(a, b) = 0` whenever `a = 0` or `b = 0`, `M(−a, b) = −M(a, b)`, and
//! every design is symmetric in `|a|`, `|b|` exactly as its unsigned version.
//!
//! **Zero operands.** Every design returns 0 when either operand is 0 (Mitchell
//! and DRUM need a leading one, which zero does not have).

use std::fmt;

use crate::product_table::ProductTable;

/// A closed-form multiplier design.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Design {
    /// `M(a, b) = a·b`.
    Exact,
    /// Partial-product truncation: of the partial products `a_i·b_j·2^(i+j)` of
    /// the magnitudes (`a_i`, `b_j` their bits), those in columns
    /// `i + j < bits` are dropped and the rest are summed exactly. The carries
    /// the dropped columns would have produced are lost as well, so this is *not*
    /// the exact product with its low `bits` bits masked off (it is never larger
    /// than that). `bits = 0` is exact; `bits ≥ 15` drops every column of an
    /// 8×8-bit product and gives 0.
    Truncated { bits: u32 },
    /// Mitchell's logarithmic multiplier (J. N. Mitchell, "Computer
    /// multiplication and division using binary logarithms", IRE Trans.
    /// Electronic Computers, 1962); see [`product`] for the integer evaluation.
    Mitchell,
    /// DRUM-k (Hashemi, Bahar, Reda, "DRUM: A Dynamic Range Unbiased Multiplier
    /// for approximate applications", ICCAD 2015): each operand with more than
    /// `k` significant bits keeps the `k` bits starting at its leading one, with
    /// the lowest kept bit forced to 1, and drops the bits below them; operands
    /// of at most `k` significant bits are kept exactly. The two reduced values
    /// are multiplied exactly and the product is shifted back by both shifts.
    /// The language allows `k` in 3…8; this function accepts any `k ≥ 1`
    /// (`k ≥ 8` is exact for 8-bit operands).
    Drum { k: u32 },
}

impl fmt::Display for Design {
    /// The design as written in the language (`exact`, `truncated(6)`, `mitchell`, `drum(4)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Design::Exact => write!(f, "exact"),
            Design::Truncated { bits } => write!(f, "truncated({bits})"),
            Design::Mitchell => write!(f, "mitchell"),
            Design::Drum { k } => write!(f, "drum({k})"),
        }
    }
}

/// `M(a, b)` of `design`: `a` is the input activation, `b` the weight, both in
/// `-128..=127` when `signed` and in `0..=255` otherwise.
///
/// Signed operands are multiplied as magnitudes and the sign of `a·b` is
/// reapplied (see the module documentation); a zero operand gives 0.
///
/// **Mitchell in integers.** For magnitudes `x, y > 0` with leading ones at
/// `k₁, k₂` and remainders `r₁ = x − 2^k₁`, `r₂ = y − 2^k₂` (so
/// `f₁ = r₁/2^k₁`, `f₂ = r₂/2^k₂`), both fractions are aligned to 8 fraction
/// bits, `F₁ = r₁·2^(8−k₁)`, `F₂ = r₂·2^(8−k₂)` (exact, since `k ≤ 7`), and
/// `S = F₁ + F₂` is their fixed-point sum. If `S < 2^8` (`f₁ + f₂ < 1`):
/// `M = ((2^8 + S)·2^(k₁+k₂)) >> 8`, else `M = (S·2^(k₁+k₂+1)) >> 8`. The shift
/// truncates (rounds toward zero, the magnitude being positive). For integer
/// operands nothing is ever truncated: `2^(k₁+k₂)(1 + f₁ + f₂) = 2^(k₁+k₂) +
/// r₁·2^k₂ + r₂·2^k₁` and `2^(k₁+k₂+1)(f₁ + f₂) = 2·(r₁·2^k₂ + r₂·2^k₁)` are
/// whole numbers, so `M` equals the real-valued formula exactly.
///
/// # Panics
///
/// If an operand is out of range, or for `Drum { k: 0 }`.
pub fn product(design: Design, a: i32, b: i32, signed: bool) -> i32 {
    let range = if signed { -128..=127 } else { 0..=255 };
    assert!(
        range.contains(&a) && range.contains(&b),
        "multiplier operands ({a}, {b}) out of range for {} 8-bit operands",
        if signed { "signed" } else { "unsigned" }
    );
    let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
    if x == 0 || y == 0 {
        return 0;
    }
    let magnitude = match design {
        Design::Exact => x * y,
        Design::Truncated { bits } => truncated(x, y, bits),
        Design::Mitchell => mitchell(x, y),
        Design::Drum { k } => drum(x, y, k),
    } as i32;
    if (a < 0) != (b < 0) {
        -magnitude
    } else {
        magnitude
    }
}

/// The table of `design` over all 65,536 operand pairs.
pub fn table(design: Design, signed: bool) -> ProductTable {
    ProductTable::from_fn(signed, |a, b| product(design, a, b, signed))
}

/// Magnitudes in this module have at most 8 bits (`0..=255`, or `0..=128`).
const BITS: u32 = 8;

/// Sum of the partial products of `x·y` in columns `≥ bits`, row by row: row
/// `i` (bit `i` of `x`) keeps the bits `j ≥ bits − i` of `y`.
fn truncated(x: u32, y: u32, bits: u32) -> u32 {
    (0..BITS)
        .filter(|i| x >> i & 1 == 1)
        .map(|i| {
            let lowest_kept = bits.saturating_sub(i);
            if lowest_kept >= BITS {
                0
            } else {
                (y >> lowest_kept << lowest_kept) << i
            }
        })
        .sum()
}

/// Position of the leading one of `x > 0`.
fn leading_one(x: u32) -> u32 {
    31 - x.leading_zeros()
}

/// Mitchell's product of `x, y > 0` in 8-fraction-bit fixed point (see [`product`]).
fn mitchell(x: u32, y: u32) -> u32 {
    const FRAC: u32 = BITS;
    let (k1, k2) = (leading_one(x), leading_one(y));
    let f1 = (x - (1 << k1)) << (FRAC - k1);
    let f2 = (y - (1 << k2)) << (FRAC - k2);
    let s = f1 + f2;
    if s < 1 << FRAC {
        ((1 << FRAC) + s) << (k1 + k2) >> FRAC
    } else {
        s << (k1 + k2 + 1) >> FRAC
    }
}

/// DRUM-k operand reduction of `x > 0`: `(reduced value, shift)`.
fn drum_reduce(x: u32, k: u32) -> (u32, u32) {
    let significant = leading_one(x) + 1;
    if significant <= k {
        (x, 0)
    } else {
        let shift = significant - k;
        ((x >> shift) | 1, shift)
    }
}

fn drum(x: u32, y: u32, k: u32) -> u32 {
    assert!(k >= 1, "drum(k) needs k ≥ 1 (the language allows 3…8)");
    let (rx, sx) = drum_reduce(x, k);
    let (ry, sy) = drum_reduce(y, k);
    (rx * ry) << (sx + sy)
}

/// Error metrics of a multiplier over all 65,536 operand pairs of its table,
/// with `E(a, b) = M(a, b) − a·b` (in units of the product's LSB) and the
/// operands taken as signed or unsigned according to `table.signed`. All means
/// are plain averages over the pairs (every pair weighs the same).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ErrorStats {
    /// Fraction of the 65,536 pairs with `E ≠ 0`.
    pub error_rate: f64,
    /// Mean error `ΣE / 65536` (the bias).
    pub mean_error: f64,
    /// Mean absolute error `Σ|E| / 65536`.
    pub mean_abs_error: f64,
    /// Mean relative error distance: the mean of `|E| / |a·b|` over the pairs
    /// with `a·b ≠ 0` (65,025 of them, both signed and unsigned); a fraction,
    /// not a percentage.
    pub mred: f64,
    /// Worst-case error: `max |E|` over all pairs.
    pub worst_case: i64,
    /// Population standard deviation of `E` over all pairs (divided by 65,536,
    /// not 65,535).
    pub error_std: f64,
}

/// [`ErrorStats`] of `table` against the exact product.
pub fn error_stats(table: &ProductTable) -> ErrorStats {
    let operands: Vec<i64> = if table.signed { (-128..=127).collect() } else { (0..=255).collect() };
    let mut errors = Vec::with_capacity(65536);
    let (mut relative_sum, mut nonzero) = (0.0f64, 0usize);
    for &a in &operands {
        for &b in &operands {
            let exact = a * b;
            let e = table.product(a as i32, b as i32) as i64 - exact;
            errors.push(e);
            if exact != 0 {
                relative_sum += e.unsigned_abs() as f64 / exact.unsigned_abs() as f64;
                nonzero += 1;
            }
        }
    }
    let n = errors.len() as f64;
    let mean_error = errors.iter().sum::<i64>() as f64 / n;
    ErrorStats {
        error_rate: errors.iter().filter(|&&e| e != 0).count() as f64 / n,
        mean_error,
        mean_abs_error: errors.iter().map(|e| e.unsigned_abs()).sum::<u64>() as f64 / n,
        mred: relative_sum / nonzero as f64,
        worst_case: errors.iter().map(|e| e.abs()).max().unwrap_or(0),
        error_std: (errors.iter().map(|&e| (e as f64 - mean_error).powi(2)).sum::<f64>() / n).sqrt(),
    }
}
