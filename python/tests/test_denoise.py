"""denoise gives the report `analogc denoise --json` gives, the table it
prints, and writes the folder `--out` writes. The expected files were
written from the repository's root, M=examples/recipes/denoise/mnist_mlp_deploy.anl, by

    analogc denoise $M --budget 2% --limit 200 --json > denoise.json
    analogc denoise $M --budget 2% --limit 200 > denoise.txt
    analogc denoise $M --budget 2% --limit 200 --out python/tests/expected/denoise

keeping that folder's model file as denoise_copy.anl (its `data` path reaches
data/mnist from python/tests/expected/denoise) and the hash of its weights.
"""

import hashlib
import json
import os

import pytest

import analogc
from conftest import EXPECTED, ROOT

DEPLOY = "examples/recipes/denoise/mnist_mlp_deploy.anl"
WEIGHTS_SHA256 = "12a3970eaeacc14854229b62f897e00c298abe800277f9caf12efc45d9b04ab2"
# Where the copy's `data` statement points, from the folder the command wrote.
CLI_DATA = '"../../../../data/mnist"'


def test_denoise_matches_cli():
    result = analogc.denoise(DEPLOY, "2%", limit=200)
    assert result.to_dict() == json.loads((EXPECTED / "denoise.json").read_text())
    assert str(result) == (EXPECTED / "denoise.txt").read_text()


def test_model_denoise_writes_the_cli_folder(tmp_path):
    out = tmp_path / "dn"
    model = analogc.load(DEPLOY, weights="examples/weights/mnist_mlp.safetensors")
    report = model.denoise(budget="2%", limit=200, out=out).to_dict()
    written = {
        "model_file": str(out.resolve() / "mnist_mlp_deploy.anl"),
        "weights_file": str(out.resolve() / "mnist_mlp_deploy.safetensors"),
        "train_command": f"analogc train {out / 'mnist_mlp_deploy.anl'} --train fc1_denoise --out {out / 'trained'}",
    }
    assert report == dict(json.loads((EXPECTED / "denoise.json").read_text()), **written)
    weights = (out / "mnist_mlp_deploy.safetensors").read_bytes()
    assert hashlib.sha256(weights).hexdigest() == WEIGHTS_SHA256
    data = json.dumps(os.path.relpath(ROOT.resolve() / "data/mnist", out.resolve()))
    copy = (EXPECTED / "denoise_copy.anl").read_text().replace(CLI_DATA, data)
    assert (out / "mnist_mlp_deploy.anl").read_text() == copy
    assert analogc.load(out / "mnist_mlp_deploy.anl").outputs == {"logits": (10,)}


def test_bad_denoise_options_raise():
    with pytest.raises(analogc.ModelError) as e:
        analogc.denoise(DEPLOY, "0%")
    assert [d["code"] for d in e.value.diagnostics] == ["E1101"]
    assert "`--budget 0%`" in str(e.value)
    with pytest.raises(analogc.ModelError, match="E1102"):
        analogc.denoise(DEPLOY, 10, limit=10)
    with pytest.raises(ValueError, match="place"):
        analogc.denoise(DEPLOY, "2%", place="loud")


def test_model_denoise_refuses_overrides_the_copy_would_drop():
    model = analogc.load(DEPLOY, set={"read.noise.sigma": 0.5})
    with pytest.raises(ValueError, match="read.noise.sigma=0.5"):
        model.denoise(budget="2%")
