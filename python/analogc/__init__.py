"""analogc: compile neural networks together with the analog or approximate
hardware they run on, from Python.

>>> import analogc, numpy as np
>>> model = analogc.load("examples/mnist_mlp_walking.anl", set={"fc1.noise.sigma": 0.2})
>>> model.run(np.zeros((4, 1, 28, 28), np.uint8))["logits"].shape
(4, 10)
>>> print(model.eval(trials=5, limit=1000))

Every call runs the library the command line runs, with its defaults, so the
numbers are the command line's. Long calls release the GIL and stop on Ctrl-C
(KeyboardInterrupt). Diagnostics are raised as :class:`ModelError`.
"""

import json
from os import PathLike
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from .errors import ModelError
from .results import EvalResult, Result, SweepResult

__all__ = ["load", "import_onnx", "train", "denoise", "Model", "ModelError", "EvalResult", "SweepResult", "Result"]

Path = Union[str, "PathLike[str]"]
Settings = Union[Mapping[str, Any], Iterable[str], None]


def _settings(set: Settings) -> list:
    """``{"fc1.noise.sigma": 0.2}`` or ``["fc1.noise.sigma=0.2"]`` as ``--set`` takes them."""
    if set is None:
        return []
    if isinstance(set, Mapping):
        return [f"{path}={value}" for path, value in set.items()]
    if isinstance(set, str):
        return [set]
    return [str(s) for s in set]


def load(path: Path, set: Settings = None, weights: Optional[Path] = None) -> "Model":
    """Loads a model file (``.anl``): checked, lowered and optimized.

    ``set`` overrides annotations as ``--set`` does: a dict of path → value
    (``{"fc1.noise.sigma": 0.2}``; values are written as Python prints them, so
    give annotations such as ``"multiplicative(sigma = 5 %)"`` as strings) or a
    list of ``"PATH=VALUE"``. ``weights`` replaces the weights file the model
    names, as ``--weights`` does (a path relative to the working directory).
    Raises :class:`ModelError` when it does not check.
    """
    return Model(_native.load(str(path), _settings(set), None if weights is None else str(weights)))


def import_onnx(
    path: Path,
    out: Path = ".",
    name: Optional[str] = None,
    input_dtype: str = "f32",
    scale: Optional[float] = None,
    normalize: Optional[Tuple[float, float]] = None,
) -> Result:
    """Turns an ONNX network into ``out/NAME.anl`` and ``out/NAME.safetensors``,
    checked (``analogc import``). ``name``: default, the file's name;
    ``input_dtype``: ``"u8"`` (raw pixels) or ``"f32"``; ``scale`` and
    ``normalize`` (``(mean, std)``) put that preprocessing in front of the
    network. The result's ``to_dict()`` holds ``anl``, ``weights`` (None
    without weights) and ``layers``; load the model with ``load(result["anl"])``."""
    anl, weights, layers, text = _native.import_onnx(str(path), str(out), name, input_dtype, scale, normalize)
    data = {"anl": str(anl), "weights": None if weights is None else str(weights), "layers": layers}
    return Result(data, text)


def train(
    path: Path,
    set: Settings = None,
    weights: Optional[Path] = None,
    data: Optional[Path] = None,
    epochs: int = 10,
    batch: int = 64,
    lr: Optional[float] = None,
    optimizer: str = "adam",
    momentum: Optional[float] = None,
    nesterov: bool = False,
    weight_decay: Optional[float] = None,
    schedule: str = "constant",
    step_every: Optional[int] = None,
    step_factor: Optional[float] = None,
    clip: Optional[float] = None,
    init: Optional[str] = None,
    train: Sequence[str] = (),
    freeze: Sequence[str] = (),
    ordered_grad: str = "exact",
    chip: str = "fresh",
    dnf: bool = False,
    dnf_refresh: Optional[int] = None,
    val: int = 5000,
    limit: Optional[int] = None,
    out: Optional[Path] = None,
    seed: int = 0,
    threads: Optional[int] = None,
    backend: str = "jit",
    kernels: str = "native",
    on_epoch: Optional[Callable[[Dict[str, Any]], Any]] = None,
) -> Result:
    """Trains a model file's weights with its hardware in the loop (``analogc
    train``); the keyword arguments are the command's options, with its
    defaults (``weights`` replaces the model's weights file, as ``--weights``
    does): ``lr`` 1e-3 (0.05 for ``optimizer="sgd"``), ``optimizer``
    ``"sgd"``, ``"adam"`` or ``"adamw"``, ``schedule`` ``"constant"``,
    ``"cosine"`` or ``"step"`` (with ``step_every``), ``init`` ``"keep"``,
    ``"kaiming"`` or ``"xavier"`` (default: keep, Kaiming without weights),
    ``train``/``freeze`` layer names, ``chip`` ``"fresh"`` (a new chip every
    step) or ``"fixed"`` (one for the run), ``dnf`` Differential Noise
    Finetuning (the layers with a number format trained in FP32 with their
    measured error as Gaussian noise, measured again every ``dnf_refresh``
    epochs, default 1; ``--dnf``, ``--dnf-refresh``), ``val`` samples held out,
    ``limit`` the samples trained on. With ``out``, the run folder ``train --out`` writes
    (weights per epoch, a model file naming them, train.csv/json, curves).
    ``on_epoch`` is called after each epoch with its record (a dict: the
    fields of an entry of the report's ``epochs``); an exception it raises
    stops training and propagates. The result's ``to_dict()`` is ``train
    --json``'s report."""
    text_json, text = _native.train(
        str(path),
        _settings(set),
        None if weights is None else str(weights),
        None if data is None else str(data),
        epochs,
        batch,
        lr,
        optimizer,
        momentum,
        nesterov,
        weight_decay,
        schedule,
        step_every,
        step_factor,
        clip,
        init,
        list(train),
        list(freeze),
        ordered_grad,
        chip,
        dnf,
        dnf_refresh,
        val,
        limit,
        None if out is None else str(out),
        seed,
        threads,
        backend,
        kernels,
        None if on_epoch is None else lambda record: on_epoch(json.loads(record)),
    )
    return Result(json.loads(text_json), text)


def denoise(
    path: Path,
    budget: Union[str, int],
    place: str = "sensitive",
    hidden: Optional[int] = None,
    data: Optional[Path] = None,
    limit: int = 1000,
    seed: int = 0,
    threads: Optional[int] = None,
    out: Optional[Path] = None,
    weights: Optional[Path] = None,
) -> Result:
    """Places denoise blocks after a model file's layers within a parameter
    budget (``analogc denoise``), with the command's defaults: ``budget`` a
    share of the model's parameters (``"2%"``) or a count (``5000``);
    ``place`` ``"sensitive"`` (the layers that matter most first),
    ``"insensitive"`` or ``"random"`` (seeded by ``seed``, which also draws
    the blocks' initial weights); ``hidden`` every block's width (default: as
    wide as the budget left pays for); the sensitivities measured on the first
    ``limit`` samples of ``data`` (default: the model's own). With ``out``,
    the folder ``denoise --out`` writes: the model with its blocks and its
    weights, to train with the report's ``train_command``. The result's
    ``to_dict()`` is ``denoise --json``'s report.

    ``weights`` replaces the model's weights file, as ``--weights`` does for
    the other commands: the written weights are that file's tensors and the
    blocks'. There are no ``set`` overrides, as the command takes no
    ``--set``: the written model is the file's own text with the blocks
    inserted, so overrides would rank one model and write another."""
    text_json, text = _native.denoise(
        str(path),
        None if weights is None else str(weights),
        str(budget),
        place,
        hidden,
        None if data is None else str(data),
        limit,
        seed,
        threads,
        None if out is None else str(out),
    )
    return Result(json.loads(text_json), text)


class Model:
    """A loaded model. ``seed``, ``threads``, ``backend`` (``"jit"``,
    ``"interp"``) and ``kernels`` (``"native"``, ``"cranelift"``) are those of
    the command line; results never depend on ``threads``, ``backend`` or
    ``kernels``."""

    def __init__(self, native: "_native.Model") -> None:
        self._native = native

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def file(self) -> str:
        return str(self._native.file)

    @property
    def settings(self) -> list:
        """The ``--set`` overrides it was loaded with."""
        return list(self._native.settings)

    @property
    def weights(self) -> Optional[str]:
        """The weights file that replaced the model's own (``load(weights=…)``), if any."""
        w = self._native.weights
        return None if w is None else str(w)

    @property
    def inputs(self) -> Dict[str, tuple]:
        """Each input's name → (dtype, shape of one sample)."""
        return {name: (dtype, tuple(shape)) for name, dtype, shape in self._native.inputs}

    @property
    def outputs(self) -> Dict[str, tuple]:
        """Each output's name → shape of one sample."""
        return {name: tuple(shape) for name, shape in self._native.outputs}

    def with_settings(self, set: Settings) -> "Model":
        """The same file with more overrides after this model's own (weights are not read again)."""
        return Model(self._native.with_settings(_settings(set)))

    def run(
        self,
        x: Union[np.ndarray, Mapping[str, np.ndarray]],
        seed: int = 0,
        trial: int = 0,
        threads: Optional[int] = None,
        backend: str = "jit",
        kernels: str = "native",
    ) -> Dict[str, np.ndarray]:
        """The outputs for input ``x`` on simulated chip ``trial`` (``analogc run``).

        ``x`` is a uint8 or float32 array (the input's dtype) of one sample or
        a batch along the first axis (axes of length 1 aside), or a dict of
        input name → array for a model with several inputs. Returns output name
        → float32 array, batch first. A wrong dtype or shape raises ValueError.
        """
        if isinstance(x, Mapping):
            given = [(str(name), np.asarray(a)) for name, a in x.items()]
        else:
            given = [(None, np.asarray(x))]
        outputs = self._native.run(given, seed, trial, threads, backend, kernels)
        return dict(outputs)

    def eval(
        self,
        data: Optional[Path] = None,
        trials: int = 5,
        limit: Optional[int] = None,
        seed: int = 0,
        threads: Optional[int] = None,
        batch: int = 64,
        backend: str = "jit",
        kernels: str = "native",
    ) -> EvalResult:
        """Accuracy on a labelled test set, clean and over ``trials`` simulated
        chips (``analogc eval``). ``data``: a folder or a name (``"mnist"``);
        default, the model's own. ``limit``: only the first N samples."""
        data = None if data is None else str(data)
        text_json, text = self._native.eval(data, trials, limit, seed, threads, batch, backend, kernels)
        return EvalResult(json.loads(text_json), text)

    def sweep(
        self,
        sites: str = "mac",
        kind: str = "additive",
        ratio: float = 0.5,
        sigma: Union[str, Sequence[float]] = "1e-3..1e1:25",
        global_: bool = False,
        sweep: Optional[str] = None,
        trials: int = 5,
        limit: Optional[int] = None,
        data: Optional[Path] = None,
        shard: Optional[str] = None,
        out: Optional[Path] = None,
        seed: int = 0,
        threads: Optional[int] = None,
        backend: str = "jit",
        kernels: str = "native",
    ) -> SweepResult:
        """Walking Noise (``analogc sweep``): accuracy against the noise level,
        noise on one site at a time.

        ``sites``: ``"mac"`` or ``"all"``; ``kind``: ``"additive"``,
        ``"multiplicative"`` or ``"mixed"`` (additive share ``ratio``);
        ``sigma``: ``"A..B:N"`` (N log-spaced points) or a list of levels;
        ``global_``: one more site with every site noisy; ``sweep``: sweep an
        annotation instead, ``"fc2.format.gain=1,2,4,8"``; ``shard``: ``"i/n"``;
        ``out``: a folder that gets sweep.csv, sweep.json, sweep.svg and sweep.png.
        """
        if not isinstance(sigma, str):
            sigma = ",".join(str(s) for s in sigma)
        text_json, table = self._native.sweep(
            sites,
            kind,
            ratio,
            sigma,
            global_,
            sweep,
            trials,
            limit,
            None if data is None else str(data),
            shard,
            None if out is None else str(out),
            seed,
            threads,
            backend,
            kernels,
        )
        return SweepResult(json.loads(text_json), table)

    def analyze(
        self,
        calibrate: Union[bool, Path] = False,
        limit: Optional[int] = None,
        calibrate_limit: int = 1000,
        trials: int = 1,
        sweep_dir: Optional[Path] = None,
        seed: int = 0,
        threads: Optional[int] = None,
        backend: str = "jit",
        kernels: str = "native",
    ) -> Result:
        """A report per layer (``analogc analyze``): cost, ABFP bit budgets,
        multiplier error metrics. With ``calibrate`` (``True`` for the model's
        own data, or a dataset's folder or name), also activation ranges, ADC
        clipping, data-weighted multiplier errors, the AME and where a denoise
        block helps, on the first ``limit`` samples (traced on the first
        ``calibrate_limit``); ``sweep_dir`` ranks layers by a sweep's midpoints."""
        if calibrate is False or calibrate is None:
            data = None
        else:
            data = "" if calibrate is True else str(calibrate)
        text_json, text = self._native.analyze(
            data,
            limit,
            calibrate_limit,
            trials,
            None if sweep_dir is None else str(sweep_dir),
            seed,
            threads,
            backend,
            kernels,
        )
        return Result(json.loads(text_json), text)

    def train(self, **options: Any) -> Result:
        """Trains this model's file with its overrides: :func:`train`'s keyword arguments."""
        return train(self.file, set=self.settings, weights=self.weights, **options)

    def denoise(self, **options: Any) -> Result:
        """Places denoise blocks in this model's file, with its weights:
        :func:`denoise`'s keyword arguments. A model loaded with ``set``
        overrides raises ValueError: the written model could not carry them."""
        if self.settings:
            raise ValueError(
                "denoise writes the model file's own text with the blocks inserted, which would drop "
                f"the overrides {self.settings}: load the model without `set`, or write them into the file"
            )
        return denoise(self.file, weights=self.weights, **options)

    def __repr__(self) -> str:
        return f"<analogc.Model {self.name} from {self.file}>"
