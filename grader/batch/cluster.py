"""A batch on a Dask distributed cluster: `grade batch ... --cluster tls://HOST:8786
--certs DIR`.

`ClusterSite` is the batch's GradingSite when the gradings run on a cluster: each student
is one Dask task (grader.batch.cluster_worker.grade_task) that carries bytes, not paths
(grader.batch.payload), asks for one `pods` resource, and comes back as plain data. The
results folder on this machine stays the one source of truth: run_batch writes each
result there, atomically, as its task completes, and the task's future is released as
soon as its result is here, so the cluster holds no finished work (a lost worker's
finished tasks are not run again) and keeps no state the next run needs. A result is
written only when it is sealed with the results key (grader.batch.cluster_security): one
that is not is the machine's fault, as below, never a grade.

Faults:
- A worker lost mid-grading (SIGKILL, its machine gone): Dask runs its tasks again on
  another worker. The grading's worker process on the lost machine sees its lifeline
  close and tears its pod down; what a power cut leaves is removed when a grading worker
  or `grade cleanup` runs there again.
- A machine that cannot grade (no container engine, the image missing, another grader
  version) or that does not answer within the per-student deadline plus MARGIN: the
  student is graded on another worker, and that worker gets no students of this batch
  for EXCLUDE_FOR seconds. When every worker has failed a student, its error names each
  machine and why (BackendUnavailable): the machines' trouble, never the student's.
- No worker at all: `open_cluster` waits JOIN_WAIT seconds for one, then refuses to
  start; mid-batch, students wait that long for a worker, then are recorded as errors
  that say so (`--retry-errors` grades them again), as are students that every
  connected worker failed.

distributed is imported only here and in cluster_worker's task, so `grade` needs Dask
only with `--cluster`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import trio

from ..errors import BackendUnavailable, GraderError
from ..loading.assignment import Assignment
from ..results import GradeReport
from .cluster_security import (
    check_address,
    client_security,
    is_tls,
    new_nonce,
    read_results_key,
    unseal,
)
from .cluster_worker import TOPIC, describe, grade_task, grader_version
from .discover import StudentEntry
from .payload import Job, pack_assignment, pack_submission, plan_overrides
from .records import StudentResult
from .run import ABORT_WAIT, BatchOptions, Graded, student_deadline

MARGIN = ABORT_WAIT + 20.0  # beyond the deadline: the worker's own teardown, the round trip
JOIN_WAIT = 30.0
ATTEMPTS = 4
EXCLUDE_FOR = 120.0
REFRESH = 2.0  # seconds between looks at the scheduler's list of workers
CALL_TIMEOUT = 60.0
UNSEALED = ("its result is not sealed with this batch's results key (a worker started "
            "without `grade worker --certs` of the coordinator's folder?), so it is not "
            "written")


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    name: str
    pods: float


class ClusterSite:
    """Gradings as tasks on the cluster of `client` (a distributed.Client)."""

    def __init__(self, client: Any, results_key: bytes, *, limit: int | None = None,
                 margin: float = MARGIN,
                 join_wait: float = JOIN_WAIT, attempts: int = ATTEMPTS,
                 version: str | None = None) -> None:
        self.client = client
        self.results_key = results_key
        self.limit = limit  # at most this many gradings at once (default: every pod)
        self.margin = margin
        self.join_wait = join_wait
        self.attempts = attempts
        self.version = version or grader_version()
        self._prefix = f"grade-{uuid.uuid4().hex[:8]}-"
        self._starts: dict[str, tuple[float, str, str]] = {}  # key -> (since, worker, name)
        self._excluded: dict[str, tuple[float, str]] = {}  # worker -> (until, why)
        self._workers: dict[str, WorkerInfo] = {}
        self._refreshed = float("-inf")
        self._refreshing = trio.Lock()
        self._lonely_since: float | None = None
        self._in_flight = 0
        self._freed = trio.Event()  # set when a grading ends
        self._bundle: tuple[Assignment, bytes, dict[str, dict[str, Any]]] | None = None
        client.subscribe_topic(TOPIC, self._on_start)

    # --- the cluster's workers --------------------------------------------------------

    def _on_start(self, event: tuple[float, dict[str, Any]]) -> None:
        """A task of ours started on a worker (called on the client's own thread)."""
        message = event[1]
        key = str(message.get("key", ""))
        if key.startswith(self._prefix) and key in self._starts:
            self._starts[key] = (time.monotonic(), str(message.get("worker", "")),
                                 str(message.get("name", "")))

    def workers(self) -> dict[str, WorkerInfo]:
        """Every worker the scheduler knows, with its `pods` (blocking)."""
        info = self.client.scheduler_info(n_workers=-1)
        return {address: WorkerInfo(str(w.get("name", address)),
                                    float((w.get("resources") or {}).get("pods", 0)))
                for address, w in info.get("workers", {}).items()}

    async def _known(self) -> dict[str, WorkerInfo]:
        async with self._refreshing:  # one look at a time, shared by every student
            if time.monotonic() - self._refreshed > REFRESH:
                self._workers = await trio.to_thread.run_sync(self.workers,
                                                              abandon_on_cancel=True)
                self._refreshed = time.monotonic()
        return self._workers

    async def _fit(self) -> dict[str, WorkerInfo]:
        """Workers with pods that have not failed this batch lately."""
        now = time.monotonic()
        return {a: w for a, w in (await self._known()).items()
                if w.pods > 0 and self._excluded.get(a, (0.0, ""))[0] <= now}

    def require_workers(self) -> None:
        """Wait up to join_wait for a worker with pods; GraderError if none comes."""
        deadline = time.monotonic() + self.join_wait
        while not any(w.pods > 0 for w in self.workers().values()):
            if time.monotonic() > deadline:
                address = self.client.scheduler.address
                raise GraderError(
                    f"no grading worker is connected to the scheduler at {address} (waited "
                    f"{self.join_wait:g} s): start one on each machine with `grade worker "
                    f"--scheduler {address} --certs DIR --pods N`")
            time.sleep(0.5)
        # The scheduler reads each task, so it must be able to import the grader too.
        try:
            self.client.submit(grader_version, key=f"{self._prefix}version",
                               pure=False).result(timeout=CALL_TIMEOUT)
        except Exception as exc:
            address = self.client.scheduler.address
            if "deserializ" in str(exc):
                raise GraderError(
                    f"the scheduler at {address} cannot read the batch's tasks: start it "
                    "where socket-grader is installed too (pip install "
                    "'socket-grader[cluster]', then `dask scheduler`)") from None
            raise GraderError(f"the cluster at {address} did not run a test task: "
                              f"{type(exc).__name__}: {exc}") from None

    # --- GradingSite ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def ready(self) -> AsyncIterator[None]:
        """Nothing to keep ready here: the cluster's workers start their own gradings."""
        yield

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A place on the cluster: never more tasks in flight than pods, so each one
        starts at once and its deadline counts from its start."""
        while True:
            fit = await self._fit()
            capacity = sum(w.pods for w in fit.values())
            if self.limit:
                capacity = min(capacity, self.limit)
            if self._in_flight < capacity or (not fit and self._in_flight == 0):
                break
            with trio.move_on_after(REFRESH):  # a new worker shows up within this
                await self._freed.wait()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._freed.set()
            self._freed = trio.Event()

    async def grade(self, entry: StudentEntry, assignment: Assignment,
                    options: BatchOptions, work: Path) -> Graded:
        bundle, overrides = await self._assignment(assignment)
        name, data, from_folder = await trio.to_thread.run_sync(
            pack_submission, entry, options.max_bytes)
        deadline = options.student_timeout or student_deadline(assignment)
        fields = dataclasses.asdict(Job(entry.student, name, data, from_folder, bundle,
                                        options.backend, options.image, deadline,
                                        options.max_bytes, options.max_files, overrides))
        faults: list[str] = []
        tried: set[str] = set()
        for _ in range(self.attempts):
            fit = await self._wait_for_workers()
            untried = {a: w for a, w in fit.items() if a not in tried}
            if not untried:
                break
            outcome = await self._run(fields, untried, deadline + self.margin)
            if "cancelled" in outcome:
                outcome["failed"] = "the task was cancelled on the worker"
            worker, who = outcome.get("worker", ""), outcome.get("name", "")
            if "machine" not in outcome and "failed" not in outcome:
                return Graded(_result(entry.student, outcome), where=who,
                              prepare_seconds=float(outcome.get("prepared", 0.0)))
            reason = outcome.get("machine") or outcome["failed"]
            faults.append(f"worker {who}: {reason}" if who else reason)
            if worker:
                tried.add(worker)
            if worker and "machine" in outcome:
                self._excluded[worker] = (time.monotonic() + EXCLUDE_FOR, faults[-1])
        others = [why for a, (until, why) in self._excluded.items()
                  if a not in tried and until > time.monotonic()]
        raise BackendUnavailable(
            "no grading worker could grade this submission (a fault of the machines, not "
            "of the submission): " + "; ".join(faults + others or [
                f"no grading worker was connected for {self.join_wait:g} s"]))

    async def _assignment(self, assignment: Assignment) -> tuple[bytes, dict[str, Any]]:
        if self._bundle is None or self._bundle[0] is not assignment:
            bundle = await trio.to_thread.run_sync(pack_assignment, assignment)
            overrides = await trio.to_thread.run_sync(plan_overrides, assignment)
            self._bundle = (assignment, bundle, overrides)
        return self._bundle[1], self._bundle[2]

    async def _wait_for_workers(self) -> dict[str, WorkerInfo]:
        """The fit workers; {} at once when every connected one failed lately; when none
        is connected, wait for one (join_wait, counted once for the batch), then {}."""
        while not (fit := await self._fit()):
            if any(w.pods > 0 for w in self._workers.values()):
                return {}
            now = time.monotonic()
            self._lonely_since = self._lonely_since or now
            if now - self._lonely_since >= self.join_wait:
                return {}
            await trio.sleep(0.5)
            self._refreshed = float("-inf")
        self._refreshing = trio.Lock()
        self._lonely_since = None
        return fit

    async def _run(self, fields: dict[str, Any], workers: dict[str, WorkerInfo],
                   budget: float) -> dict[str, Any]:
        """One task: its outcome, or {"machine"/"failed": why} with the worker if known."""
        key = f"{self._prefix}{fields['student']}-{uuid.uuid4().hex[:6]}"
        nonce = new_nonce()
        self._starts[key] = (time.monotonic(), "", "")
        future = await trio.to_thread.run_sync(functools.partial(
            self.client.submit, grade_task, self.version, nonce, fields, key=key,
            workers=sorted(workers), allow_other_workers=False, resources={"pods": 1},
            pure=False))
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def finished(_: Any) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        try:
            future.add_done_callback(finished)
            while not done.is_set():
                since, worker, name = self._starts[key]
                if worker and worker not in await self._known():  # lost: runs again
                    self._starts[key] = (time.monotonic(), "", "")
                    continue
                left = since + budget - time.monotonic()
                if left <= 0:
                    if not worker:
                        return {"failed": f"no worker started it within {budget:.0f} s"}
                    return {"worker": worker, "name": name,
                            "machine": f"did not answer within {budget:.0f} s"}
                with trio.move_on_after(min(left, 1.0)):
                    await done.wait()
            done_with = await trio.to_thread.run_sync(_outcome, future,
                                                      abandon_on_cancel=True)
            if "sealed" not in done_with:
                return done_with
            outcome = unseal(self.results_key, nonce, fields["student"], done_with["sealed"])
            if outcome is None:  # named as the scheduler saw it, not as it says itself
                worker = await trio.to_thread.run_sync(_holder, future,
                                                       abandon_on_cancel=True)
                name = self._workers.get(worker, WorkerInfo(worker, 0)).name
                return {"worker": worker, "name": name, "machine": UNSEALED}
            return outcome
        finally:
            self._starts.pop(key, None)
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await trio.to_thread.run_sync(_release, future, abandon_on_cancel=True)


def _outcome(future: Any) -> dict[str, Any]:
    """{"sealed": what the task returned}, or {"failed": why}."""
    try:
        if future.status == "finished":
            return {"sealed": future.result(timeout=CALL_TIMEOUT)}
        error = future.exception(timeout=CALL_TIMEOUT)
    except Exception as exc:  # cancelled by someone else, the scheduler gone, ...
        error = exc
    return {"failed": describe(error)}


def _holder(future: Any) -> str:
    """The address of the worker that holds the task's result, as the scheduler says."""
    try:
        holders = future.client.who_has([future]).get(future.key, [])
    except Exception:  # the scheduler gone: the student is retried all the same
        return ""
    return str(holders[0]) if holders else ""


def _release(future: Any) -> None:
    """Drop the task and its result from the cluster (cancels it if it still runs)."""
    with contextlib.suppress(Exception):
        if future.status in ("finished", "error"):
            future.release()
        else:
            future.cancel()


def _result(student: str, outcome: dict[str, Any]) -> StudentResult:
    if "report" in outcome:
        return StudentResult(student, GradeReport.from_json(outcome["report"]))
    if "error" in outcome:
        return StudentResult(student, error=outcome["error"],
                             details=outcome.get("details", ""))
    raise BackendUnavailable(f"the task came back without a result ({sorted(outcome)})")


@contextlib.contextmanager
def open_cluster(address: str, certs: Path, *, insecure: bool = False,
                 join_wait: float = JOIN_WAIT, **settings: Any) -> Iterator[ClusterSite]:
    """A ClusterSite on the scheduler at `address`, once a grading worker is there: over
    TLS with the client certificate of `certs` (a folder of `grade cluster-certs`), or,
    only when `insecure`, over tcp://; results are checked with its results key."""
    check_address(address, insecure)
    results_key = read_results_key(certs)
    try:
        from distributed import Client
    except ImportError:
        raise GraderError("--cluster needs Dask distributed: pip install "
                          "'socket-grader[cluster]'") from None
    security = client_security(certs) if is_tls(address) else None
    try:
        client = Client(address, timeout=f"{join_wait}s", set_as_default=False,
                        security=security)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GraderError(f"no Dask scheduler answered at {address} ({exc})") from None
    try:
        site = ClusterSite(client, results_key, join_wait=join_wait, **settings)
        site.require_workers()
        yield site
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=10)
