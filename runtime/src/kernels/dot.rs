//! One FP32 sum of the language (`docs/language.md` §6.2), scalar:
//! `s = fma(w[j], x[j], s)` for `j` in order from 0. The reference
//! interpreter's dense and conv sums go through it, on the CPU's FMA
//! instruction where it has one (the same single rounding as libm's `fmaf`,
//! which the portable build calls for every product, several times slower).

super::fma::fma_dispatch! {
    /// `Σ_j w[j]·x[j]`, `j` ascending from 0, one fused multiply-add a product.
    pub fn fma_dot(w: &[f32], x: &[f32]) -> f32 = fma_dot_portable
}

#[inline(always)]
fn fma_dot_portable(w: &[f32], x: &[f32]) -> f32 {
    w.iter().zip(x).fold(0.0f32, |s, (w, x)| w.mul_add(*x, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched sum equals the portable one bit for bit, and differs
    /// from separate multiply and add where the product's rounding matters.
    #[test]
    fn fused_sum_is_the_portable_bits() {
        let w: Vec<f32> = (0..1001).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 337.0).collect();
        let x: Vec<f32> = (0..1001).map(|i| ((i * 104729 % 1000) as f32 - 500.0) / 211.0).collect();
        for n in [0, 1, 7, 1001] {
            assert_eq!(fma_dot(&w[..n], &x[..n]).to_bits(), fma_dot_portable(&w[..n], &x[..n]).to_bits());
        }
        // a = 1 + 2^-12: a² = 1 + 2^-11 + 2^-24 needs 25 bits and rounds to
        // c = 1 + 2^-11. After −c, the fused product leaves the 2^-24 that a
        // rounded product loses.
        let a = 1.0 + f32::EPSILON * 2048.0;
        let c = a * a;
        assert_eq!(fma_dot(&[1.0, a], &[-c, a]), 2f32.powi(-24));
        assert_eq!(-c + a * a, 0.0);
    }
}
