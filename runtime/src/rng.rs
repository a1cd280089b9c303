//! The random-number generator shared by every analogc backend.
//!
//! # What a draw depends on
//!
//! Every random number analogc uses is a pure function of the tuple
//!
//! ```text
//! (seed: u64, trial: u32, sample: u32, site: u32, element: u32)
//! ```
//!
//! - `seed`: the user's seed for the whole run;
//! - `trial`: the Monte-Carlo trial, i.e. the simulated chip;
//! - `sample`: the index of the input in the dataset; the value [`PER_CHIP`]
//!   (`u32::MAX`) is reserved for *static* draws made once per chip and shared by
//!   every input (`draw = static` noise, programming noise on weights, the
//!   `random` accumulation order);
//! - `site`: the noise site, i.e. which op and which of its random effects. The
//!   compiler gives every effect its own site, so a site is used by exactly one
//!   kind of draw (for example a site used by [`permutation`] is not also used for
//!   a static [`gaussian`]);
//! - `element`: the flat index within the tensor the noise is applied to.
//!
//! No state is carried between calls, so the value of a draw cannot depend on the
//! batch size, the number of threads, the order in which elements are computed or
//! the backend (the scalar reference interpreter or the JIT).
//!
//! # Why Philox
//!
//! Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as
//! 1, 2, 3", SC'11) is a counter-based generator: it is a keyed bijection of a
//! 128-bit counter, so any element of any sample of any trial is computed
//! independently of all the others, in O(1), with nothing to seed, split or
//! advance. It passes BigCrush, is cheap (10 rounds of two 32×32→64 multiplies
//! and a few XORs) and vectorizes well. This implementation is checked against
//! the known-answer vectors of the Random123 distribution.
//!
//! # Layout
//!
//! ```text
//! key     = [seed as u32, (seed >> 32) as u32]          (lo, hi)
//! counter = [block, site, sample, trial]
//! output  = [w0, w1, w2, w3] = philox4x32_10(counter, key)
//! element = 64·g + 16·i + l   (l < 16, i < 4)  →  block 16·g + l, draw i
//! ```
//!
//! One Philox block serves four elements, 16 apart: elements come in groups of
//! 64, and the 16 blocks of a group serve its four runs of 16, one draw each.
//! (A vectorized fill computes 16 blocks side by side and stores each of their
//! four draws as one contiguous run, with no interleaving.)
//!
//! - Gaussians ([`gaussian`], [`fill_gaussian`]): two Box–Muller pairs. Draws 0
//!   and 1 are `r·cos(2π u2)` and `r·sin(2π u2)` with `u1 = unit_f32(w0)`,
//!   `u2 = unit_f32(w1)`, `r = sqrt(−2 ln u1)`; draws 2 and 3 the same of
//!   `u1 = unit_f32(w2)`, `u2 = unit_f32(w3)`.
//! - Uniforms ([`uniform`]): draw `i` is `unit_f32(w_i)`. A uniform and the
//!   Gaussian of the same coordinates share their bits; they never meet,
//!   because the compiler gives each random effect its own site and a site
//!   draws one kind only.
//! - [`permutation`] step `i` (Fisher–Yates, `sample = PER_CHIP`) takes the 64
//!   bits `w[i & 1] << 32 | w[2 + (i & 1)]` of the block `[i / 2, site, PER_CHIP, trial]`.
//!
//! This is the stream since issue 16. The first served two neighbouring
//! Gaussians per block and left words 2 and 3 to uniforms; each block of
//! Philox, the larger part of a draw's cost, now serves twice as many.
//!
//! # Bit-identity with other backends
//!
//! All floating-point work is done in `f32` with IEEE basic operations only
//! (`+ − × ÷ sqrt`, fused multiply-add, comparisons, exact integer↔float
//! conversions and bit manipulation), each written as a separate operation in
//! a fixed order: no libm `ln`, `sin`, `cos`. The polynomials are evaluated by
//! Horner's rule with one fused multiply-add a step (`f32::mul_add`, a single
//! rounding), everything else is a plain operation: Rust never contracts
//! `a * b + c` on its own, so these functions round identically on every
//! IEEE-754 target, vectorized or not. A JIT must emit the same operations in
//! the same order (a `fma` exactly where these use `mul_add`, nowhere else) to
//! get the same bits; [`unit_f32`], [`ln_f32`], [`sincos_turns`] and
//! [`box_muller`] are public so that it can be mirrored line by line and
//! tested against them.
//!
//! # Uniform conversion
//!
//! `unit_f32(x) = ((x >> 9) as f32 + 0.5) · 2^−23`: the top 23 bits, centred in
//! their cell. Every step is exact, the result lies in `[2^−24, 1 − 2^−24]`
//! (never 0 or 1) and the set of values is symmetric about 1/2. Using 24 bits,
//! `((x >> 8) + 0.5) · 2^−24`, is *not* exact: `k + 0.5` needs 25 significant bits
//! for `k ≥ 2^23`, rounds to even, and gives exactly `1.0` for `x ≥ 0xFFFF_FF00`.
//! Consequence: Gaussians are bounded by `sqrt(−2 ln 2^−24) ≈ 5.768`
//! (`P(|z| > 5.768) ≈ 8·10^−9` for a true normal).
//!
//! # Accuracy
//!
//! Measured against `f64` `ln`, `sin`, `cos` by the unit tests of this module,
//! exhaustively over the 2^23 values `unit_f32` can produce:
//!
//! - [`ln_f32`]: at most 0.83 ulp (relative error ≤ 8.0·10^−8);
//! - [`sincos_turns`]: at most 1.56 ulp for sin and for cos (absolute ≤ 7.9·10^−8);
//! - [`box_muller`] (on 700 000 pairs including the extremes): at most 2.9 ulp,
//!   relative error ≤ 2.2·10^−7.
//!
//! These are far below anything a statistical test can see; they matter only in
//! that every backend must reproduce them bit for bit.

/// The reserved `sample` index of static draws: made once per simulated chip
/// (trial) and shared by every input of the dataset.
pub const PER_CHIP: u32 = u32::MAX;

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;
/// Philox's multipliers and Weyl key increments, for backends that mirror it.
pub const PHILOX_M: [u32; 2] = [PHILOX_M0, PHILOX_M1];
pub const PHILOX_W: [u32; 2] = [PHILOX_W0, PHILOX_W1];

/// The Philox key of a seed: `[lo, hi]`.
#[inline(always)]
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The Philox counter of a draw: `[block, site, sample, trial]`, element
/// `64·g + 16·i + l` in block `16·g + l` (module docs).
#[inline(always)]
pub fn counter(trial: u32, sample: u32, site: u32, element: u32) -> [u32; 4] {
    [(element >> 6) << 4 | (element & 15), site, sample, trial]
}

/// Which of its block's four draws an element is: `i` of `64·g + 16·i + l`.
#[inline(always)]
pub fn draw_index(element: u32) -> usize {
    ((element >> 4) & 3) as usize
}

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds, exactly as Random123's `philox4x32_R(10, ...)`.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(PHILOX_W0);
            k1 = k1.wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c0);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c2);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    }
    [c0, c1, c2, c3]
}

/// Philox4x32-10 on `L` counters that differ only in word 0 (structure of
/// arrays, so that each step is one loop over the lanes LLVM can vectorize).
/// Returns the four output words of every lane.
///
/// The words are held in u64 lanes: the low 32 bits are the word, the high bits
/// are don't-care (masked off before every multiply, dropped at the end), so each
/// 32×32→64 multiply is one `pmuludq` and splitting hi/lo needs no shuffles.
#[inline(always)]
fn philox_lanes<const L: usize>(c0: [u32; L], c1: u32, c2: u32, c3: u32, key: [u32; 2]) -> [[u32; L]; 4] {
    const LO: u64 = 0xffff_ffff;
    let mut x0 = [0u64; L];
    for l in 0..L {
        x0[l] = c0[l] as u64;
    }
    let mut x1 = [c1 as u64; L];
    let mut x2 = [c2 as u64; L];
    let mut x3 = [c3 as u64; L];
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(PHILOX_W0);
            k1 = k1.wrapping_add(PHILOX_W1);
        }
        for l in 0..L {
            let p0 = (x0[l] & LO) * PHILOX_M0 as u64;
            let p1 = (x2[l] & LO) * PHILOX_M1 as u64;
            x0[l] = (p1 >> 32) ^ x1[l] ^ k0 as u64;
            x1[l] = p1;
            x2[l] = (p0 >> 32) ^ x3[l] ^ k1 as u64;
            x3[l] = p0;
        }
    }
    let mut out = [[0u32; L]; 4];
    for l in 0..L {
        out[0][l] = x0[l] as u32;
        out[1][l] = x1[l] as u32;
        out[2][l] = x2[l] as u32;
        out[3][l] = x3[l] as u32;
    }
    out
}

/// 2^−23.
pub const TWO_POW_M23: f32 = 1.0 / 8_388_608.0;

/// A `u32` to a uniform `f32` in the open interval (0, 1):
/// `((x >> 9) + 0.5) · 2^−23`, every step exact; values `2^−24 … 1 − 2^−24`.
#[inline(always)]
pub fn unit_f32(x: u32) -> f32 {
    let k = (x >> 9) as i32 as f32; // < 2^23: exact (and a signed conversion, which SIMD has)
    let h = k + 0.5; // < 2^23, a multiple of 0.5: exact
    h * TWO_POW_M23 // power-of-two scaling: exact
}

// ln: ln(x) = k·ln2 + ln(1 + f), x = 2^k·(1 + f), 1 + f ∈ [sqrt(1/2), sqrt(2)).
// ln(1 + f) = 2·atanh(s) with s = f / (2 + f), |s| ≤ 0.1716, z = s² ≤ 0.02944:
// 2·atanh(s) = 2s + s·R(z), R(z) = z·(L1 + z·(L2 + z·(L3 + z·L4))).
// Coefficients: minimax (Lawson iteration) of R on [0, 0.02944], rounded to f32
// one at a time with the rest refitted; |R − R*| ≤ 5.0e−11 before evaluation
// rounding (L1 and L2 come out equal to fdlibm's logf Lg1 and Lg2, L3 and L4
// close to Lg3 and Lg4). Evaluation order as in fdlibm's logf:
// ln x = (((s·(hfsq + R) + k·ln2_lo) − hfsq) + f) + k·ln2_hi, hfsq = f²/2, which
// keeps f and k·ln2_hi (exact: ln2_hi has 17 bits, |k| < 2^7) out of the
// rounding of the small terms.
// Measured (exhaustive over the 2^23 outputs of unit_f32, plus every exponent):
// max error 0.83 ulp.
const LN_L1: f32 = f32::from_bits(0x3f2a_aaaa); // 0.66666662693
const LN_L2: f32 = f32::from_bits(0x3ecc_ce13); // 0.40000972152
const LN_L3: f32 = f32::from_bits(0x3e91_e9f0); // 0.28498792648
const LN_L4: f32 = f32::from_bits(0x3e78_9d75); // 0.24278815091
pub const LN2_HI: f32 = f32::from_bits(0x3f31_7180); // 6.9313812256e-01
pub const LN2_LO: f32 = f32::from_bits(0x3717_f7d1); // 9.0580006145e-06
/// `[L1, L2, L3, L4]`, for backends that mirror `ln_f32`.
pub const LN_L: [f32; 4] = [LN_L1, LN_L2, LN_L3, LN_L4];

/// Natural logarithm of a positive, normal, finite `f32` (no special cases:
/// 0, subnormals, infinities and NaN give garbage). Basic operations only.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    // Exponent and mantissa by integer arithmetic; the mantissa m = 1 + f is
    // reduced to [sqrt(1/2), sqrt(2)) by biasing with the bits of sqrt(1/2).
    let bits = x.to_bits();
    let ix = bits.wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let k = (ix >> 23) as i32 - 0x7f;
    let m = f32::from_bits((ix & 0x007f_ffff) + 0x3f35_04f3);
    let f = m - 1.0; // exact (Sterbenz)
    let t = f + 2.0;
    let s = f / t;
    let z = s * s;
    let p = LN_L4.mul_add(z, LN_L3);
    let p = p.mul_add(z, LN_L2);
    let p = p.mul_add(z, LN_L1);
    let r = p * z;
    let hf = f * 0.5; // exact
    let hfsq = hf * f;
    let dk = k as f32; // exact
    let a = hfsq + r;
    let b = s * a;
    let c = dk * LN2_LO;
    let d = b + c;
    let e = d - hfsq;
    let g = e + f;
    let h = dk * LN2_HI; // exact
    g + h
}

// sin and cos of (π/2)·f for f ∈ [−1/2, 1/2] (quarter turns), y = f²:
//   sin(π/2·f) = f·(S0 + y·(S1 + y·(S2 + y·S3)))   relative error ≤ 2.8e−8
//   cos(π/2·f) = 1 + y·(C0 + y·(C1 + y·(C2 + y·C3)))   absolute error ≤ 4.1e−10
// (before evaluation rounding; minimax by Lawson iteration, rounded to f32 one
// coefficient at a time with the rest refitted; the sine's bound is the rounding
// of S0 = π/2 itself). Measured after evaluation (exhaustive over the 2^23
// outputs of unit_f32): sin and cos of 2πu within 1.57 ulp, the worst just
// below |sin| = 1/2, where f·S0 rounds in the binade above the result.
const SIN_S0: f32 = f32::from_bits(0x3fc9_0fdb); // 1.5707963705
const SIN_S1: f32 = f32::from_bits(0xbf25_5e12); // -0.64596664905
const SIN_S2: f32 = f32::from_bits(0x3da3_4052); // 0.079712525010
const SIN_S3: f32 = f32::from_bits(0xbb99_8cc7); // -0.0046859714203
const COS_C0: f32 = f32::from_bits(0xbf9d_e9e6); // -1.2337005138
const COS_C1: f32 = f32::from_bits(0x3e81_e0d7); // 0.25366851687
const COS_C2: f32 = f32::from_bits(0xbcaa_d8a3); // -0.020855253562
const COS_C3: f32 = f32::from_bits(0x3a6a_3eb0); // 0.00089357327670
/// The polynomials of `sincos_turns`, for backends that mirror it.
pub const SIN_S: [f32; 4] = [SIN_S0, SIN_S1, SIN_S2, SIN_S3];
pub const COS_C: [f32; 4] = [COS_C0, COS_C1, COS_C2, COS_C3];
/// 1.5·2^23: adding it to a float in [0, 2^22) rounds it to an integer held in
/// the low mantissa bits.
pub const ROUND_MAGIC: f32 = 12_582_912.0;

/// `(sin(2πu), cos(2πu))` for `u ∈ [0, 1]` (turns). Basic operations only.
///
/// Reduction on `u` itself: `t = 4u` (exact) is rounded to the nearest integer
/// `q` with the `1.5·2^23` trick (ties to even), `f = t − q ∈ [−1/2, 1/2]` (exact),
/// then the quadrant `q mod 4` swaps and negates the polynomials' sin and cos.
#[inline(always)]
pub fn sincos_turns(u: f32) -> (f32, f32) {
    let t = u * 4.0; // exact
    let big = t + ROUND_MAGIC; // rounds t to the nearest integer
    let qf = big - ROUND_MAGIC; // exact: that integer
    let q = big.to_bits(); // its low two bits are q mod 4
    let f = t - qf; // exact, in [-0.5, 0.5]
    let y = f * f;
    let ps = SIN_S3.mul_add(y, SIN_S2);
    let ps = ps.mul_add(y, SIN_S1);
    let ps = ps.mul_add(y, SIN_S0);
    let sn = ps * f;
    let pc = COS_C3.mul_add(y, COS_C2);
    let pc = pc.mul_add(y, COS_C1);
    let pc = pc.mul_add(y, COS_C0);
    let cs = pc.mul_add(y, 1.0);
    // Quadrant q: sin = [sn, cs, -sn, -cs][q], cos = [cs, -sn, -cs, sn][q].
    let swap = q & 1 != 0;
    let a = if swap { cs } else { sn };
    let b = if swap { sn } else { cs };
    let sin_sign = (q & 2) << 30;
    let cos_sign = (q.wrapping_add(1) & 2) << 30;
    (f32::from_bits(a.to_bits() ^ sin_sign), f32::from_bits(b.to_bits() ^ cos_sign))
}

/// Box–Muller: two independent N(0, 1) from two uniforms in (0, 1):
/// `(r·cos(2π u2), r·sin(2π u2))`, `r = sqrt(−2 ln u1)`.
#[inline(always)]
pub fn box_muller(u1: f32, u2: f32) -> (f32, f32) {
    let l = ln_f32(u1);
    let m = l * -2.0; // exact
    let r = m.sqrt(); // IEEE, correctly rounded
    let (s, c) = sincos_turns(u2);
    (r * c, r * s)
}

crate::kernels::fma::fma_dispatch! {
    /// One N(0, 1) draw, `f32`, for the given coordinates (see the module docs).
    /// On a CPU with FMA the fused multiply-adds are its instruction, not
    /// libm's `fmaf`: the same bits.
    pub fn gaussian(seed: u64, trial: u32, sample: u32, site: u32, element: u32) -> f32 = gaussian_portable
}

#[inline(always)]
fn gaussian_portable(seed: u64, trial: u32, sample: u32, site: u32, element: u32) -> f32 {
    let w = philox4x32_10(counter(trial, sample, site, element), key(seed));
    let i = draw_index(element);
    let pair = i & 2;
    let (z0, z1) = box_muller(unit_f32(w[pair]), unit_f32(w[pair + 1]));
    if i & 1 == 0 {
        z0
    } else {
        z1
    }
}

/// One uniform draw in (0, 1) for the given coordinates: Philox word
/// [`draw_index`] of its block (the module docs say why sharing it with the
/// Gaussians is safe).
#[inline]
pub fn uniform(seed: u64, trial: u32, sample: u32, site: u32, element: u32) -> f32 {
    let w = philox4x32_10(counter(trial, sample, site, element), key(seed));
    unit_f32(w[draw_index(element)])
}

/// Philox blocks per vectorized chunk of [`fill_gaussian`]: a group of the
/// layout, `4·LANES` elements.
const LANES: usize = 16;

/// `out[e] = gaussian(seed, trial, sample, site, e)` for `e in 0..out.len()`,
/// bit for bit, computing each Philox block once, `LANES` blocks at a time.
///
/// On x86-64 CPUs with AVX-512 or AVX2 and FMA the same code runs compiled
/// for them (chosen at run time): the same IEEE operations, so the same bits,
/// with the fused multiply-adds in one instruction instead of a call to libm's
/// `fmaf`.
///
/// Panics if `out.len() > 2^32` (elements are `u32`).
pub fn fill_gaussian(seed: u64, trial: u32, sample: u32, site: u32, out: &mut [f32]) {
    assert!(out.len() as u64 <= 1 << 32, "fill_gaussian: more than 2^32 elements");
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::arch::is_x86_feature_detected!("fma");
        if fma
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU supports these, checked just above.
            unsafe { fill_gaussian_avx512(seed, trial, sample, site, out) };
            return;
        }
        if fma && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { fill_gaussian_avx2(seed, trial, sample, site, out) };
            return;
        }
    }
    fill_gaussian_portable(seed, trial, sample, site, out);
}

/// [`fill_gaussian_portable`] compiled for AVX-512 (16 lanes in one register).
///
/// # Safety
/// The CPU must support AVX-512F, VL and DQ, and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512dq")]
unsafe fn fill_gaussian_avx512(seed: u64, trial: u32, sample: u32, site: u32, out: &mut [f32]) {
    fill_gaussian_portable(seed, trial, sample, site, out);
}

/// [`fill_gaussian_portable`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fill_gaussian_avx2(seed: u64, trial: u32, sample: u32, site: u32, out: &mut [f32]) {
    fill_gaussian_portable(seed, trial, sample, site, out);
}

/// The body of [`fill_gaussian`], for any target: whole groups of 64, then
/// the last group's prefix.
#[inline(always)]
fn fill_gaussian_portable(seed: u64, trial: u32, sample: u32, site: u32, out: &mut [f32]) {
    let key = key(seed);
    let mut chunks = out.chunks_exact_mut(4 * LANES);
    let mut first: u32 = 0;
    for chunk in &mut chunks {
        group(first, site, sample, trial, key, chunk.try_into().expect("a group"));
        first = first.wrapping_add(LANES as u32);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut last = [0f32; 4 * LANES];
        group(first, site, sample, trial, key, &mut last);
        tail.copy_from_slice(&last[..tail.len()]);
    }
}

/// The 64 Gaussians of the group whose first block is `first`.
#[inline(always)]
fn group(first: u32, site: u32, sample: u32, trial: u32, key: [u32; 2], out: &mut [f32; 4 * LANES]) {
    let mut c0 = [0u32; LANES];
    for (l, c) in c0.iter_mut().enumerate() {
        *c = first.wrapping_add(l as u32);
    }
    let w = philox_lanes(c0, site, sample, trial, key);
    let (pairs, runs) = out.split_at_mut(2 * LANES);
    for (pair, run) in [pairs, runs].into_iter().enumerate() {
        let (cos, sin) = run.split_at_mut(LANES);
        for l in 0..LANES {
            let (a, b) = box_muller(unit_f32(w[2 * pair][l]), unit_f32(w[2 * pair + 1][l]));
            cos[l] = a;
            sin[l] = b;
        }
    }
}

/// A uniformly random permutation of `0..n`, drawn once per chip: Fisher–Yates
/// with `sample = PER_CHIP`. For `i = n−1 … 1`, `j` is drawn from `0..=i` as
/// `⌊x·(i + 1) / 2^64⌋` with the 64 bits `x` of element `i` (see the module docs),
/// then positions `i` and `j` swap. The bias of this multiply-shift is below
/// `(i + 1) / 2^64` per probability, far below anything measurable.
///
/// Panics if `n > 2^32`.
pub fn permutation(seed: u64, trial: u32, site: u32, n: usize) -> Vec<u32> {
    assert!(n as u64 <= 1 << 32, "permutation: more than 2^32 elements");
    let key = key(seed);
    let mut p: Vec<u32> = (0..n).map(|i| i as u32).collect();
    for i in (1..n).rev() {
        let w = philox4x32_10([(i >> 1) as u32, site, PER_CHIP, trial], key);
        let x = ((w[i & 1] as u64) << 32) | w[2 + (i & 1)] as u64;
        let j = ((x as u128 * (i as u128 + 1)) >> 64) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds).
    #[test]
    fn philox_known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
            (
                [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
                [0xffffffff, 0xffffffff],
                [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
            ),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (ctr, key, expected) in cases {
            assert_eq!(philox4x32_10(ctr, key), expected, "counter {ctr:08x?} key {key:08x?}");
            // The lane version agrees, in every lane.
            let lanes = philox_lanes([ctr[0]; 4], ctr[1], ctr[2], ctr[3], key);
            let lane = |l: usize| [lanes[0][l], lanes[1][l], lanes[2][l], lanes[3][l]];
            for l in 0..4 {
                assert_eq!(lane(l), expected);
            }
        }
    }

    #[test]
    fn philox_lanes_match_scalar() {
        let key = [0x1234_5678, 0x9abc_def0];
        let c0: [u32; 8] = [0, 1, 2, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff, 12345];
        let lanes = philox_lanes(c0, 7, 0xdead_beef, 3, key);
        for l in 0..8 {
            let w = philox4x32_10([c0[l], 7, 0xdead_beef, 3], key);
            assert_eq!([lanes[0][l], lanes[1][l], lanes[2][l], lanes[3][l]], w);
        }
    }

    #[test]
    fn unit_f32_is_exact_and_open() {
        assert_eq!(unit_f32(0), 2f32.powi(-24));
        assert_eq!(unit_f32(u32::MAX), 1.0 - 2f32.powi(-24));
        assert!(unit_f32(u32::MAX) < 1.0);
        for k in [0u32, 1, 2, 1 << 22, (1 << 22) + 1, (1 << 23) - 2, (1 << 23) - 1] {
            let exact = (k as f64 + 0.5) / (1u64 << 23) as f64;
            assert_eq!(unit_f32(k << 9) as f64, exact);
            assert_eq!(unit_f32((k << 9) | 0x1ff) as f64, exact);
            // Symmetric about 1/2.
            assert_eq!(1.0 - unit_f32(k << 9), unit_f32(((1 << 23) - 1 - k) << 9));
        }
        // The 24-bit variant ((x >> 8) + 0.5)·2^-24 would reach 1.0.
        let naive = ((u32::MAX >> 8) as f32 + 0.5) * 2f32.powi(-24);
        assert_eq!(naive, 1.0);
    }

    #[test]
    fn fill_paths_agree_with_gaussian() {
        for (seed, trial, sample, site) in
            [(0u64, 0u32, 0u32, 0u32), (0xdead_beef_cafe_f00d, 7, PER_CHIP, 12), (u64::MAX, u32::MAX, 3, u32::MAX)]
        {
            for len in [0usize, 1, 2, 3, 31, 32, 33, 34, 63, 100, 1001, 4099] {
                let mut dispatched = vec![f32::NAN; len];
                let mut portable = vec![f32::NAN; len];
                fill_gaussian(seed, trial, sample, site, &mut dispatched);
                fill_gaussian_portable(seed, trial, sample, site, &mut portable);
                for e in 0..len {
                    let g = gaussian(seed, trial, sample, site, e as u32).to_bits();
                    assert_eq!(gaussian_portable(seed, trial, sample, site, e as u32).to_bits(), g, "element {e}");
                    assert_eq!(dispatched[e].to_bits(), g, "len {len} element {e}");
                    assert_eq!(portable[e].to_bits(), g, "len {len} element {e}");
                }
            }
        }
    }

    /// The size of one ulp (f32) at the magnitude of `y`.
    fn ulp_of(y: f64) -> f64 {
        let e = ((y.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023;
        2f64.powi(e.max(-126) - 23)
    }

    /// Every value `unit_f32` can produce.
    fn all_units() -> impl Iterator<Item = f32> {
        (0u32..1 << 23).map(|k| unit_f32(k << 9))
    }

    #[test]
    fn ln_error_exhaustive() {
        let mut max_ulp = 0f64;
        let mut max_rel = 0f64;
        let mut worst = 0f32;
        for u in all_units() {
            let got = ln_f32(u) as f64;
            let want = (u as f64).ln();
            let ulp = (got - want).abs() / ulp_of(want);
            if ulp > max_ulp {
                max_ulp = ulp;
                worst = u;
            }
            max_rel = max_rel.max(((got - want) / want).abs());
        }
        // Beyond the unit grid: all exponents, some mantissas.
        for e in -126..=127 {
            for m in [0u32, 1, 0x3504f2, 0x3504f3, 0x3504f4, 0x400000, 0x7ffffe, 0x7fffff, 0x123456] {
                let x = f32::from_bits((((e + 127) as u32) << 23) | m);
                let got = ln_f32(x) as f64;
                let want = (x as f64).ln();
                if want != 0.0 {
                    max_ulp = max_ulp.max((got - want).abs() / ulp_of(want));
                } else {
                    assert_eq!(got, 0.0);
                }
            }
        }
        println!("ln_f32: max error {max_ulp:.3} ulp (at u = {worst:e}), max relative {max_rel:.3e}");
        assert!(max_ulp < 1.0, "ln_f32 error {max_ulp} ulp");
    }

    #[test]
    fn sincos_error_exhaustive() {
        let (mut max_sin, mut max_cos, mut max_abs) = (0f64, 0f64, 0f64);
        for u in all_units() {
            let (s, c) = sincos_turns(u);
            let a = 2.0 * std::f64::consts::PI * u as f64;
            let (ws, wc) = a.sin_cos();
            max_sin = max_sin.max((s as f64 - ws).abs() / ulp_of(ws));
            max_cos = max_cos.max((c as f64 - wc).abs() / ulp_of(wc));
            max_abs = max_abs.max((s as f64 - ws).abs()).max((c as f64 - wc).abs());
        }
        // Exact quarter turns.
        assert_eq!(sincos_turns(0.0), (0.0, 1.0));
        assert_eq!(sincos_turns(0.25), (1.0, 0.0));
        assert_eq!(sincos_turns(0.5).1, -1.0);
        assert_eq!(sincos_turns(0.75).0, -1.0);
        assert_eq!(sincos_turns(1.0).1, 1.0);
        println!("sincos_turns: max error sin {max_sin:.3} ulp, cos {max_cos:.3} ulp, absolute {max_abs:.3e}");
        assert!(max_sin < 2.0 && max_cos < 2.0, "sincos error sin {max_sin} cos {max_cos} ulp");
    }

    #[test]
    fn box_muller_error() {
        // All u1 on a stride, against many u2, and the extreme uniforms.
        let mut max_rel = 0f64;
        let mut max_ulp = 0f64;
        let mut max_abs = 0f64;
        let (lo, hi) = (unit_f32(0), unit_f32(u32::MAX));
        let mut check = |u1: f32, u2: f32| {
            let (z0, z1) = box_muller(u1, u2);
            assert!(z0.is_finite() && z1.is_finite());
            let r = (-2.0 * (u1 as f64).ln()).sqrt();
            let a = 2.0 * std::f64::consts::PI * u2 as f64;
            for (got, want) in [(z0 as f64, r * a.cos()), (z1 as f64, r * a.sin())] {
                let err = (got - want).abs();
                max_abs = max_abs.max(err);
                max_ulp = max_ulp.max(err / ulp_of(want));
                max_rel = max_rel.max(err / want.abs());
            }
        };
        for k in (0u32..1 << 23).step_by(97) {
            let u1 = unit_f32(k << 9);
            for j in [0u32, 1, 0x1f_ffff, 0x20_0000, 0x3f_ffff, 0x40_0000, (1 << 23) - 1] {
                check(u1, unit_f32(j << 9));
            }
            check(u1, unit_f32(k.wrapping_mul(2_654_435_761) << 9));
        }
        for u in [lo, hi] {
            for v in [lo, hi, 0.125, 0.3] {
                check(u, v);
            }
        }
        let zmax = box_muller(lo, unit_f32(0)).0;
        println!(
            "box_muller: max error {max_ulp:.3} ulp, relative {max_rel:.3e}, absolute {max_abs:.3e}; largest |z| {zmax}"
        );
        assert!(max_rel < 3e-7, "box_muller relative error {max_rel}");
    }
}
