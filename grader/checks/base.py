"""How a check is written: a small decorated async function.

    @check("server-one-port", title="Only one listening port", concepts=("Q1",),
           uses=("server-concurrency",), needs=("server",))
    async def server_one_port(ctx: CheckContext) -> Outcome:
        \"\"\"The server keeps one listening port while it serves many clients.\"\"\"
        ...
        return passed("1 listening port before, during and after the load", evidence=...)

The decorator records what the runner needs; the docstring is what a student reads.
`depends_on` names checks that must pass (fully or in part) first; `uses` names checks
whose evidence this one reads (their `carry`), whatever their verdict.

A check returns an Outcome for the student's code, or raises Failure (from anywhere
below it) to fail the student's code on purpose. Any other exception means the grader
broke: the runner records that as an `error`, never as the student's failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..results import Status

if TYPE_CHECKING:
    from ..grading.context import CheckContext


@dataclass(frozen=True)
class Outcome:
    status: Status
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    details: tuple[str, ...] = ()
    hint: str = ""
    fraction: float = 0.0  # share of the check's points earned
    carry: Any = None  # handed to the checks that depend on this one, never reported


def passed(summary: str, *, evidence: Mapping[str, Any] | None = None,
           details: tuple[str, ...] = (), carry: Any = None) -> Outcome:
    return Outcome(Status.PASS, summary, evidence or {}, details, "", 1.0, carry)


def failed(summary: str, *, hint: str, evidence: Mapping[str, Any] | None = None,
           details: tuple[str, ...] = (), carry: Any = None) -> Outcome:
    return Outcome(Status.FAIL, summary, evidence or {}, details, hint, 0.0, carry)


def scored(fraction: float, summary: str, *, hint: str,
           evidence: Mapping[str, Any] | None = None, details: tuple[str, ...] = (),
           carry: Any = None) -> Outcome:
    """Credit in proportion: pass at 1, fail at 0, partial in between."""
    fraction = min(1.0, max(0.0, fraction))
    status = Status.PASS if fraction == 1.0 else Status.FAIL if fraction == 0.0 else Status.PARTIAL
    return Outcome(status, summary, evidence or {}, details,
                   "" if status is Status.PASS else hint, fraction, carry)


def inconclusive(summary: str, *, evidence: Mapping[str, Any] | None = None,
                 details: tuple[str, ...] = ()) -> Outcome:
    """The evidence a verdict needs was missing: neither pass nor fail."""
    return Outcome(Status.INCONCLUSIVE, summary, evidence or {}, details, "", 0.0)


class Failure(Exception):
    """The student's code failed the check: raised on purpose, carrying what the student
    reads. Never confused with a grader bug."""

    def __init__(self, summary: str, *, hint: str,
                 evidence: Mapping[str, Any] | None = None, details: tuple[str, ...] = ()):
        super().__init__(summary)
        self.outcome = failed(summary, hint=hint, evidence=evidence, details=details)


CheckFunction = Callable[["CheckContext"], Awaitable[Outcome]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    description: str
    concepts: tuple[str, ...]
    depends_on: tuple[str, ...]  # must pass (fully or in part) before this one runs
    needs: tuple[str, ...]  # which student programs it runs: "server", "client"
    params: Mapping[str, Any]  # defaults; an assignment may override each
    run: CheckFunction
    uses: tuple[str, ...] = ()  # whose evidence it reads, whatever their verdict

    @property
    def prerequisites(self) -> tuple[str, ...]:
        return (*self.depends_on, *(u for u in self.uses if u not in self.depends_on))


def check(check_id: str, *, title: str, concepts: tuple[str, ...] = (),
          depends_on: tuple[str, ...] = (), uses: tuple[str, ...] = (),
          needs: tuple[str, ...] = ("server",),
          params: Mapping[str, Any] | None = None) -> Callable[[CheckFunction], Check]:
    def record(function: CheckFunction) -> Check:
        description = " ".join((function.__doc__ or title).split())
        return Check(check_id, title, description, concepts, depends_on, needs,
                     dict(params or {}), function, uses)

    return record
