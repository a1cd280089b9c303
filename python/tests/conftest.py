"""Tests run from the repository's root, as the command line that wrote
``expected/*.json`` did, so paths in results match."""

import gzip
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).resolve().parent / "expected"
MODEL = "examples/mnist_mlp_walking.anl"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def mnist_test(n: int):
    """The first ``n`` MNIST test images (uint8, [n, 1, 28, 28]) and labels."""
    with gzip.open(ROOT / "data/mnist/t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)[: n * 784].reshape(n, 1, 28, 28)
    with gzip.open(ROOT / "data/mnist/t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return images, labels
