"""The same numbers from Python as from the command line. The expected files
were written by the CLI from the repository's root:

    analogc eval examples/mnist_mlp_walking.anl --set fc1.noise.sigma=5 --trials 3 --limit 300 --json
    analogc sweep examples/mnist_mlp_walking.anl --sigma 0.3,3,30 --trials 2 --limit 200 --json
    analogc analyze examples/mnist_mlp_walking.anl --json
"""

import json

import numpy as np
import pytest

import analogc
from conftest import EXPECTED, MODEL, mnist_test

TIMINGS = {"seconds", "samples_per_second"}


def expected(name):
    data = json.loads((EXPECTED / name).read_text())
    return {k: v for k, v in data.items() if k not in TIMINGS}


def test_eval_matches_cli():
    model = analogc.load(MODEL, set={"fc1.noise.sigma": 5})
    result = model.eval(trials=3, limit=300)
    got = {k: v for k, v in result.to_dict().items() if k not in TIMINGS}
    assert got == expected("eval.json")
    assert result.clean_accuracy == got["clean_accuracy"]
    assert "clean accuracy" in str(result)


def test_eval_does_not_depend_on_threads_or_batch():
    model = analogc.load(MODEL, set=["fc1.noise.sigma=5"])
    result = model.eval(trials=3, limit=300, threads=1, batch=7)
    assert result.accuracy == expected("eval.json")["accuracy"]


def test_sweep_matches_cli():
    result = analogc.load(MODEL).sweep(sigma=[0.3, 3, 30], trials=2, limit=200)
    assert result.to_dict() == expected("sweep.json")
    assert result.sites == ["fc1", "fc2", "fc3"]


def test_sweep_writes_the_cli_files(tmp_path):
    out = tmp_path / "sweep"
    analogc.load(MODEL).sweep(sigma="0.3,3,30", trials=2, limit=200, out=out)
    written = json.loads((out / "sweep.json").read_text())
    assert {k: v for k, v in written.items() if k not in TIMINGS} == expected("sweep.json")
    assert (out / "sweep.csv").exists() and (out / "sweep.png").exists()


def test_run_argmax_gives_the_clean_accuracy():
    images, labels = mnist_test(300)
    model = analogc.load(MODEL)
    logits = model.run(images)["logits"]
    assert logits.shape == (300, 10) and logits.dtype == np.float32
    clean = model.eval(trials=1, limit=300).clean_accuracy
    assert np.mean(logits.argmax(axis=1) == labels) == clean


def test_run_is_the_same_for_any_batch_split_and_one_sample():
    images, _ = mnist_test(5)
    model = analogc.load(MODEL, set={"fc2.noise.sigma": 1.0})
    whole = model.run(images, seed=3, trial=1)["logits"]
    # Noise is keyed by the sample's index in the batch: the first sample alone is sample 0.
    one = model.run(images[0, 0], seed=3, trial=1)["logits"]
    assert np.array_equal(whole[:1], one)
    assert np.array_equal(whole, model.run(images, seed=3, trial=1, threads=1)["logits"])
    assert not np.array_equal(whole, model.run(images, seed=3, trial=2)["logits"])


def without_seconds(value):
    """A JSON value without its timings, at any depth."""
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_seconds(v) for v in value]
    return value


def test_analyze_matches_cli():
    result = analogc.load(MODEL).analyze()
    assert result.to_dict() == json.loads((EXPECTED / "analyze.json").read_text())


def test_calibrated_analyze_matches_cli():
    # analogc analyze examples/mnist_mlp_walking.anl --calibrate --limit 200 --calibrate-limit 50 --json
    result = analogc.load(MODEL).analyze(calibrate=True, limit=200, calibrate_limit=50)
    cli = json.loads((EXPECTED / "analyze_calibrated.json").read_text())
    assert without_seconds(result.to_dict()) == without_seconds(cli)


def test_sweep_to_pandas():
    pandas = pytest.importorskip("pandas")
    result = analogc.load(MODEL).sweep(sigma=[0.3, 3, 30], trials=2, limit=200)
    df = result.to_pandas()
    assert isinstance(df, pandas.DataFrame) and len(df) == len(result.points) == 9
    fc1 = df[df.site == "fc1"]
    assert list(fc1.value) == [0.3, 3.0, 30.0]
    assert list(fc1["mean"]) == [p["accuracy"]["mean"] for p in result.points if p["site"] == "fc1"]
