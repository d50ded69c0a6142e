"""Fixtures for an instructor's own tests, and how an async one runs in the pod.

    async def test_ping_gets_pong(check_context):
        await require_server(check_context)
        async with check_context.connections(1, sources=["127.0.0.1"], timeout=5) as group:
            [reply] = await group.exchange([b"PING\\n"], until=b"\\n", timeout=5)
        assert reply.data == b"PONG\\n"

An `async def` test that asks for any of these fixtures runs inside the grading's own trio
run, in its pod, after the plan's checks (a trio object belongs to the run that made it:
the pod cannot be handed to another event loop, pytest-trio's included). Such a test may
raise `grader.api.Failure` or return an Outcome (`failed(...)`): it then fails with the
student's feedback as its text, as a check would. Sync fixtures of its own (conftest.py)
work as usual; async fixtures do not (put async setup in the test, e.g. `async with`).
Without `pytest --grade DIR`, a test asking for one of these is skipped.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pytest

from ..checks.base import Failure, Outcome
from ..results import Status

if TYPE_CHECKING:
    from ..grading.context import CheckContext
    from ..loading.submission import Submission
    from ..pod.base import Pod
    from ..pod.probe_session import ProbeSession
    from ..results import CheckResult
    from .background import BackgroundGrading

GRADING = pytest.StashKey["BackgroundGrading"]()
# A test asking for one of these is a test of the submission: async, it runs in the pod.
FIXTURES = frozenset({"check_context", "pod", "probe", "submission", "check_results"})


def grading_of(config: pytest.Config) -> BackgroundGrading:
    grading = config.stash.get(GRADING, None)
    if grading is None:
        pytest.skip("needs a submission to grade: run pytest --grade DIR")
    return grading


def _held(grading: BackgroundGrading) -> CheckContext:
    from .background import GradingStopped

    try:
        return grading.context()
    except GradingStopped as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def check_context(request: pytest.FixtureRequest) -> CheckContext:
    """The grading's CheckContext, as a check gets it: the pod and its probe, the
    student's server, the submission, `connections()`, `record()`, the protocol, and
    (`carried`) what each check of the plan carried. Waits for the plan's checks."""
    return _held(grading_of(request.config))


@pytest.fixture
def pod(check_context: CheckContext) -> Pod:
    """The running pod (`grader.api` documents what a check may do with it)."""
    return check_context.pod


@pytest.fixture
def probe(check_context: CheckContext) -> ProbeSession:
    """The pod's probe: `await probe.call(grader.api.probe.Hello())`, any operation."""
    return check_context.probe


@pytest.fixture
def submission(request: pytest.FixtureRequest) -> Submission:
    """The submission being graded: its folder and how each role is built and run."""
    return grading_of(request.config).submission


@pytest.fixture
def check_results(request: pytest.FixtureRequest) -> Mapping[str, CheckResult]:
    """Each check of the plan's result, by id (once they are all done)."""
    grading = grading_of(request.config)
    _held(grading)
    return MappingProxyType(dict(grading.results))


def runs_in_pod(item: pytest.Item) -> bool:
    return (isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj)
            and bool(FIXTURES & set(item.fixturenames)))


def call_in_pod(item: pytest.Function) -> None:
    """Run an async test in the grading's trio run; map a Failure or an Outcome."""
    grading = grading_of(item.config)
    arguments = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    try:
        returned = grading.run_in_pod(functools.partial(item.obj, **arguments))
    except Failure as failure:
        returned = failure.outcome
    if isinstance(returned, Outcome):
        _report(returned)


def _report(outcome: Outcome) -> None:
    if outcome.status in (Status.FAIL, Status.PARTIAL, Status.ERROR):
        pytest.fail(outcome_text(outcome), pytrace=False)
    if outcome.status is Status.INCONCLUSIVE:
        pytest.skip(f"inconclusive: {outcome.summary}")
    if outcome.status is Status.SKIPPED:
        pytest.skip(outcome.summary)


def outcome_text(outcome: Outcome) -> str:
    parts = [f"{outcome.status.upper()}: {outcome.summary}"]
    if outcome.details:
        parts.append("\n".join(outcome.details))
    if outcome.hint:
        parts.append(f"Next step: {outcome.hint}")
    if outcome.evidence:
        parts.append("Evidence:\n" + json.dumps(dict(outcome.evidence), indent=2,
                                                sort_keys=True, default=str))
    return "\n\n".join(parts)


__all__: list[Any] = ["check_context", "check_results", "pod", "probe", "submission"]
