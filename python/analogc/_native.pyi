"""The compiled half of the package; use the wrappers in ``analogc``."""

from os import PathLike
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

class Model:
    name: str
    file: Path
    settings: List[str]
    weights: Optional[Path]
    inputs: List[Tuple[str, str, List[int]]]
    outputs: List[Tuple[str, List[int]]]
    def with_settings(self, extra: List[str]) -> "Model": ...
    def run(
        self,
        inputs: Sequence[Tuple[Optional[str], np.ndarray]],
        seed: int,
        trial: int,
        threads: Optional[int],
        backend: str,
        kernels: str,
    ) -> List[Tuple[str, np.ndarray]]: ...
    def eval(
        self,
        data: Optional[str],
        trials: int,
        limit: Optional[int],
        seed: int,
        threads: Optional[int],
        batch: int,
        backend: str,
        kernels: str,
    ) -> Tuple[str, str]: ...
    def sweep(
        self,
        sites: str,
        kind: str,
        ratio: float,
        sigma: str,
        global_: bool,
        sweep: Optional[str],
        trials: int,
        limit: Optional[int],
        data: Optional[str],
        shard: Optional[str],
        out: Optional[str],
        seed: int,
        threads: Optional[int],
        backend: str,
        kernels: str,
    ) -> Tuple[str, str]: ...
    def analyze(
        self,
        calibrate: Optional[str],
        limit: Optional[int],
        calibrate_limit: int,
        trials: int,
        sweep_dir: Optional[str],
        seed: int,
        threads: Optional[int],
        backend: str,
        kernels: str,
    ) -> Tuple[str, str]: ...

def load(path: Union[str, PathLike], settings: List[str], weights: Optional[str]) -> Model: ...
def import_onnx(
    file: Union[str, PathLike],
    out: Union[str, PathLike],
    name: Optional[str],
    input_dtype: str,
    scale: Optional[float],
    normalize: Optional[Tuple[float, float]],
) -> Tuple[Path, Optional[Path], int, str]: ...
def train(
    file: Union[str, PathLike],
    settings: List[str],
    weights: Optional[str],
    data: Optional[str],
    epochs: int,
    batch: int,
    lr: Optional[float],
    optimizer: str,
    momentum: Optional[float],
    nesterov: bool,
    weight_decay: Optional[float],
    schedule: str,
    step_every: Optional[int],
    step_factor: Optional[float],
    clip: Optional[float],
    init: Optional[str],
    train: List[str],
    freeze: List[str],
    ordered_grad: str,
    chip: str,
    dnf: bool,
    dnf_refresh: Optional[int],
    val: int,
    limit: Optional[int],
    out: Optional[str],
    seed: int,
    threads: Optional[int],
    backend: str,
    kernels: str,
    on_epoch: Optional[Callable[[str], Any]],
) -> Tuple[str, str]: ...
def denoise(
    file: Union[str, PathLike],
    weights: Optional[str],
    budget: str,
    place: str,
    hidden: Optional[int],
    data: Optional[str],
    limit: int,
    seed: int,
    threads: Optional[int],
    out: Optional[str],
) -> Tuple[str, str]: ...
