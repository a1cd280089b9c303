"""import_onnx writes the files `analogc import` writes; the model runs like the ONNX reference."""

import numpy as np
import pytest

import analogc
from conftest import ROOT

FIXTURES = ROOT / "tests/fixtures/import"


def test_import_runs_like_the_reference(tmp_path):
    result = analogc.import_onnx(FIXTURES / "cnn_ops.onnx", out=tmp_path)
    assert result["anl"] == str(tmp_path / "cnn_ops.anl")
    assert str(result).startswith(f"wrote {tmp_path / 'cnn_ops.anl'}")
    model = analogc.load(result["anl"])
    x = np.load(FIXTURES / "cnn_ops.input.npy")
    expected = np.load(FIXTURES / "cnn_ops.expected.npy")
    [y] = model.run(x).values()
    # f32 sums in another order than onnx.reference's (tests/import.rs has the same bound).
    assert np.allclose(y.reshape(expected.shape), expected, atol=1e-5, rtol=1e-4)


def test_import_with_preprocessing_matches_the_bundled_weights(tmp_path):
    # analogc import examples/import/mnist_lenet5.onnx --input-dtype u8 --scale 1/255 --normalize 0.1307,0.3081
    onnx = ROOT / "examples/import/mnist_lenet5.onnx"
    result = analogc.import_onnx(onnx, out=tmp_path, input_dtype="u8", scale=1 / 255, normalize=(0.1307, 0.3081))
    assert result["layers"] > 0
    bundled = (ROOT / "examples/import/mnist_lenet5.safetensors").read_bytes()
    assert (tmp_path / "mnist_lenet5.safetensors").read_bytes() == bundled


def test_bad_onnx_raises_model_error(tmp_path):
    with pytest.raises(analogc.ModelError) as e:
        analogc.import_onnx(FIXTURES / "bad/E0903-unsupported-op.onnx", out=tmp_path)
    assert e.value.diagnostics[0]["code"] == "E0903"
