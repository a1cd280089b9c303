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
