//! Throughput of the shared generator, one core:
//! `cargo bench -p analogc-runtime --bench rng`.
//!
//! Criterion-free: each figure is the best of many short (about a millisecond)
//! timed repetitions, which filters out interference from other processes.

use analog_runtime::rng::{fill_gaussian, gaussian, permutation, uniform};
use std::hint::black_box;
use std::time::Instant;

/// Best rate (items per second) over `reps` runs of `f`, which produces `items` items.
fn best_rate(items: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    items as f64 / best
}

fn main() {
    const SEED: u64 = 0x0123_4567_89ab_cdef;
    // 64 Ki floats = 256 KiB: stays in L2, so this measures the generator, not memory.
    let mut buf = vec![0f32; 1 << 16];
    let rounds = 4;
    let rate = best_rate(buf.len() * rounds, 400, || {
        for r in 0..rounds {
            fill_gaussian(SEED, 3, r as u32, 5, black_box(&mut buf));
        }
    });
    println!("fill_gaussian         {:7.3} G Gaussians/s", rate / 1e9);

    let n = 1 << 15;
    let rate = best_rate(n, 400, || {
        let mut acc = 0f32;
        for e in 0..n as u32 {
            acc += gaussian(SEED, 3, 1, 5, black_box(e));
        }
        black_box(acc);
    });
    println!("gaussian (one call)   {:7.3} G Gaussians/s", rate / 1e9);

    let rate = best_rate(n, 400, || {
        let mut acc = 0f32;
        for e in 0..n as u32 {
            acc += uniform(SEED, 3, 1, 5, black_box(e));
        }
        black_box(acc);
    });
    println!("uniform (one call)    {:7.3} G uniforms/s", rate / 1e9);

    let rate = best_rate(n, 400, || {
        black_box(permutation(SEED, 3, 5, black_box(n)));
    });
    println!("permutation           {:7.3} G elements/s", rate / 1e9);
}
