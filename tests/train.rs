//! Training through the library: determinism across threads, the fast path
//! against the reference, and learning on real data.

use analogc::train::{train, EpochRecord, TrainOptions, Weights};
use analogc::{Backend, Control, Model};

fn run(file: &str, options: &TrainOptions) -> (Vec<EpochRecord>, Weights) {
    let model = Model::load(file, &[]).expect("model loads");
    let mut last = vec![];
    let report = train(&model, None, options, Control::none(), &mut |_, w| {
        last = w.clone();
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (report.epochs, last)
}

fn small(threads: usize, backend: Backend) -> TrainOptions {
    TrainOptions { epochs: 1, limit: Some(640), val: 500, threads, backend, ..TrainOptions::default() }
}

/// The same seed gives the same weights, bit for bit, for any thread count.
#[test]
fn training_is_the_same_for_any_thread_count() {
    for file in ["../examples/mnist_mlp_walking.anl", "../examples/mnist_lenet5.anl"] {
        let (e1, w1) = run(file, &small(1, Backend::Jit));
        let (e3, w3) = run(file, &small(3, Backend::Jit));
        assert_eq!(w1, w3, "{file}: weights");
        assert_eq!(e1[0].loss, e3[0].loss, "{file}: loss");
    }
}

/// The fast path (JIT-backed validation, matrix-product kernels) against
/// the reference (interpreter, reference rules): the forward is the same
/// bits, the backward sums differ only where a conv's input gradient adds
/// its patches back in another order. Bound on every trained weight after
/// two steps: `|fast − reference| ≤ 1e−5·(1 + |reference|)`.
#[test]
fn the_fast_path_trains_as_the_reference_does() {
    for file in ["../examples/mnist_lenet5.anl", "../examples/mnist_mlp.anl", "../examples/mnist_mlp_abfp.anl"] {
        let options = |backend| TrainOptions {
            epochs: 1,
            batch: 32,
            limit: Some(64),
            val: 100,
            threads: 2,
            backend,
            ..TrainOptions::default()
        };
        let (fast_epochs, fast) = run(file, &options(Backend::Jit));
        let (ref_epochs, reference) = run(file, &options(Backend::Interp));
        assert_eq!(fast.len(), reference.len());
        for ((name, f), (_, r)) in fast.iter().zip(&reference) {
            for (a, b) in f.data.iter().zip(&r.data) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{file}: `{name}`: fast {a}, reference {b}");
            }
        }
        assert!((fast_epochs[0].loss - ref_epochs[0].loss).abs() <= 1e-6, "{file}: loss");
    }
}
