"""Errors the grader reports to its user, as opposed to verdicts on the student's code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


class GraderError(Exception):
    """Something the user can fix: bad input, a missing file, an unreachable backend.

    The command line prints the message on one line and exits with status 2.
    """


class InputError(GraderError):
    """A file the user gave us is missing or malformed; the message names file and key."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{path}: {message}")


class BackendUnavailable(GraderError):
    """The chosen sandbox backend cannot run here (no daemon, missing image, ...)."""


def exception_leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions a (possibly nested) exception group holds, or `exc` itself: trio's
    nurseries wrap what their tasks raise."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from exception_leaves(inner)
    else:
        yield exc
