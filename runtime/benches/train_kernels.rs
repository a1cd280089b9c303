//! Training's fast-path kernels at the MNIST MLP's shapes (batch 64), on 1
//! and 2 threads: `cargo bench -p analogc-runtime --bench train_kernels`.
//!
//! Each figure is the best of 200 calls (the machine is shared: the best
//! filters out other tenants), with mimalloc as `analogc` itself allocates,
//! and buffers handed back to a [`Spare`] between calls as the trainer does.

use analog_runtime::kernels::gemm::pack;
use analog_runtime::train::kernels::{first_non_finite, forward, input_grad, weight_grad};
use analog_runtime::train::optim::{Optimizer, State, Update};
use analog_runtime::train::spare::Spare;
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Best time of `reps` calls of `f`, in µs.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e6
}

fn main() {
    let n = 64;
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
        let spare = Spare::default();
        pool.install(|| {
            for (rows, k) in [(256usize, 784usize), (256, 256), (10, 256)] {
                let w: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.37).sin()).collect();
                let x: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
                let dy: Vec<f32> = (0..n * rows).map(|i| (i as f32 * 0.7).sin()).collect();
                let gflop = 2.0 * (n * rows * k) as f64 / 1e3;
                let row = |what: &str, t: f64| {
                    println!("{threads} thread(s)  {what:3} {rows:3}×{k:3}  {t:7.1} µs  {:6.1} GFLOP/s", gflop / t)
                };
                row("y", best(200, || spare.give([black_box(forward(&w, rows, &x, k, None, threads, &spare))])));
                row("dW", best(200, || spare.give([black_box(weight_grad(&dy, rows, &x, k, threads, &spare))])));
                row("dX", best(200, || spare.give([black_box(input_grad(&dy, rows, &w, k, threads, &spare))])));
            }
            let x: Vec<f32> = (0..n * 784).map(|i| (i as f32 * 0.11).cos()).collect();
            println!("{threads} thread(s)  pack 64×784      {:7.1} µs", best(200, || drop(black_box(pack(&x, n)))));
            let len = 256 * 784;
            let mut theta: Vec<f32> = (0..len).map(|i| (i as f32).sin()).collect();
            let grad: Vec<f32> = (0..len).map(|i| (i as f32).cos() * 1e-3).collect();
            let mut state = State::new(len);
            let sgd = Optimizer::Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.0 };
            let t = best(200, || {
                black_box(sgd.step_all(0.01, vec![Update { state: &mut state, theta: &mut theta, grad: &grad }]));
            });
            println!("{threads} thread(s)  SGD {len}      {t:7.1} µs");
            let t = best(200, || {
                black_box(first_non_finite(&theta));
            });
            println!("{threads} thread(s)  finite {len}   {t:7.1} µs");
        });
    }
}
