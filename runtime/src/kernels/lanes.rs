//! One vector register of f32 lanes, for the host kernels that run the same
//! loop at two widths (AVX2's 8 lanes, AVX-512's 16): a kernel written once
//! over [`Lanes`] is compiled for each width by the `#[target_feature]`
//! function that inlines it.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A vector of [`Lanes::LANES`] f32.
///
/// # Safety
/// Every method needs the CPU features of its width, enabled in the
/// function it is inlined into; pointers reach the values read or written.
#[cfg(target_arch = "x86_64")]
pub(crate) trait Lanes: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(v: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    /// `LANES / 8` consecutive packed panels of 8 lanes at step `p`, panel
    /// `i` at `p + i·panel_stride` (`ADJACENT`: `panel_stride` is 8, so one load).
    unsafe fn load_panels<const ADJACENT: bool>(p: *const f32, panel_stride: usize) -> Self;
    /// `a·b + c`, one rounding.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    unsafe fn store(self, p: *mut f32);
}

#[cfg(target_arch = "x86_64")]
impl Lanes for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller's AVX.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY: the caller's AVX.
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's AVX and pointer.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_panels<const ADJACENT: bool>(p: *const f32, _: usize) -> Self {
        // SAFETY: one panel: the caller's AVX and pointer.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's AVX and pointer.
        unsafe { _mm256_storeu_ps(p, self) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller's AVX-512F.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY: the caller's AVX-512F.
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's AVX-512F and pointer.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_panels<const ADJACENT: bool>(p: *const f32, panel_stride: usize) -> Self {
        // SAFETY: the caller's AVX-512F and DQ, and two panels at the stride.
        unsafe {
            if ADJACENT {
                _mm512_loadu_ps(p)
            } else {
                let low = _mm512_castps256_ps512(_mm256_loadu_ps(p));
                _mm512_insertf32x8::<1>(low, _mm256_loadu_ps(p.add(panel_stride)))
            }
        }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's AVX-512F.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's AVX-512F and pointer.
        unsafe { _mm512_storeu_ps(p, self) }
    }
}
