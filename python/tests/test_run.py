"""Model.run compiles the JIT once per model and choice of kernels, then runs
the kept code: every run gives the bits of the first."""

import numpy as np

import analogc
from conftest import MODEL, mnist_test


def test_runs_after_the_first_give_the_same_bits_on_every_backend():
    images, _ = mnist_test(5)
    model = analogc.load(MODEL, set={"fc2.noise.sigma": 1.0})
    first = model.run(images, seed=3, trial=1)["logits"]
    for _ in range(3):
        assert np.array_equal(first, model.run(images, seed=3, trial=1)["logits"])
    assert np.array_equal(first, model.run(images, seed=3, trial=1, threads=1)["logits"])
    assert np.array_equal(first, model.run(images, seed=3, trial=1, kernels="cranelift")["logits"])
    assert np.array_equal(first, model.run(images, seed=3, trial=1, backend="interp")["logits"])
    # Another chip on the kept code, and the same model loaded with other settings.
    assert not np.array_equal(first, model.run(images, seed=3, trial=2)["logits"])
    quiet = model.with_settings({"fc2.noise.sigma": 0})
    assert not np.array_equal(first, quiet.run(images, seed=3, trial=1)["logits"])
    assert np.array_equal(first, model.run(images, seed=3, trial=1)["logits"])
