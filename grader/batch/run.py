"""The batch scheduler: N gradings at once, each in its own worker process and pod.

Students whose result is already complete are skipped (unless forced, or named in
`only`), so a batch that was interrupted, even by SIGKILL, is finished by running it
again. A student graded again keeps the earlier result in their history, and the run
says what changed (grader.batch.regrade). At the end, the class's submissions are
compared for similar code (grader.batch.similar), under a deadline of its own. One student's
problem (an archive we refuse, no server, a grading that hangs or crashes) becomes that
student's error record; it never stops the batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import trio

from ..errors import BackendUnavailable, GraderError, InputError
from ..isolated_python import module_command
from ..loading.assignment import Assignment
from ..pod.reaping import kill_tree
from ..results import GradeReport
from . import outputs, records
from .discover import MAX_BYTES, MAX_FILES, StudentEntry, discover
from .forked_workers import ForkedWorker, Forkserver, running_forkserver
from .payload import plan_overrides
from .records import StudentResult
from .regrade import REGRADE_CSV, REGRADE_STYLE, Regrade, compare, regrade_csv, regrade_section
from .similar import SimilarityStep, compare_class

STDOUT_CAP = 64 * 1024 * 1024
STDERR_CAP = 64 * 1024
ABORT_WAIT = 40.0  # a cancelled worker's own teardown budget is 30 s
SIMILARITY_TIMEOUT = 600.0


class BatchProgress(Protocol):
    """Told as the batch goes; never changes it."""

    def begin(self, to_grade: list[str], skipped: list[str]) -> None: ...

    def student_started(self, student: str) -> None: ...

    def student_finished(self, result: StudentResult, where: str = "") -> None:
        """`where`: the worker that graded it (on a cluster); empty on this machine."""

    def end(self) -> None: ...


class _Silent:
    def begin(self, to_grade: list[str], skipped: list[str]) -> None:
        pass

    def student_started(self, student: str) -> None:
        pass

    def student_finished(self, result: StudentResult, where: str = "") -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class BatchOptions:
    backend: str = "local"  # a concrete backend name: the batch resolves "auto" first
    jobs: int = 2
    image: str | None = None
    force: bool = False  # grade students again even when their result is complete
    retry_errors: bool = False  # grade students again whose result is an error
    student_timeout: float | None = None  # None: from the assignment's limits
    max_bytes: int = MAX_BYTES
    max_files: int = MAX_FILES
    only: tuple[str, ...] = ()  # --only's values (Discovery.chosen): these again, no one else
    similarity_timeout: float | None = SIMILARITY_TIMEOUT  # None: do not compare


@dataclass(frozen=True)
class StudentRun:
    """How one grading of this run went, with its timings (for the benchmark)."""

    result: StudentResult
    seconds: float  # wall time from its turn to its stored result
    prepare_seconds: float  # unpacking and loading
    where: str = ""  # the worker that graded it (on a cluster)


@dataclass
class BatchRun:
    results: list[StudentResult]  # every student's result, as in grades.csv
    graded: list[StudentRun] = field(default_factory=list)  # graded by this run
    skipped: list[str] = field(default_factory=list)  # complete before this run
    ignored: tuple[str, ...] = ()
    seconds: float = 0.0
    regrade: Regrade | None = None  # when it graded again students who had a result
    similarity: SimilarityStep | None = None


@dataclass(frozen=True)
class Graded:
    """One student's grading as a GradingSite hands it back."""

    result: StudentResult
    where: str = ""  # the worker that graded it; empty on this machine
    prepare_seconds: float = 0.0


class GradingSite(Protocol):
    """Where one student's grading runs: a worker process on this machine (LocalSite), or
    a task on a Dask cluster (grader.batch.cluster.ClusterSite). Chosen once per batch."""

    def slot(self) -> AbstractAsyncContextManager[Any]:
        """Held while one grading runs: waits for a free place."""
        ...

    def ready(self) -> AbstractAsyncContextManager[Any]:
        """Held while the batch's gradings run: what the site keeps ready for them."""
        ...

    async def grade(self, entry: StudentEntry, assignment: Assignment,
                    options: BatchOptions, work: Path) -> Graded:
        """Grade one student. Raises InputError for a problem with what the student
        handed in found before the grading's worker process (which reports the rest in
        the result), BackendUnavailable when no machine could run the grading; `work` is
        this machine's scratch folder for the student (removed afterwards)."""
        ...


class LocalSite:
    """Each grading in a worker process of its own on this machine, `jobs` at a time."""

    def __init__(self, jobs: int) -> None:
        self.limiter = trio.CapacityLimiter(jobs)
        self._overrides: tuple[Assignment, dict[str, dict[str, Any]]] | None = None
        self._forkserver: Forkserver | None = None

    def slot(self) -> trio.CapacityLimiter:
        return self.limiter

    @asynccontextmanager
    async def ready(self) -> AsyncIterator[None]:
        """A forkserver (see forked_workers.py): each worker forked from a process that has
        imported the grader already, not started afresh."""
        async with running_forkserver() as forkserver:
            self._forkserver = forkserver
            try:
                yield
            finally:
                self._forkserver = None

    async def grade(self, entry: StudentEntry, assignment: Assignment,
                    options: BatchOptions, work: Path) -> Graded:
        # The worker unpacks and reads it: all the student's bytes are handled under the
        # student's own deadline, never in the batch's process.
        if self._overrides is None or self._overrides[0] is not assignment:
            self._overrides = (assignment, await trio.to_thread.run_sync(plan_overrides,
                                                                        assignment))
        deadline = options.student_timeout or student_deadline(assignment)
        return await grade_in_worker(entry.student, entry.source, work, assignment.path,
                                     options, deadline, self._overrides[1],
                                     self._forkserver)


JOBS_PER_CPU = 4
MEMORY_PER_JOB = 2**30  # a pod's programs stay within about 1 GiB (README, Security)


def default_jobs() -> int:
    """Gradings at once on this machine: four per CPU, at most one per GiB of memory and
    16 in all. A grading mostly waits on the student's programs, and no verdict depends
    on the machine's load: measured on 2 cores (benchmarks/batch_throughput.py,
    verdict_stability.py), 8 at once graded a mixed class fastest, every copy as it was
    graded alone."""
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(1, min(16, JOBS_PER_CPU * (os.cpu_count() or 1), memory // MEMORY_PER_JOB))


def student_deadline(assignment: Assignment) -> float:
    """The longest one grading may take: every limit of the assignment, added up (a build
    per role), plus a margin for starting the worker and tearing the pod down."""
    limits, builds = assignment.limits, len(assignment.roles)
    return (builds * limits.build_timeout + len(assignment.checks) * limits.check_timeout
            + limits.start_timeout + 60.0)


async def run_batch(submissions: Path, results_dir: Path, assignment: Assignment,
                    options: BatchOptions, progress: BatchProgress | None = None,
                    site: GradingSite | None = None) -> BatchRun:
    """Grade every student in `submissions` that has no complete result in `results_dir`
    (or those `options` says), then compare the class's submissions for similarity, and
    write the gradebook, summary and class report from all complete results, with what
    changed for the students graded again. Gradings run where `site` says (default:
    worker processes on this machine). Raises GraderError when `options.only` names a
    student with no submission, or when a student has more than one."""
    progress = progress or _Silent()
    site = site or LocalSite(options.jobs)
    started = time.monotonic()
    results_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(results_dir):
        records.remove_partials(results_dir)
        found = discover(submissions)
        options = replace(options, only=found.chosen(options.only, submissions))
        to_grade, skipped = [], []
        before: dict[str, StudentResult] = {}  # what the students graded again had
        for entry in found.students:
            previous = records.load_result(results_dir, entry.student)
            if _to_grade(entry.student, previous, options):
                to_grade.append(entry)
                if previous is not None:
                    before[entry.student] = previous
            else:
                skipped.append(entry.student)
        batch = BatchRun([], skipped=skipped, ignored=found.ignored)
        progress.begin([e.student for e in to_grade], skipped)
        try:
            async with site.ready(), trio.open_nursery() as nursery:
                for entry in to_grade:
                    nursery.start_soon(_grade_student, entry, results_dir, assignment,
                                       options, site, progress, batch)
        finally:
            progress.end()
        students = sorted({e.student for e in found.students}
                          | set(records.stored_students(results_dir)))
        batch.results = [records.load_result(results_dir, s) or StudentResult(s, pending=True)
                         for s in students]
        batch.similarity = await compare_class(found, results_dir, assignment,
                                               options.similarity_timeout,
                                               options.max_bytes, options.max_files)
        sections = []
        if before:
            first_time = tuple(e.student for e in to_grade if e.student not in before)
            batch.regrade = compare(before, {r.student: r for r in batch.results},
                                    first_time)
            records.write_atomically(results_dir / REGRADE_CSV, regrade_csv(batch.regrade))
            sections.append(outputs.PageSection(regrade_section(batch.regrade),
                                                REGRADE_STYLE))
        if batch.similarity.section is not None:
            sections.append(batch.similarity.section)
        outputs.write_all(results_dir, assignment, batch.results, sections)
        with contextlib.suppress(OSError):
            (results_dir / "work").rmdir()  # only when empty
    batch.seconds = time.monotonic() - started
    return batch


def _to_grade(student: str, previous: StudentResult | None, options: BatchOptions) -> bool:
    if options.only:
        return student in options.only
    return previous is None or options.force or (options.retry_errors
                                                 and previous.status == "error")


@contextmanager
def _exclusive(results_dir: Path) -> Iterator[None]:
    """One batch per results folder at a time (the lock dies with its process)."""
    with open(results_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GraderError(f"{results_dir}: another batch is writing to this folder "
                              "right now") from None
        yield


async def _grade_student(entry: StudentEntry, results_dir: Path, assignment: Assignment,
                         options: BatchOptions, site: GradingSite,
                         progress: BatchProgress, batch: BatchRun) -> None:
    async with site.slot():
        progress.student_started(entry.student)
        started = time.monotonic()
        work = results_dir / "work" / entry.student
        graded = Graded(StudentResult(entry.student))
        try:
            try:
                graded = await site.grade(entry, assignment, options, work)
                result = graded.result
                if result.report is not None:  # name what was handed in, not our copy
                    result = replace(result, report=replace(result.report,
                                                            submission=str(entry.source)))
            except InputError as exc:  # refused before it left this machine
                result = StudentResult(entry.student, error=records.reason(exc))
            except BackendUnavailable as exc:  # no machine could run it: says which, why
                result = StudentResult(entry.student, error=str(exc))
            except Exception as exc:  # a grader problem with this one student only
                result = StudentResult(entry.student,
                                       error=f"grader error: {type(exc).__name__}: {exc}")
            await trio.to_thread.run_sync(records.save_result, results_dir, result)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(
                    lambda: shutil.rmtree(work, ignore_errors=True))
    batch.graded.append(StudentRun(result, time.monotonic() - started,
                                   graded.prepare_seconds, graded.where))
    if graded.where:
        progress.student_finished(result, graded.where)
    else:  # a listener written before clusters takes the result alone
        progress.student_finished(result)


async def grade_in_worker(student: str, submission: Path, work: Path, assignment_path: Path,
                          options: BatchOptions, deadline: float,
                          overrides: dict[str, dict[str, Any]] | None = None,
                          forkserver: Forkserver | None = None) -> Graded:
    """One grading in a worker process of its own (grader.batch.worker) on this machine,
    forked by `forkserver` when there is one, stopped with its whole process tree after
    `deadline` seconds. `submission` is a folder,
    or an archive that the worker unpacks into `work` (options.max_bytes, max_files).
    Raises BackendUnavailable when this machine cannot run it (no engine, no image)."""
    arguments = ["--assignment", str(assignment_path), "--backend", options.backend,
                 "--work", str(work), "--max-bytes", str(options.max_bytes),
                 "--max-files", str(options.max_files)]
    if options.image:
        arguments += ["--image", options.image]
    if overrides:
        arguments += ["--params", json.dumps(overrides)]
    arguments.append(str(submission))
    process = forkserver and await forkserver.start(arguments)
    if process is None:  # no forkserver here (a cluster's worker), or it is gone
        process = await trio.lowlevel.open_process(
            module_command("grader.batch.worker", *arguments), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = bytearray(), bytearray()
    finished = False
    try:
        with trio.move_on_after(deadline):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_collect, process.stdout, stdout, STDOUT_CAP)
                nursery.start_soon(_collect, process.stderr, stderr, STDERR_CAP)
                await process.wait()
            finished = True
    finally:
        with trio.CancelScope(shield=True):
            await _end_worker(process)
    if not finished:
        return Graded(StudentResult(
            student, error=f"the grading did not finish within {deadline:.0f} s (the "
            "per-student deadline) and was stopped", details=_tail(stderr)))
    return _parse(student, process.returncode, bytes(stdout), bytes(stderr))


async def _collect(stream: trio.abc.ReceiveStream | None, sink: bytearray, cap: int) -> None:
    if stream is None:
        return
    async with stream:
        while chunk := await stream.receive_some(65536):
            sink += chunk[: max(0, cap - len(sink))]


async def _end_worker(process: trio.Process | ForkedWorker) -> None:
    """Close the lifeline; a worker that does not end by itself is killed with its tree."""
    assert process.stdin is not None
    await process.stdin.aclose()
    if process.returncode is None:
        with trio.move_on_after(ABORT_WAIT):
            await process.wait()
    if process.returncode is None:
        kill_tree(process.pid, include_root=True)
        with trio.move_on_after(5):
            await process.wait()


def _parse(student: str, returncode: int | None, stdout: bytes, stderr: bytes) -> Graded:
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        message = json.loads(lines[-1]) if lines else {}
    except ValueError:
        message = {}
    prepared = float(message.get("prepared", 0.0))
    if "report" in message:
        return Graded(StudentResult(student, GradeReport.from_json(message["report"])),
                      prepare_seconds=prepared)
    if message.get("machine"):
        raise BackendUnavailable(message["error"])
    if "error" in message:
        return Graded(StudentResult(student, error=message["error"]),
                      prepare_seconds=prepared)
    last = _tail(stderr).strip().splitlines()
    return Graded(StudentResult(student, error=f"the grader crashed (exit status "
                                f"{returncode})" + (f": {last[-1]}" if last else ""),
                                details=_tail(stderr)))


def _tail(data: bytes | bytearray, limit: int = 4000) -> str:
    return bytes(data[-limit:]).decode(errors="replace")

