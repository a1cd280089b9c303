//! Throughput of the shared generator (`cargo bench -p analogc-runtime --bench rng`).
//! Criterion-free: best of several timed repetitions, one core.

use analog_runtime::rng::{fill_gaussian, gaussian, uniform};
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
    // 64 Ki floats = 256 KiB: stays in L2, so this measures the generator, not memory.
    let mut buf = vec![0f32; 1 << 16];
    let rounds = 256;
    let rate = best_rate(buf.len() * rounds, 7, || {
        for r in 0..rounds {
            fill_gaussian(0x0123_4567_89ab_cdef, 3, r as u32, 5, black_box(&mut buf));
        }
    });
    println!("fill_gaussian        {:8.3} G/s", rate / 1e9);

    let n = 1 << 22;
    let rate = best_rate(n, 5, || {
        let mut acc = 0f32;
        for e in 0..n as u32 {
            acc += gaussian(0x0123_4567_89ab_cdef, 3, 1, 5, black_box(e));
        }
        black_box(acc);
    });
    println!("gaussian (per call)  {:8.3} G/s", rate / 1e9);

    let rate = best_rate(n, 5, || {
        let mut acc = 0f32;
        for e in 0..n as u32 {
            acc += uniform(0x0123_4567_89ab_cdef, 3, 1, 5, black_box(e));
        }
        black_box(acc);
    });
    println!("uniform (per call)   {:8.3} G/s", rate / 1e9);
}
