"""The environment of the Python processes a batch starts of its own (a student's
grading worker, the similarity job, a Dask grading worker): this grader importable by
them wherever the batch was started from, installed or not."""

from __future__ import annotations

import os
from pathlib import Path

GRADER_ROOT = Path(__file__).resolve().parents[2]


def grader_environment(**extra: str) -> dict[str, str]:
    """This process's environment, with `extra` under it and the grader's folder first on
    PYTHONPATH."""
    return {**extra, **os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(GRADER_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
