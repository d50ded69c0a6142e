"""One grading, run by the runner in a thread of its own, handed to pytest piece by piece.

pytest runs its items one after another in the main thread; the grading is one trio run
(`grade()`, the same runner and deadlines as `grade DIR`) in a background thread. The
two meet here, through a lock and a condition:

- each check's result, as the runner reports it (`Progress.check_finished`), waits in
  `results` for its pytest item (`result()` blocks until it is there);
- once the plan's checks are done, the runner calls `_serve` (its `afterwards`): the pod
  and the student's server stay up, and the instructor's async tests are sent into that
  trio run (`run_in_pod`), one at a time, under the grading's own cancel scope;
- `finish()` lets the runner tear the pod down and returns the report; `cancel()` (Ctrl-C,
  `-x`) cancels the run, which tears the pod down on its way out, as it does for `grade`.

A trio object (the probe's session, the pod's programs) belongs to the trio run that made
it, so the instructor's tests cannot run in another one (pytest-trio's, per test): they run
in this one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio

from ..grading.context import CheckContext
from ..grading.runner import grade
from ..loading.assignment import Assignment
from ..loading.submission import Submission
from ..pod.base import Backend
from ..results import BuildResult, CheckResult, GradeReport

# How long the main thread waits for the pod's teardown after finish() or cancel(): the
# runner's own teardown deadlines (the server's stop, the pod's removal) are shorter.
TEARDOWN_WAIT = 120.0
WAIT_STEP = 0.2  # waits in the main thread wake this often, so Ctrl-C is seen at once


class GradingStopped(Exception):
    """The grading ended (or was stopped) before it produced what was asked for."""


@dataclasses.dataclass
class _Job:
    function: Callable[[], Awaitable[Any]]
    result: outcome.Outcome | None = None


class BackgroundGrading:
    """`grade(submission, assignment, backend)` in a thread; see the module's docstring."""

    def __init__(self, submission: Submission, assignment: Assignment,
                 backend: Backend) -> None:
        self.submission = submission
        self.assignment = assignment
        self.backend = backend
        self.results: dict[str, CheckResult] = {}
        self.builds: list[BuildResult] = []
        self.report: GradeReport | None = None
        self.crash: BaseException | None = None  # what the run raised, if it did
        self.cancelled = False
        self._told = False  # an item said why the grading ended (the next ones refer to it)
        self._condition = threading.Condition()
        self._context: CheckContext | None = None
        self._ended = False
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._jobs: trio.MemorySendChannel[_Job] | None = None
        self._receive: trio.MemoryReceiveChannel[_Job] | None = None

    # --- the main thread's side ---------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the grading (once); returns when its trio run can be reached."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="socket-grader",
                                        daemon=True)
        self._thread.start()
        self._wait(lambda: self._token is not None or self._ended)

    def result(self, check_id: str) -> CheckResult:
        """The check's result, waiting for the runner to get there."""
        self.start()
        self._wait(lambda: check_id in self.results or self._ended)
        if check_id not in self.results:
            why = "as said above" if self._told else self.why_ended()
            self._told = True
            raise GradingStopped(f"the grading ended before {check_id}: {why}")
        return self.results[check_id]

    def context(self) -> CheckContext:
        """A fresh CheckContext in the pod, once the plan's checks are done."""
        self.start()
        self._wait(lambda: self._context is not None or self._ended)
        if self._context is None or self._ended:
            raise GradingStopped(f"no pod to run this test in: {self.why_ended()}")
        return dataclasses.replace(self._context)

    def run_in_pod(self, function: Callable[[], Awaitable[Any]]) -> Any:
        """Run `await function()` in the grading's trio run, while the pod is held for
        tests, under the assignment's check_timeout; return what it returned (or raise
        what it raised)."""
        self.context()  # the pod is held for tests from here on
        job = _Job(function)
        try:
            trio.from_thread.run_sync(self._send, job, trio_token=self._token)
        except (trio.RunFinishedError, trio.ClosedResourceError):
            raise GradingStopped(f"no pod to run this test in: {self.why_ended()}") from None
        self._wait(lambda: job.result is not None or self._ended)
        if job.result is None:
            raise GradingStopped(f"the test could not end in the pod: {self.why_ended()}")
        return job.result.unwrap()

    def finish(self) -> GradeReport | None:
        """Let the runner finish (its own deadlines bound it) and tear the pod down; wait
        for that and return the report. Ctrl-C meanwhile cancels it, waits for the
        teardown, and is raised again."""
        if self._thread is None:
            return None
        self._call_soon(self._close_jobs)
        self._join(None)
        return self.report

    def cancel(self) -> None:
        """Stop the grading now (the running check is interrupted) and wait until its
        pod is torn down."""
        if self._thread is None or not self._thread.is_alive():
            return
        self.cancelled = True
        self._call_soon(self._cancel_scope)
        self._join(TEARDOWN_WAIT)

    def why_ended(self) -> str:
        if self.cancelled:
            return "it was stopped"
        if self.crash is not None:
            crash = self.crash  # trio's nurseries wrap what their tasks raised in groups
            while isinstance(crash, BaseExceptionGroup) and len(crash.exceptions) == 1:
                crash = crash.exceptions[0]
            return f"{type(crash).__name__}: {crash}"
        return "it has ended"

    def _call_soon(self, function: Callable[[], None]) -> None:
        if self._token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):  # it has ended already
            self._token.run_sync_soon(function)

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Wait for `ready()`, waking often so a Ctrl-C in the main thread is seen."""
        with self._condition:
            while not ready():
                self._condition.wait(WAIT_STEP)

    def _join(self, limit: float | None) -> None:
        """Wait for the thread's end (at most `limit` seconds). Ctrl-C cancels the
        grading, and is raised again once its pod is torn down (a second one does not
        abandon the teardown)."""
        assert self._thread is not None
        interrupted = False
        waited = 0.0
        while self._thread.is_alive() and (limit is None or waited < limit):
            try:
                self._thread.join(WAIT_STEP)
            except KeyboardInterrupt:
                interrupted = self.cancelled = True
                self._call_soon(self._cancel_scope)
                limit, waited = TEARDOWN_WAIT, 0.0
            waited += WAIT_STEP
        if interrupted:
            raise KeyboardInterrupt

    # --- the grading thread's side ------------------------------------------------------

    def _run(self) -> None:
        try:
            self.report = trio.run(self._main)
        except BaseException as exc:  # reported by the items and the summary
            self.crash = exc
        finally:
            with self._condition:
                self._ended = True
                self._condition.notify_all()

    async def _main(self) -> GradeReport | None:
        self._jobs, self._receive = trio.open_memory_channel(math.inf)
        with trio.CancelScope() as scope:
            self._scope = scope
            with self._condition:
                self._token = trio.lowlevel.current_trio_token()
                self._condition.notify_all()
            return await grade(self.submission, self.assignment, self.backend, self,
                               afterwards=self._serve)
        return None  # cancelled

    def _cancel_scope(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    def _send(self, job: _Job) -> None:
        assert self._jobs is not None
        self._jobs.send_nowait(job)

    def _close_jobs(self) -> None:
        if self._jobs is not None:
            self._jobs.close()

    # Progress: called by the runner, in the grading thread.
    def build_finished(self, build: BuildResult) -> None:
        self.builds.append(build)

    def check_finished(self, result: CheckResult) -> None:
        with self._condition:
            self.results[result.id] = result
            self._condition.notify_all()

    async def _serve(self, context: CheckContext) -> None:
        """The runner's `afterwards`: hold the pod for the instructor's tests, running
        each one sent, until finish() closes the channel."""
        assert self._receive is not None
        with self._condition:
            self._context = context
            self._condition.notify_all()
        async with self._receive:
            async for job in self._receive:
                result = await self._run_job(job)
                with self._condition:
                    job.result = result
                    self._condition.notify_all()

    async def _run_job(self, job: _Job) -> outcome.Outcome:
        limit = self.assignment.limits.check_timeout
        try:
            with trio.fail_after(limit):
                return outcome.Value(await job.function())
        except trio.TooSlowError:
            return outcome.Error(TimeoutError(
                f"the test did not end within {limit:g} s (the assignment's "
                "check_timeout) and was stopped"))
        except (trio.Cancelled, KeyboardInterrupt, SystemExit):
            raise  # the grading is being stopped: _wait() sees it end
        except BaseException as exc:  # pytest's skip and fail are BaseExceptions
            return outcome.Error(exc)
