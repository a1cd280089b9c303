"""Bad models and options raise ModelError with the diagnostics; bad arrays a ValueError."""

import numpy as np
import pytest

import analogc
from conftest import MODEL, mnist_test


def test_bad_setting_raises_model_error():
    with pytest.raises(analogc.ModelError) as e:
        analogc.load(MODEL, set={"fc9.noise.sigma": 0.2})
    assert "E0016" in str(e.value) and "fc9" in str(e.value)
    [d] = e.value.diagnostics
    assert d["code"] == "E0016"
    assert d["file"] == "--set" and d["line"] == 1 and d["column"] == 1
    assert "fc9" in d["message"]


def test_missing_file_raises_model_error():
    with pytest.raises(analogc.ModelError) as e:
        analogc.load("no/such/model.anl")
    assert e.value.diagnostics and e.value.diagnostics[0]["code"].startswith("E")


def test_syntax_error_points_into_the_file(tmp_path):
    bad = tmp_path / "bad.anl"
    bad.write_text("model m {\n  input x: u8[4]\n  nonsense here\n}\n")
    with pytest.raises(analogc.ModelError) as e:
        analogc.load(bad)
    d = e.value.diagnostics[0]
    assert d["file"] == str(bad) and d["line"] >= 1 and d["column"] >= 1


def test_bad_options_raise_model_error():
    model = analogc.load(MODEL)
    with pytest.raises(analogc.ModelError):
        model.eval(trials=0, limit=10)
    with pytest.raises(analogc.ModelError):
        model.eval(data="no-such-dataset", limit=10)
    with pytest.raises(analogc.ModelError):
        model.sweep(sigma="nonsense", limit=10)
    with pytest.raises(ValueError):
        model.sweep(kind="loud", limit=10)


def test_wrong_dtype_raises_value_error():
    model = analogc.load(MODEL)
    with pytest.raises(ValueError, match="uint8 or float32"):
        model.run(np.zeros((2, 1, 28, 28), np.float64))
    with pytest.raises(ValueError, match="is u8"):
        model.run(np.zeros((2, 1, 28, 28), np.float32))


def test_wrong_shape_raises_value_error():
    model = analogc.load(MODEL)
    with pytest.raises(ValueError, match=r"shape \[2, 28, 29\]"):
        model.run(np.zeros((2, 28, 29), np.uint8))
    with pytest.raises(ValueError, match="no input `pixels`"):
        model.run({"pixels": np.zeros((1, 28, 28), np.uint8)})


def test_weights_replace_the_models_own_file_with_the_same_checks():
    x, _ = mnist_test(4)
    own = analogc.load(MODEL)
    given = analogc.load(MODEL, weights="examples/weights/mnist_mlp.safetensors")
    assert given.weights == "examples/weights/mnist_mlp.safetensors" and own.weights is None
    assert np.array_equal(own.run(x)["logits"], given.run(x)["logits"])
    with pytest.raises(analogc.ModelError) as e:
        analogc.load(MODEL, weights="examples/weights/mnist_lenet5.safetensors")
    assert "E0605" in str(e.value)
