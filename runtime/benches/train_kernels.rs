//! Training's fast-path kernels at the MNIST MLP's and LeNet-5's shapes
//! (batch 64), on 1 and 2 threads: `cargo bench -p analogc-runtime --bench
//! train_kernels`.
//!
//! Each figure is the best of 200 calls (the machine is shared: the best
//! filters out other tenants), with mimalloc as `analogc` itself allocates,
//! and buffers handed back to a [`Spare`] between calls as the trainer does.

use analog_runtime::derived::window::Window;
use analog_runtime::kernels::conv;
use analog_runtime::kernels::gemm::pack;
use analog_runtime::train::conv_grad;
use analog_runtime::train::kernels::{first_non_finite, forward, input_grad, weight_grad};
use analog_runtime::train::maxpool::{maxpool, maxpool_grad};
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
            lenet(threads, &spare);
        });
    }
}

/// LeNet-5's convolutions' gradients and max poolings.
fn lenet(threads: usize, spare: &Spare) {
    let n = 64;
    for (c, hw, pad, cols) in [(1usize, 28usize, 2usize, 6usize), (6, 14, 0, 16)] {
        let win = Window { kernel: [5, 5], stride: [1, 1], padding: [[pad, pad]; 2] };
        let s = conv::Shape::of(&[c, hw, hw], &win, cols);
        let [oh, ow] = s.out();
        let x: Vec<f32> = (0..n * c * hw * hw).map(|i| (i as f32 * 0.11).cos()).collect();
        let w: Vec<f32> = (0..cols * s.k()).map(|i| (i as f32 * 0.37).sin()).collect();
        let dy: Vec<f32> = (0..n * cols * oh * ow).map(|i| (i as f32 * 0.7).sin()).collect();
        let gflop = 2.0 * (n * cols * oh * ow * s.k()) as f64 / 1e3;
        let row = |what: &str, t: f64| {
            println!("{threads} thread(s)  conv {c}→{cols} {what:2} {t:7.1} µs  {:6.1} GFLOP/s", gflop / t)
        };
        row("dW", best(200, || spare.give([black_box(conv_grad::weight_grad(&s, &x, &dy, spare))])));
        row("dX", best(200, || spare.give([black_box(conv_grad::input_grad(&s, &w, &dy, spare))])));
        let pool = Window { kernel: [2, 2], stride: [2, 2], padding: [[0, 0]; 2] };
        let y: Vec<f32> = dy.iter().map(|v| v.max(0.0)).collect();
        let t = best(200, || {
            let (p, taken) = maxpool(&y, &[cols, oh, ow], &pool, spare);
            spare.give([black_box(p)]);
            black_box(taken);
        });
        println!("{threads} thread(s)  maxpool {cols}×{oh}×{ow}  {t:7.1} µs");
        let (p, taken) = maxpool(&y, &[cols, oh, ow], &pool, spare);
        let t = best(200, || spare.give([black_box(maxpool_grad(&taken, n, cols * oh * ow, &p, spare))]));
        println!("{threads} thread(s)  maxpool grad        {t:7.1} µs");
    }
}
