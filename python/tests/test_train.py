"""train gives the report `analogc train --json` gives and writes the run folder `--out` writes.
The expected files were written from the repository's root, A=examples/recipes/abfp_dnf/mnist_mlp_abfp_low.anl, by

    analogc train examples/mnist_mlp_walking.anl --init kaiming --limit 256 --epochs 1 --val 500 --json > train.json
    analogc train $A --dnf --dnf-refresh 2 --limit 128 --epochs 2 --val 100 --json > train_dnf.json
"""

import json

import pytest

import analogc
from conftest import EXPECTED, MODEL
from test_cli_numbers import without_seconds

TINY = dict(init="kaiming", limit=256, epochs=1, val=500)
ABFP = "examples/recipes/abfp_dnf/mnist_mlp_abfp_low.anl"


def test_train_matches_cli():
    report = analogc.train(MODEL, **TINY)
    cli = json.loads((EXPECTED / "train.json").read_text())
    assert without_seconds(report.to_dict()) == without_seconds(cli)
    assert report["train_samples"] == 256 and len(report["epochs"]) == 1
    layers = report["epochs"][0]["layers"]
    assert [l["layer"] for l in layers] == ["fc1", "fc2", "fc3"]
    assert all(l["weight_norm"] > 0 and l["activation_rms"] > 0 for l in layers)


def test_dnf_train_matches_cli():
    report = analogc.load(ABFP).train(dnf=True, dnf_refresh=2, limit=128, epochs=2, val=100)
    cli = json.loads((EXPECTED / "train_dnf.json").read_text())
    assert without_seconds(report.to_dict()) == without_seconds(cli)
    # Two epochs, the error measured every second: once.
    assert report["dnf"]["refresh"] == 2 and len(report["dnf"]["measurements"]) == 1


def test_dnf_options_are_the_commands():
    with pytest.raises(analogc.ModelError, match="E1001") as e:
        analogc.train(MODEL, dnf_refresh=2, **TINY)
    assert "`--dnf-refresh` is an option of `--dnf`" in str(e.value)
    with pytest.raises(analogc.ModelError, match="E1005"):
        analogc.train(MODEL, dnf=True, **TINY)


def test_model_train_writes_a_run_folder_that_loads(tmp_path):
    out = tmp_path / "run"
    report = analogc.load(MODEL).train(out=out, **TINY)
    assert (out / "train.csv").exists() and (out / "mnist_mlp_walking.safetensors").exists()
    trained = analogc.load(out / "mnist_mlp_walking.anl")
    # One epoch on 256 images from Kaiming weights: well above chance (10%) on the test split.
    assert trained.eval(trials=1, limit=500).clean_accuracy > 0.3
    assert report["init"] == "kaiming"


def test_bad_train_options_raise_model_error():
    with pytest.raises(analogc.ModelError, match="options of `--optimizer sgd`"):
        analogc.train(MODEL, momentum=0.9, **TINY)
    with pytest.raises(ValueError, match="optimizer"):
        analogc.train(MODEL, optimizer="lion", **TINY)
    with pytest.raises(ValueError, match="chip"):
        analogc.train(MODEL, chip="same", **TINY)


def test_on_epoch_gets_each_epochs_record_as_a_dict():
    records = []
    report = analogc.train(MODEL, on_epoch=records.append, **dict(TINY, epochs=2))
    assert [r["epoch"] for r in records] == [1, 2]
    assert records == report["epochs"]


def test_an_exception_in_on_epoch_stops_training_and_propagates(tmp_path):
    seen = []

    def stop(record):
        seen.append(record["epoch"])
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        analogc.train(MODEL, on_epoch=stop, out=tmp_path / "run", **dict(TINY, epochs=3))
    assert seen == [1]
    # Training stopped in the second epoch: the first epoch's weights stay as written.
    assert (tmp_path / "run" / "mnist_mlp_walking.safetensors").exists()
