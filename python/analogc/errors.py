"""The exception every diagnostic of analogc is raised as."""

import json
from typing import Any, Dict, List


class ModelError(Exception):
    """A model, its settings, its data or the options of a call are wrong.

    ``str(e)`` is the diagnostics rendered as the command line prints them;
    ``e.diagnostics`` is the same as data: one dict per diagnostic with
    ``code`` (``"E0601"``), ``severity``, ``message``, and where its primary
    label points, ``file``, ``line`` and ``column`` (1-based; ``None`` when it
    has no place in a file), and every label under ``labels``.
    """

    def __init__(self, text: str, json_lines: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.diagnostics: List[Dict[str, Any]] = [_diagnostic(line) for line in json_lines.splitlines() if line]

    def __str__(self) -> str:
        return self.text


def _diagnostic(line: str) -> Dict[str, Any]:
    d = json.loads(line)
    labels = d.get("labels", [])
    primary = next((label for label in labels if label.get("primary")), labels[0] if labels else None)
    return {
        "code": d["code"],
        "severity": d["severity"],
        "message": d["message"],
        "file": primary["file"] if primary else None,
        "line": primary["line"] if primary else None,
        "column": primary["column"] if primary else None,
        "notes": d.get("notes", []),
        "labels": labels,
    }
