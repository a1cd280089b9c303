//! The FP32 fused multiply-add peak of one core, measured: what the GEMM's
//! rate is a fraction of (`analogc bench` prints both). Independent chains
//! of `fma` in the widest registers the CPU has, so nothing but the FMA
//! ports' throughput limits them.

#[cfg(target_arch = "x86_64")]
use super::lanes::Lanes;
use std::hint::black_box;
use std::time::Instant;

/// Chains side by side: more than latency × ports (4 × 2) keeps the ports busy.
const CHAINS: usize = 16;
/// Steps of every chain per timed run (about 2 ms at 3 GHz with 512-bit FMAs).
const STEPS: usize = 200_000;

/// GFLOP/s of one thread doing nothing but FMAs (2 FLOP each), the best of
/// `runs` timed runs; `None` on a CPU without FMA instructions.
pub fn fma_gflops(runs: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::arch::is_x86_feature_detected!("fma");
        let lanes = if fma && std::arch::is_x86_feature_detected!("avx512f") {
            16
        } else if fma && std::arch::is_x86_feature_detected!("avx") {
            8
        } else {
            return None;
        };
        let best = (0..runs.max(1) + 1)
            .map(|_| {
                let t = Instant::now();
                // SAFETY: the CPU has the features of the chosen width, checked above.
                black_box(unsafe {
                    if lanes == 16 {
                        chains_512(STEPS)
                    } else {
                        chains_256(STEPS)
                    }
                });
                t.elapsed().as_secs_f64()
            })
            .skip(1) // warm-up: the first run pays for raising the clock
            .fold(f64::INFINITY, f64::min);
        Some((STEPS * CHAINS * lanes * 2) as f64 / best / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = runs;
        None
    }
}

/// `CHAINS` independent chains of `steps` FMAs each in vectors of `L`; the
/// sum of every lane, so that nothing is optimized away.
///
/// # Safety
/// The caller enables `L`'s features and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn chains<L: Lanes>(steps: usize) -> f32 {
    // SAFETY (every block below): the caller's features; `lanes` holds
    // 16 floats, the most a vector has.
    let (a, b) = unsafe { (L::splat(0.999_999), L::splat(1e-7)) };
    let mut acc = [unsafe { L::splat(1.0) }; CHAINS];
    for _ in 0..steps {
        for c in acc.iter_mut() {
            *c = unsafe { L::fma(*c, a, b) };
        }
    }
    let mut lanes = [0.0f32; 16];
    acc.iter().fold(0.0, |s, v| {
        unsafe { v.store(lanes.as_mut_ptr()) };
        s + lanes[..L::LANES].iter().sum::<f32>()
    })
}

/// # Safety
/// The CPU must have AVX-512F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn chains_512(steps: usize) -> f32 {
    // SAFETY: the features are enabled here.
    unsafe { chains::<std::arch::x86_64::__m512>(steps) }
}

/// # Safety
/// The CPU must have AVX and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
unsafe fn chains_256(steps: usize) -> f32 {
    // SAFETY: the features are enabled here.
    unsafe { chains::<std::arch::x86_64::__m256>(steps) }
}

#[cfg(test)]
mod tests {
    /// A positive, finite rate wherever the CPU has FMA (no bound on its size:
    /// timings belong in benchmarks).
    #[test]
    fn the_peak_is_a_rate() {
        if let Some(g) = super::fma_gflops(1) {
            assert!(g.is_finite() && g > 0.0, "{g}");
        }
    }
}
