"""Grading: build the submission in a pod, run the checks in order, collect the results.

The runner, not the checks, handles dependencies (a check whose parent did not pass is
skipped, naming it), build failures, deadlines and grader bugs (any exception a check
raises is an `error`, with its traceback kept apart: it never costs the student points
silently, and it is never reported as the student's failure).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from ..checks.base import Failure, Outcome
from ..errors import exception_leaves
from ..inert import inert, inert_data
from ..loading.assignment import Assignment, PlannedCheck
from ..loading.submission import Submission
from ..pod.base import Backend, Pod, describe_status
from ..protocols.base import Protocol as WireProtocol
from ..results import BuildResult, CheckResult, GradeReport, Status
from .context import CheckContext, StudentServer

PASSING = (Status.PASS, Status.PARTIAL)


class Progress(Protocol):
    """Told as each step ends, e.g. to print live; never changes the run."""

    def build_finished(self, build: BuildResult) -> None: ...

    def check_finished(self, result: CheckResult) -> None: ...


class _Silent:
    def build_finished(self, build: BuildResult) -> None:
        pass

    def check_finished(self, result: CheckResult) -> None:
        pass


async def grade(submission: Submission, assignment: Assignment, backend: Backend,
                progress: Progress | None = None, *,
                afterwards: Callable[[CheckContext], Awaitable[None]] | None = None,
                ) -> GradeReport:
    """Grade one submission on `backend` and return the report.

    `afterwards`, when given, is awaited once the plan's checks are done, in the same
    pod with the student's server as the checks left it, before the pod is torn down:
    the pytest plugin runs an instructor's own tests there. It gets a CheckContext
    (no parameters; `carried` holds what every check of the plan carried) and changes
    nothing in the report."""
    progress = progress or _Silent()
    started = time.monotonic()
    phases: dict[str, float] = {}
    async with backend.open_pod(str(submission.path), assignment.name) as pod:
        phases["pod_start"] = time.monotonic() - started
        protocol = assignment.protocol()
        await protocol.prepare(pod)
        builds = []
        for role, command in submission.builds:
            build = await pod.build(role, command, assignment.limits.build_timeout)
            build = dataclasses.replace(build, command=inert(build.command),
                                        output=inert(build.output))
            builds.append(build)
            progress.build_finished(build)
        server = StudentServer(pod, submission.program("server").run
                               if "server" in submission.programs else "",
                               await pod.server_port(), assignment.limits,
                               protocol.placeholders)
        phases["build"] = sum(b.duration for b in builds)
        try:
            results, carried = await _run_checks(pod, server, submission, assignment,
                                                 protocol, builds, progress)
            if afterwards is not None:
                await afterwards(CheckContext(pod, server, submission, {}, assignment.limits,
                                              protocol, carried))
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await server.stop()
        phases["checks"] = sum(r.duration for r in results)
        teardown_started = time.monotonic()
    phases["teardown"] = time.monotonic() - teardown_started
    return GradeReport(assignment.name, inert(str(submission.path)), pod.backend,
                       tuple(results), tuple(builds), time.monotonic() - started,
                       (*(() if pod.sandboxed else (_NOT_SANDBOXED,)),
                        *(inert(note) for note in (*pod.notes, *server.notes))),
                       {name: round(seconds, 3) for name, seconds in phases.items()},
                       assignment.concepts)


_NOT_SANDBOXED = ("local backend: your programs ran as plain processes on this machine, "
                  "not sandboxed (use --backend docker for code you did not write)")


async def _run_checks(pod: Pod, server: StudentServer, submission: Submission,
                      assignment: Assignment, protocol: WireProtocol, builds: list[BuildResult],
                      progress: Progress) -> tuple[list[CheckResult], dict[str, Any]]:
    failed_builds = {b.command: b for b in builds if not b.ok}
    results: dict[str, CheckResult] = {}
    carried: dict[str, Any] = {}
    deaths = _Deaths()
    for planned in assignment.checks:
        check = planned.check
        started = time.monotonic()
        grader_traceback = ""
        broken_build = next((failed_builds[spec.build] for role in check.needs
                             if (spec := submission.program(role)).build in failed_builds),
                            None)
        blocked = [p for p in check.depends_on if results[p].status not in PASSING]
        blocked += [u for u in check.uses if carried.get(u) is None]
        if broken_build is not None:
            outcome = Outcome(Status.FAIL, f"not run: your {broken_build.role} did not build "
                              f"(`{broken_build.command}` "
                              f"{_build_end(broken_build, assignment.limits.build_timeout)})",
                              hint="Fix the build first: its output is shown above.")
        elif blocked:
            outcome = _blocked(check.depends_on, results[blocked[0]])
        else:
            if "server" not in check.needs and server.running:
                # Roles apart: no program of the student's runs during a check about
                # another one (a server could otherwise do a client's networking for it).
                await server.stop()
            context = CheckContext(pod, server, submission, planned.params, assignment.limits,
                                   protocol, {p: carried.get(p) for p in check.prerequisites})
            server.ran_when_clients_left = None
            outcome, grader_traceback = await _run_one(planned, context, assignment)
            if "server" in check.needs:
                outcome = await deaths.judged(check.id, outcome, server)
        result = _result(planned, outcome, time.monotonic() - started, grader_traceback)
        carried[check.id] = outcome.carry
        results[check.id] = result
        progress.check_finished(result)
    return list(results.values()), carried


LEAVING_HINT = ("A server must outlive each of its clients: when a client leaves (recv() "
                "returns 0, or fails with ECONNRESET or EPIPE), close that connection and "
                "keep serving the others; one client's error must never end the process.")


class _Deaths:
    """The student's server dying by itself during a check, or after it as our clients
    left, seen once the check is done: said in that check, and charged there (a fail, no
    points) the first time our clients were about; a server that dies again with a later
    check's clients is named there without a second charge, as is a death with none of
    our clients about (after server-starts, say). The next check that uses the server
    says it was started again."""

    def __init__(self) -> None:
        self.charged_in = ""  # the check the death was charged in
        self.restarted_after = ""  # the check after which the server was found dead

    async def judged(self, check_id: str, outcome: Outcome, server: StudentServer) -> Outcome:
        if self.restarted_after:
            outcome = dataclasses.replace(outcome, details=(
                f"Your server had died in {self.restarted_after} (see there); we started it "
                "again for this check.", *outcome.details))
            self.restarted_after = ""
        end = await server.settle_after_clients()
        if end is None or outcome.status is Status.ERROR:
            return outcome
        self.restarted_after = check_id
        with_clients = server.ran_when_clients_left is not None
        when = (f"when the clients of {check_id} closed their connections"
                if server.ran_when_clients_left else f"during {check_id}")
        said = f"your server died {when}: it {end.headline}"
        quoted = [line for line in end.lines if line.strip() not in end.headline]
        printed = "".join(f"\n    {line}" for line in quoted)
        printed = f" It printed:{printed}" if printed else ""
        if self.charged_in or not with_clients:
            charged = (f" (Charged once, in {self.charged_in}.)" if self.charged_in else "")
            return dataclasses.replace(outcome, details=(
                *outcome.details, f"Y{said[1:]}.{charged}{printed}"))
        self.charged_in = check_id
        return dataclasses.replace(
            outcome, status=Status.FAIL, fraction=0.0, summary=said,
            # The summary says it already; a detail only for what the server printed.
            details=(*([printed.strip()] if printed else []),
                     f"Before that, this check found: {outcome.summary}", *outcome.details),
            hint=" ".join(filter(None, (LEAVING_HINT, end.hint))))


def _blocked(depends_on: tuple[str, ...], parent: CheckResult) -> Outcome:
    """A check not run because `parent` did not pass or left nothing to read: skipped,
    unless the grader could not run the parent (then neither is the student's loss)."""
    if parent.status is Status.ERROR:
        return Outcome(Status.ERROR, f"not run: needs {parent.id}, which the grader could "
                       "not run")
    why = "did not pass" if parent.id in depends_on else "gathered no evidence"
    return Outcome(Status.SKIPPED, f"skipped: needs {parent.id}, which {why} ({parent.status})")


async def _run_one(planned: PlannedCheck, context: CheckContext,
                   assignment: Assignment) -> tuple[Outcome, str]:
    limit = assignment.limits.check_timeout
    try:
        with trio.fail_after(limit):
            return await planned.check.run(context), ""
    except Failure as failure:
        return failure.outcome, ""
    except trio.TooSlowError:
        return Outcome(Status.ERROR, f"the grader gave up on this check after {limit:.0f} s "
                       "(its own steps should have ended sooner: a grader problem)"), ""
    except Exception as exc:  # a grader bug or a probe failure: never the student's fault
        failures = _only_failures(exc)
        if failures:  # raised in a nursery: the check's failure all the same
            return _combined(failures), ""
        cause = _first_other(exc)
        return (Outcome(Status.ERROR, f"the grader could not run this check: "
                        f"{type(cause).__name__}: "
                        f"{str(cause).splitlines()[0] if str(cause) else ''}"),
                traceback.format_exc())


def _only_failures(exc: BaseException) -> list[Failure]:
    """The Failures of an exception group holding nothing else; [] otherwise (a group
    with anything else in it is a grader problem, whatever Failures it also holds)."""
    if not isinstance(exc, BaseExceptionGroup):
        return []
    leaves = list(exception_leaves(exc))
    return [leaf for leaf in leaves if isinstance(leaf, Failure)] \
        if all(isinstance(leaf, Failure) for leaf in leaves) else []


def _first_other(exc: BaseException) -> BaseException:
    """What a grader error is named after: for a group, its first exception that is not a
    Failure (the group's own name says nothing)."""
    return next((leaf for leaf in exception_leaves(exc) if not isinstance(leaf, Failure)), exc)


def _combined(failures: list[Failure]) -> Outcome:
    """One outcome for Failures raised at once (one per connection, say): the first, with
    the other distinct summaries among its details."""
    first = failures[0].outcome
    others = list(dict.fromkeys(f.outcome.summary for f in failures[1:]
                                if f.outcome.summary != first.summary))
    if not others:
        return first
    return dataclasses.replace(first, details=(*first.details,
                                               *(f"also: {summary}" for summary in others)))


def _build_end(build: BuildResult, limit: float) -> str:
    if build.exit_code is None:
        return f"did not finish within {limit:.0f} s and was stopped"
    return describe_status(build.exit_code)


def _result(planned: PlannedCheck, outcome: Outcome, duration: float,
            grader_traceback: str) -> CheckResult:
    """The check's result, its text made inert: it quotes what the student's programs
    printed, and every report format shows it."""
    check = planned.check
    return CheckResult(
        id=check.id, title=check.title, status=outcome.status,
        points=round(planned.points * outcome.fraction, 2), max_points=planned.points,
        concepts=check.concepts, summary=inert(outcome.summary),
        evidence=inert_data(dict(outcome.evidence)),
        details=tuple(inert(line) for line in outcome.details), hint=inert(outcome.hint),
        duration=round(duration, 3), grader_traceback=grader_traceback,
        visibility=planned.visibility)
