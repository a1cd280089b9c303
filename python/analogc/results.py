"""What the commands return: the JSON the command line prints with ``--json``,
as dicts, with the command line's text as ``str()``."""

from typing import Any, Dict, List, Optional


class Result:
    """A result: ``to_dict()`` is the command's ``--json`` object (timings
    aside where noted); ``str(result)`` is what the command prints."""

    def __init__(self, data: Dict[str, Any], text: str) -> None:
        self._data = data
        self._text = text

    def to_dict(self) -> Dict[str, Any]:
        """The fields and values of the command's ``--json`` output."""
        return dict(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._data.get('model', '?')}>"


class EvalResult(Result):
    """Accuracy on a dataset, clean and over Monte-Carlo trials (``analogc eval --json``)."""

    @property
    def clean_accuracy(self) -> float:
        return self._data["clean_accuracy"]

    @property
    def accuracy(self) -> Dict[str, Any]:
        """Over the trials: ``mean``, ``std``, ``ci95``, ``min``, ``max``."""
        return self._data["accuracy"]

    @property
    def trials(self) -> List[Dict[str, Any]]:
        return self._data["trials"]


class SweepResult(Result):
    """Accuracy against a noise level or setting, per site (``analogc sweep --json``
    without ``seconds``)."""

    @property
    def points(self) -> List[Dict[str, Any]]:
        return self._data["points"]

    @property
    def sites(self) -> List[str]:
        return self._data["sites"]

    def to_pandas(self) -> Any:
        """One row per grid point and site: ``site``, ``value``, ``value_text``,
        ``seed``, ``mean``, ``std``, and more of the point's accuracy; needs pandas."""
        import pandas

        return pandas.DataFrame(_rows(self.points))


def _rows(points: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = []
    for p in points:
        row: Dict[str, Any] = {k: v for k, v in p.items() if not isinstance(v, (dict, list))}
        accuracy: Optional[Dict[str, Any]] = p.get("accuracy") if isinstance(p.get("accuracy"), dict) else None
        if accuracy:
            row.update({k: v for k, v in accuracy.items() if not isinstance(v, (dict, list))})
        rows.append(row)
    return rows
