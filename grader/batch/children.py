"""The environment of a Dask grading worker a batch starts: this grader importable by it
wherever the batch was started from, installed or not. (The batch's other Python
processes run isolated and are told where to import from: see grader.isolated_python.)"""

from __future__ import annotations

import os
from pathlib import Path

GRADER_ROOT = Path(__file__).resolve().parents[2]


def grader_environment(**extra: str) -> dict[str, str]:
    """This process's environment, with `extra` under it and the grader's folder first on
    PYTHONPATH."""
    return {**extra, **os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(GRADER_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
