//! The closed-form multipliers of `analog_runtime::multiplier` against
//! brute-force evaluations of their published definitions, written here
//! independently and as literally as possible, over all 65,536 operand pairs.

use analog_runtime::multiplier::{error_stats, product, table, Design, ErrorStats};
use analog_runtime::product_table::{Layout, ProductTable};

fn operands(signed: bool) -> std::ops::RangeInclusive<i32> {
    if signed {
        -128..=127
    } else {
        0..=255
    }
}

/// Every operand pair `(a, b)` of the signed or unsigned range.
fn pairs(signed: bool) -> impl Iterator<Item = (i32, i32)> {
    operands(signed).flat_map(move |a| operands(signed).map(move |b| (a, b)))
}

/// Sign-magnitude: the unsigned reference `m` applied to `|a|`, `|b|`, with the
/// sign of `a·b` (so 0 if either operand is 0).
fn sign_magnitude(a: i32, b: i32, m: impl Fn(i64, i64) -> i64) -> i32 {
    if a == 0 || b == 0 {
        return 0;
    }
    ((a as i64 * b as i64).signum() * m((a as i64).abs(), (b as i64).abs())) as i32
}

/// Truncated multiplier, literally: the sum over bits `i` of `x` and `j` of `y`
/// of the partial products `x_i·y_j·2^(i+j)` whose column `i + j` is at least `bits`.
fn truncated_reference(x: i64, y: i64, bits: u32) -> i64 {
    let mut sum = 0;
    for i in 0..8u32 {
        for j in 0..8u32 {
            let (x_i, y_j) = ((x >> i) & 1, (y >> j) & 1);
            if i + j >= bits {
                sum += x_i * y_j * 2i64.pow(i + j);
            }
        }
    }
    sum
}

/// Mitchell's multiplier as he described it: approximate `log2 v ≈ k + f`
/// (`k` the characteristic, `f = v/2^k − 1` the piecewise-linear mantissa), add
/// the two logarithms, and take the antilog with the same linear approximation,
/// `2^(K + F) ≈ 2^K·(1 + F)`. Then truncate to an integer.
fn mitchell_log_reference(x: i64, y: i64) -> i64 {
    let approx_log2 = |v: f64| {
        let k = v.log2().floor();
        k + (v / 2f64.powf(k) - 1.0)
    };
    let sum = approx_log2(x as f64) + approx_log2(y as f64);
    let (characteristic, mantissa) = (sum.floor(), sum - sum.floor());
    (2f64.powf(characteristic) * (1.0 + mantissa)).trunc() as i64
}

/// Mitchell's product in the two-case form of docs/language.md §6.4, in f64.
fn mitchell_case_reference(x: i64, y: i64) -> i64 {
    let (a, b) = (x as f64, y as f64);
    let (k1, k2) = (a.log2().floor(), b.log2().floor());
    let (f1, f2) = ((a - 2f64.powf(k1)) / 2f64.powf(k1), (b - 2f64.powf(k2)) / 2f64.powf(k2));
    let m = if f1 + f2 < 1.0 { 2f64.powf(k1 + k2) * (1.0 + f1 + f2) } else { 2f64.powf(k1 + k2 + 1.0) * (f1 + f2) };
    m.trunc() as i64
}

/// DRUM-k, built on the bit string: an operand written with more than `k`
/// binary digits keeps its first `k` digits with the last of them set to `1`,
/// and remembers how many digits it dropped; the reduced values are multiplied
/// exactly and the product gets the dropped digits back as zeros.
fn drum_reference(x: i64, y: i64, k: usize) -> i64 {
    let reduce = |v: i64| -> (i64, usize) {
        let digits = format!("{v:b}");
        if digits.len() <= k {
            (v, 0)
        } else {
            let mut kept = digits[..k].to_string();
            kept.replace_range(k - 1..k, "1");
            (i64::from_str_radix(&kept, 2).unwrap(), digits.len() - k)
        }
    };
    let ((rx, sx), (ry, sy)) = (reduce(x), reduce(y));
    let digits = format!("{:b}", rx * ry) + &"0".repeat(sx + sy);
    i64::from_str_radix(&digits, 2).unwrap()
}

/// Asserts `table(design, signed)` and `product(design, ..)` equal `reference` on every pair.
fn assert_matches(design: Design, signed: bool, reference: impl Fn(i32, i32) -> i32) {
    let t = table(design, signed);
    for (a, b) in pairs(signed) {
        let expected = reference(a, b);
        assert_eq!(product(design, a, b, signed), expected, "{design} signed={signed} ({a}, {b})");
        assert_eq!(t.product(a, b), expected, "{design} table signed={signed} ({a}, {b})");
    }
}

#[test]
fn exact_table_is_i32_multiplication() {
    for signed in [true, false] {
        assert_matches(Design::Exact, signed, |a, b| a * b);
        assert_eq!(table(Design::Exact, signed), ProductTable::from_fn(signed, |a, b| a * b));
    }
}

#[test]
fn truncated_is_the_sum_of_the_kept_partial_products() {
    for signed in [true, false] {
        for bits in 0..=16 {
            assert_matches(Design::Truncated { bits }, signed, |a, b| {
                sign_magnitude(a, b, |x, y| truncated_reference(x, y, bits))
            });
        }
    }
}

#[test]
fn truncated_extremes() {
    for signed in [true, false] {
        assert_eq!(table(Design::Truncated { bits: 0 }, signed), table(Design::Exact, signed));
        // An 8×8-bit product has columns 0..=14: dropping them all leaves 0.
        assert_eq!(table(Design::Truncated { bits: 15 }, signed), ProductTable::from_fn(signed, |_, _| 0));
        assert_eq!(table(Design::Truncated { bits: 1000 }, signed), ProductTable::from_fn(signed, |_, _| 0));
    }
}

#[test]
fn mitchell_is_the_log_domain_approximation() {
    for signed in [true, false] {
        assert_matches(Design::Mitchell, signed, |a, b| sign_magnitude(a, b, mitchell_log_reference));
        assert_matches(Design::Mitchell, signed, |a, b| sign_magnitude(a, b, mitchell_case_reference));
    }
}

#[test]
fn mitchell_needs_no_truncation_for_integer_operands() {
    // 2^(k1+k2)(1+f1+f2) and 2^(k1+k2+1)(f1+f2) are whole numbers for integer
    // operands, so the real-valued formula is already an integer.
    for x in 1..=255i64 {
        for y in 1..=255i64 {
            let (k1, k2) = (x.ilog2(), y.ilog2());
            let (r1, r2) = (x - (1 << k1), y - (1 << k2));
            // Compare the scaled-up exact rational (times 2^16) with the integer result.
            let scaled = if (r1 << (8 - k1)) + (r2 << (8 - k2)) < 256 {
                ((1i64 << (k1 + k2)) + (r1 << k2) + (r2 << k1)) << 16
            } else {
                (2 * ((r1 << k2) + (r2 << k1))) << 16
            };
            assert_eq!(scaled % (1 << 16), 0);
            assert_eq!(product(Design::Mitchell, x as i32, y as i32, false) as i64, scaled >> 16);
        }
    }
}

#[test]
fn mitchell_is_exact_on_powers_of_two() {
    let powers = [1, 2, 4, 8, 16, 32, 64, 128];
    for a in powers {
        for b in powers {
            assert_eq!(product(Design::Mitchell, a, b, false), a * b);
        }
    }
    for (a, b) in [(-128, -128), (-128, 64), (1, -128), (-1, -1), (-32, 16)] {
        assert_eq!(product(Design::Mitchell, a, b, true), a * b);
    }
}

#[test]
fn mitchell_never_overestimates_and_errs_at_most_one_ninth() {
    // Mitchell (1962): the product is never too large, and the relative error is at
    // most 1/9 ≈ 11.1 %, reached when f1 = f2 = 1/2 (e.g. 3·3 → 8, 96·96 → 8192).
    let mut worst_relative = 0.0f64;
    for signed in [true, false] {
        let t = table(Design::Mitchell, signed);
        for (a, b) in pairs(signed) {
            let (m, exact) = (t.product(a, b), a * b);
            assert!(m.abs() <= exact.abs(), "({a}, {b}): |{m}| > |{exact}|");
            assert!(m.signum() == exact.signum(), "({a}, {b}): sign of {m} vs {exact}");
            if exact != 0 {
                let relative = (exact - m) as f64 / exact as f64;
                assert!(relative <= 1.0 / 9.0 + 1e-12, "({a}, {b}): relative error {relative}");
                worst_relative = worst_relative.max(relative);
            }
        }
    }
    assert!((worst_relative - 1.0 / 9.0).abs() < 1e-12, "{worst_relative}");
    assert_eq!(product(Design::Mitchell, 96, 96, false), 8192);
    assert_eq!(product(Design::Mitchell, -96, 96, true), -8192);
}

#[test]
fn drum_is_the_bit_string_construction() {
    for signed in [true, false] {
        for k in 1..=10u32 {
            assert_matches(Design::Drum { k }, signed, |a, b| {
                sign_magnitude(a, b, |x, y| drum_reference(x, y, k as usize))
            });
        }
    }
}

#[test]
fn drum_8_is_exact() {
    // Every unsigned operand (0..=255) and every signed magnitude (0..=128) has at
    // most 8 significant bits, so DRUM-8 keeps it unchanged.
    for signed in [true, false] {
        assert_eq!(table(Design::Drum { k: 8 }, signed), table(Design::Exact, signed));
    }
    // DRUM-7 is not: 253 = 1111110|1b → 1111111b = 127, shift 1 → 254.
    assert_eq!(product(Design::Drum { k: 7 }, 253, 1, false), 254);
}

#[test]
fn drum_relative_error_is_bounded() {
    // A reduced operand is within 2^shift of the operand, which is at least
    // 2^(shift + k − 1): relative error ≤ 2^(1−k) per operand.
    for k in 3..=8u32 {
        let bound = (1.0 + 2f64.powi(1 - k as i32)).powi(2) - 1.0;
        for (a, b) in pairs(false).filter(|&(a, b)| a * b != 0) {
            let relative = ((product(Design::Drum { k }, a, b, false) - a * b) as f64 / (a * b) as f64).abs();
            assert!(relative <= bound, "drum({k}) ({a}, {b}): {relative} > {bound}");
        }
    }
}

#[test]
fn signed_designs_are_sign_magnitude() {
    let designs = [Design::Exact, Design::Truncated { bits: 5 }, Design::Mitchell, Design::Drum { k: 4 }];
    for design in designs {
        let (s, u) = (table(design, true), table(design, false));
        for a in 0..=127 {
            for b in 0..=127 {
                let m = u.product(a, b);
                assert_eq!(s.product(a, b), m);
                assert_eq!(s.product(-a, b), -m);
                assert_eq!(s.product(a, -b), -m);
                assert_eq!(s.product(-a, -b), m);
            }
        }
        for b in -128..=127 {
            assert_eq!(s.product(0, b), 0);
            assert_eq!(s.product(b, 0), 0);
            // |−128| = 128 is an 8-bit magnitude: the unsigned design applied to 128.
            let m = u.product(128, b.abs());
            assert_eq!(s.product(-128, b), if b < 0 { m } else { -m }, "{design} (-128, {b})");
        }
    }
}

#[test]
fn hand_computed_products() {
    // truncated(4)(15, 15): 15 = 1111b, so column c = i + j holds min(c, 6 − c) + 1
    // ones: columns 0..=6 hold 1, 2, 3, 4, 3, 2, 1. Dropping columns 0..=3 leaves
    // 3·16 + 2·32 + 1·64 = 176 (exact 225; masking the exact product would give 224).
    assert_eq!(product(Design::Truncated { bits: 4 }, 15, 15, false), 176);
    assert_eq!(product(Design::Truncated { bits: 4 }, -15, 15, true), -176);
    // truncated(2)(3, 3): columns 0, 1, 2 hold 1, 2, 1 ones; only column 2 is kept: 4.
    assert_eq!(product(Design::Truncated { bits: 2 }, 3, 3, false), 4);
    // truncated(6)(128, 127): 128 has only bit 7, so every partial product is in a
    // column ≥ 7: exact, 16256.
    assert_eq!(product(Design::Truncated { bits: 6 }, -128, 127, true), -16256);

    // drum(4)(200, 100): 200 = 1100|1000b → 1101b = 13, shift 4; 100 = 1100|100b →
    // 1101b = 13, shift 3; 13·13 = 169, · 2^7 = 21632 (exact 20000).
    assert_eq!(product(Design::Drum { k: 4 }, 200, 100, false), 21632);
    // drum(4)(15, 200): 15 has 4 bits and stays; 200 → 13·2^4; 15·13·16 = 3120 (exact 3000).
    assert_eq!(product(Design::Drum { k: 4 }, 15, 200, false), 3120);
    // drum(4)(−128, 100): 128 = 1000|0000b → 1001b = 9, shift 4; 100 → 13, shift 3;
    // 9·13·2^7 = 14976, negative: −14976 (exact −12800).
    assert_eq!(product(Design::Drum { k: 4 }, -128, 100, true), -14976);

    // mitchell(3, 3): 3 = 2^1(1 + 1/2); f1 + f2 = 1 ≥ 1, so M = 2^3·1 = 8 (exact 9).
    assert_eq!(product(Design::Mitchell, 3, 3, false), 8);
    // mitchell(3, 5): 5 = 2^2(1 + 1/4); f1 + f2 = 3/4 < 1, M = 2^3·(7/4) = 14 (exact 15).
    assert_eq!(product(Design::Mitchell, 3, 5, false), 14);
    // mitchell(7, 7): 7 = 2^2(1 + 3/4); f1 + f2 = 3/2, M = 2^5·(3/2) = 48 (exact 49).
    assert_eq!(product(Design::Mitchell, -7, 7, true), -48);
    // mitchell(255, 255): 255 = 2^7(1 + 127/128); f1 + f2 = 254/128, M = 2^15·254/128
    // = 65024 (exact 65025).
    assert_eq!(product(Design::Mitchell, 255, 255, false), 65024);
}

#[test]
fn error_stats_of_the_exact_table_are_zero() {
    for signed in [true, false] {
        let zero = ErrorStats {
            error_rate: 0.0,
            mean_error: 0.0,
            mean_abs_error: 0.0,
            mred: 0.0,
            worst_case: 0,
            error_std: 0.0,
        };
        assert_eq!(error_stats(&table(Design::Exact, signed)), zero);
    }
}

#[test]
fn error_stats_follow_their_definitions() {
    // A table that errs by +1 on exactly one non-zero pair, (2, 3) → 7.
    let t = ProductTable::from_fn(false, |a, b| if (a, b) == (2, 3) { 7 } else { a * b });
    let s = error_stats(&t);
    assert_eq!(s.error_rate, 1.0 / 65536.0);
    assert_eq!(s.mean_error, 1.0 / 65536.0);
    assert_eq!(s.mean_abs_error, 1.0 / 65536.0);
    assert!((s.mred - (1.0 / 6.0) / 65025.0).abs() < 1e-15);
    assert_eq!(s.worst_case, 1);
    let std = ((1.0 - 1.0 / 65536.0) / 65536.0f64).sqrt(); // Bernoulli(p) with p = 1/65536
    assert!((s.error_std - std).abs() < 1e-12);

    // Worst case is the largest |E|, whatever its sign.
    let t = ProductTable::from_fn(true, |a, b| if (a, b) == (-5, 9) { 0 } else { a * b });
    let s = error_stats(&t);
    assert_eq!(s.worst_case, 45);
    assert_eq!(s.mean_error, 45.0 / 65536.0);
}

#[test]
fn published_and_structural_error_figures() {
    // Mitchell never overestimates: negative bias, and for unsigned operands
    // mean error = −mean absolute error.
    let mitchell = error_stats(&table(Design::Mitchell, false));
    assert!(mitchell.mean_error < 0.0);
    assert_eq!(mitchell.mean_error, -mitchell.mean_abs_error);
    // Mitchell's average relative error is a few percent (3.8 % in his paper for
    // uniformly distributed mantissas; lower here because small operands have few
    // fraction bits), and at most 1/9.
    assert!(mitchell.mred > 0.02 && mitchell.mred < 1.0 / 9.0, "{}", mitchell.mred);

    // Truncation only drops non-negative terms: it never overestimates, and more
    // dropped columns never help.
    let mut previous = 0;
    for bits in 0..=15 {
        let s = error_stats(&table(Design::Truncated { bits }, false));
        assert!(s.mean_error <= 0.0 && s.mean_error == -s.mean_abs_error);
        assert!(s.worst_case >= previous);
        previous = s.worst_case;
    }
    // The worst unsigned case is 255·255, every dropped partial product present:
    // Σ_{c<bits} (c + 1)·2^c for bits ≤ 8.
    for bits in 0..=8u32 {
        let dropped: i64 = (0..bits).map(|c| (c as i64 + 1) << c).sum();
        assert_eq!(error_stats(&table(Design::Truncated { bits }, false)).worst_case, dropped, "bits {bits}");
    }

    // DRUM is unbiased only for continuous operands. On integers, an operand with
    // dropped bits r ∈ 0..2^s is replaced by the midpoint 2^s of [0, 2^(s+1)), which is
    // ½ LSB above the mean of the integers it stands for, so unsigned DRUM has a small
    // positive bias (well below its mean absolute error). Signed DRUM is odd in each
    // operand, and over the (nearly) symmetric range its bias almost cancels.
    for k in 3..=6 {
        let s = error_stats(&table(Design::Drum { k }, false));
        assert!(s.mean_error > 0.0 && s.mean_error < 0.5 * s.mean_abs_error, "drum({k}): {s:?}");
        assert!(s.mred < 2f64.powi(1 - k as i32), "drum({k}): {s:?}");
        let s = error_stats(&table(Design::Drum { k }, true));
        assert!(s.mean_error.abs() < 0.01 * s.mean_abs_error, "drum({k}) signed: {s:?}");
    }
}

#[test]
#[should_panic(expected = "out of range")]
fn out_of_range_signed_operand_panics() {
    product(Design::Exact, 128, 1, true);
}

#[test]
#[should_panic(expected = "out of range")]
fn out_of_range_unsigned_operand_panics() {
    product(Design::Mitchell, -1, 1, false);
}

// ---- The tables shipped in examples/multipliers/ ----

fn example(name: &str) -> Vec<u8> {
    let path = format!("{}/../examples/multipliers/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn shipped_exact_tables_equal_the_exact_design() {
    let s = ProductTable::parse(&example("mul8s_exact.npy"), Layout::TorchApprox, true).unwrap();
    assert_eq!(s, table(Design::Exact, true));
    let u = ProductTable::parse(&example("mul8u_exact.bin"), Layout::TfApprox, false).unwrap();
    assert_eq!(u, table(Design::Exact, false));
}

#[test]
fn shipped_trunc6_masks_the_exact_product_unlike_truncated_6() {
    // make_tables.py defines mul8s_trunc6 as sign(a·b)·((|a|·|b|) & ~63): the exact
    // magnitude with its low six bits cleared. Design::Truncated { bits: 6 } instead
    // drops the partial products of columns 0..=5, including the carries they would
    // send into column 6 and above. With D the sum of the dropped partial products,
    // masked − truncated = 64·⌊D/64⌋ in magnitude: truncation is never larger.
    let file = ProductTable::parse(&example("mul8s_trunc6.npy"), Layout::TorchApprox, true).unwrap();
    assert_eq!(file, ProductTable::from_fn(true, |a, b| (a * b).signum() * ((a.abs() * b.abs()) & !63)));
    let ours = table(Design::Truncated { bits: 6 }, true);
    let mut differing = 0;
    let mut largest_gap = 0;
    for (a, b) in pairs(true) {
        let (x, y) = (a.abs() as i64, b.abs() as i64);
        let dropped = x * y - truncated_reference(x, y, 6);
        let gap = (file.product(a, b) - ours.product(a, b)).abs() as i64;
        assert_eq!(gap, dropped / 64 * 64, "({a}, {b})");
        differing += (gap != 0) as usize;
        largest_gap = largest_gap.max(gap);
    }
    println!("mul8s_trunc6 vs truncated(6): {differing} of 65536 pairs differ, largest gap {largest_gap}");
    println!("  file:          {:?}", error_stats(&file));
    println!("  truncated(6):  {:?}", error_stats(&ours));
    assert!(differing > 0);
    // By hand: 127 = 1111111b, so columns 0..=5 hold 1, 2, 3, 4, 5, 6 partial products,
    // D = 1 + 4 + 12 + 32 + 80 + 192 = 321; truncated(6) = 16129 − 321 = 15808, while
    // the file has 16129 & ~63 = 16128 (gap 320 = 64·⌊321/64⌋).
    assert_eq!(ours.product(127, -127), -15808);
    assert_eq!(file.product(127, -127), -16128);
}

/// The error statistics of every design, as a table pinned by a snapshot.
/// Hand checks of its rows: the exact design is all zeros; unsigned
/// truncation dropping columns below `bits ≤ 8` errs by the dropped partial
/// products, mean −Σ_{c<bits} (c + 1)·2^c / 4 (each bit is 1 half the time),
/// worst case Σ_{c<bits} (c + 1)·2^c (255·255), e.g. −448.25 and 1793 for 8.
#[test]
fn error_stats_table() {
    let mut designs = vec![Design::Exact];
    designs.extend([2, 4, 6, 8].map(|bits| Design::Truncated { bits }));
    designs.push(Design::Mitchell);
    designs.extend((3..=6).map(|k| Design::Drum { k }));
    let mut out = format!(
        "{:<14} {:<8} {:>10} {:>12} {:>14} {:>10} {:>10} {:>12}\n",
        "design", "operands", "error rate", "mean error", "mean abs error", "MRED", "worst", "error std"
    );
    for design in designs {
        for signed in [true, false] {
            let s = error_stats(&table(design, signed));
            out += &format!(
                "{:<14} {:<8} {:>10.6} {:>12.4} {:>14.4} {:>10.6} {:>10} {:>12.4}\n",
                design.to_string(),
                if signed { "signed" } else { "unsigned" },
                s.error_rate,
                s.mean_error,
                s.mean_abs_error,
                s.mred,
                s.worst_case,
                s.error_std
            );
        }
    }
    insta::assert_snapshot!(out);
}
