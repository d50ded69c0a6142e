"""A grading worker's side of a batch on a Dask cluster.

- `grade_task(version, nonce, job)` is what a Dask worker runs for one student: it
  refuses a coordinator of another grader version; places the job's bytes in scratch space of its
  own (an archive stays packed); starts the per-student worker process on this machine
  (grader.batch.worker, as on one machine: it unpacks the archive under the job's caps,
  with its deadline, stdin lifeline and process-tree reaping: a Dask cancel does not stop
  a running task, so the deadline lives here); stops the grading when the task is
  cancelled (the coordinator gave up or is gone); removes its scratch space; and returns
  plain data, naming this worker, sealed with the results key (grader.batch.
  cluster_security). Whatever goes wrong in it, even an exception that cannot be
  pickled or a SystemExit, comes back as such data: a Dask task error could end the
  worker or never reach the coordinator.
- `dask_setup(worker)` is the preload (`dask worker --preload grader.batch.cluster_worker`):
  it removes the scratch space of workers of this machine that died (SIGKILL, a power
  cut), and says which grader version serves.
- `run_worker_command(argv)` is `grade worker`: `dask worker` with the flags a grading
  worker needs, TLS with the certificates of `grade cluster-certs` (tcp:// only with
  --insecure).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import trio

from ..arguments import positive_int
from ..errors import BackendUnavailable, GraderError, InputError, exception_leaves
from .children import grader_environment
from .cluster_security import (
    CERTS_ENVIRONMENT,
    check_address,
    is_tls,
    read_results_key,
    seal,
    worker_tls_flags,
)
from .payload import Job, stage_job
from .records import reason
from .run import BatchOptions, Graded, default_jobs, grade_in_worker

TOPIC = "socket-grader"  # the Dask event topic: "this worker started grading that key"
SCRATCH_PARENT = Path(tempfile.gettempdir()) / "socket-grader-cluster"
CANCEL_POLL = 0.5


@functools.cache
def grader_version() -> str:
    """This grader's release and a digest of its source: workers and the coordinator must
    agree on both, or grades could differ from one machine to the next."""
    try:
        release = metadata.version("socket-grader")
    except metadata.PackageNotFoundError:
        release = "unreleased"
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return f"{release}+{digest.hexdigest()[:12]}"


# --- scratch space: <tmp>/socket-grader-cluster/<owner>/<job>/ --------------------------

def _owner(pid: int) -> str | None:
    """`<pid>-<start time>` of a live process (the start time tells a reused pid apart)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return f"{pid}-{fields[19]}"


def remove_stale_scratch(parent: Path = SCRATCH_PARENT) -> int:
    """Remove the scratch space of grading workers of this machine that are gone; returns
    how many folders went."""
    removed = 0
    if not parent.is_dir():
        return 0
    for folder in parent.iterdir():
        pid, _, _ = folder.name.partition("-")
        if pid.isdigit() and _owner(int(pid)) == folder.name:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def _scratch() -> Path:
    owner = _owner(os.getpid()) or str(os.getpid())
    folder = SCRATCH_PARENT / owner / uuid.uuid4().hex[:12]
    for _ in range(2):  # another task of this worker may remove the owner's folder meanwhile
        with contextlib.suppress(FileNotFoundError):
            folder.mkdir(parents=True, mode=0o700)
            return folder
    folder.mkdir(parents=True, mode=0o700)
    return folder


def remove_job_scratch(scratch: Path) -> None:
    """The job's folder, and its owner's once no other job of this worker uses it."""
    shutil.rmtree(scratch, ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty: another task's job is in it
        scratch.parent.rmdir()


# --- the task ------------------------------------------------------------------------

def grade_task(version: str, nonce: str, fields: dict[str, Any]) -> dict[str, Any]:
    """One student's grading on this Dask worker, sealed (cluster_security.seal) for the
    coordinator: a dict with "worker" and "name", and one of "report" (with "prepared":
    seconds taken to unpack), "error" (with "details"), "machine" (this machine cannot
    grade it: why) or "cancelled"."""
    from distributed import get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    key = getattr(thread_state, "key", "")
    here = {"worker": worker.address, "name": str(worker.name)}
    try:
        worker.log_event(TOPIC, {"key": key, **here})
        outcome = _grade_here(version, fields, worker, key)
    except BaseException as exc:  # a SystemExit would end the worker
        outcome = {"machine": f"grader error on this worker: {describe(exc)}"}
    return seal(_results_key(), nonce, str(fields.get("student", "")), {**here, **outcome})


def _results_key() -> bytes | None:
    """This worker's results key (without one, its results are refused)."""
    folder = os.environ.get(CERTS_ENVIRONMENT)
    try:
        return read_results_key(Path(folder)) if folder else None
    except (OSError, ValueError, GraderError):
        return None


def describe(exc: BaseException) -> str:
    """`Type: message` of any exception (of each in a group), even one whose message
    cannot be made."""
    return "; ".join(_describe_one(leaf) for leaf in exception_leaves(exc))


def _describe_one(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # a hostile __str__ may raise anything
        text = "(its message could not be read)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _grade_here(version: str, fields: dict[str, Any], worker: Any, key: str
                ) -> dict[str, Any]:
    mine = grader_version()
    if version != mine:
        return {"machine": f"this worker runs socket-grader {mine} and refuses work "
                f"from a coordinator running {version}: install the same grader version "
                "on every machine"}
    remove_stale_scratch()
    scratch = _scratch()
    try:
        job = Job(**fields)
        try:
            submission, assignment = stage_job(job, scratch)
        except InputError as exc:
            return {"error": reason(exc), "details": ""}
        return trio.run(_grade, job, submission, scratch / "work" / job.student,
                        assignment, lambda: _cancelled(worker, key))
    finally:
        remove_job_scratch(scratch)


def _cancelled(worker: Any, key: str) -> bool:
    """The scheduler no longer wants this task (its coordinator cancelled it, or left)."""
    state = worker.state.tasks.get(key)
    return state is None or state.state == "cancelled"


async def _grade(job: Job, submission: Path, work: Path, assignment: Path,
                 cancelled: Callable[[], bool]) -> dict[str, Any]:
    outcome: dict[str, Any] = {"cancelled": True}
    options = BatchOptions(backend=job.backend, image=job.image, max_bytes=job.max_bytes,
                           max_files=job.max_files)

    async def grading(scope: trio.CancelScope) -> None:
        try:
            graded = await grade_in_worker(job.student, submission, work, assignment,
                                           options, job.deadline, job.overrides)
            outcome.clear()
            outcome.update(result_fields(graded))
        except BackendUnavailable as exc:
            outcome.clear()
            outcome["machine"] = str(exc)
        scope.cancel()

    async def watch(scope: trio.CancelScope) -> None:
        while not cancelled():
            await trio.sleep(CANCEL_POLL)
        scope.cancel()  # the grading's worker process sees its lifeline close

    async with trio.open_nursery() as nursery:
        nursery.start_soon(grading, nursery.cancel_scope)
        nursery.start_soon(watch, nursery.cancel_scope)
    return outcome


def result_fields(graded: Graded) -> dict[str, Any]:
    result = graded.result
    if result.report is not None:
        return {"report": result.report.to_json(), "prepared": graded.prepare_seconds}
    return {"error": result.error, "details": result.details}


# --- the preload and `grade worker` ----------------------------------------------------

def dask_setup(worker: Any) -> None:
    """Run by `dask worker --preload grader.batch.cluster_worker` as the worker starts."""
    removed = remove_stale_scratch()
    pods = worker.state.total_resources.get("pods", 0)
    print(f"socket-grader {grader_version()}: grading worker {worker.name}, pods={pods:g}"
          + (f"; removed {removed} scratch folder(s) of dead workers" if removed else "")
          + ("" if pods else "; WARNING: no `pods` resource, so it gets no gradings "
             "(start it with `grade worker` or --resources pods=N)")
          + ("" if _results_key() else "; WARNING: no results key, so the coordinator "
             "refuses its results (start it with `grade worker --certs DIR`)"),
          file=sys.stderr, flush=True)


def worker_argv(scheduler: str, pods: int, name: str, extra: Sequence[str] = ()) -> list[str]:
    """The `dask worker` command line of a grading worker."""
    return [sys.executable, "-m", "distributed.cli.dask_worker", scheduler,
            "--nthreads", str(pods), "--resources", f"pods={pods}", "--no-nanny",
            "--name", name, "--preload", __name__, "--no-dashboard", *extra]


def run_worker_command(argv: Sequence[str]) -> int:
    """`grade worker --scheduler ADDRESS --pods N [-- DASK_WORKER_FLAGS]`."""
    parser = argparse.ArgumentParser(
        prog="grade worker",
        description="Start a grading worker for batches on a Dask cluster (`grade batch "
        "--cluster`): a `dask worker` that runs up to --pods gradings at once on this "
        "machine, each in its own pod. Flags after `--` go to `dask worker` as they are "
        "(e.g. --worker-port 9000).")
    parser.add_argument("--scheduler", required=True, metavar="ADDRESS",
                        help="the Dask scheduler, e.g. tls://10.0.0.5:8786")
    parser.add_argument("--certs", required=True, type=Path, metavar="DIR",
                        help="the folder `grade cluster-certs` made: the CA, the worker's "
                        "certificate and the results key")
    parser.add_argument("--insecure", action="store_true",
                        help="accept a tcp:// scheduler: no encryption, and anyone who "
                        "reaches it runs code on this machine (a network only you reach)")
    parser.add_argument("--pods", type=positive_int, metavar="N",
                        default=default_jobs(),
                        help="gradings at once on this machine (default: %(default)s, four "
                        "per CPU and at most one per GiB of memory, as `grade batch --jobs`)")
    parser.add_argument("--name", default=f"{socket.gethostname()}-{os.getpid()}",
                        help="this worker's name in the batch's progress (default: "
                        "HOST-PID)")
    parser.add_argument("extra", nargs="*", metavar="DASK_WORKER_FLAGS",
                        help="after --: more `dask worker` flags")
    args = parser.parse_args(argv)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("grade worker: Dask distributed is not installed: "
              "pip install 'socket-grader[cluster]'", file=sys.stderr)
        return 2
    check_address(args.scheduler, args.insecure)
    read_results_key(args.certs)  # a worker without it would grade in vain
    tls = worker_tls_flags(args.certs) if is_tls(args.scheduler) else []
    command = worker_argv(args.scheduler, args.pods, args.name, [*tls, *args.extra])
    # Dask samples every thread's stack 100 times a second, to profile computations; a
    # grading computes nothing here, and the CPU is the gradings'.
    environment = {**grader_environment(DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False"),
                   CERTS_ENVIRONMENT: str(args.certs.resolve())}
    if tls:
        environment["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] = "True"
    print("grade worker: " + " ".join(command[1:]), file=sys.stderr, flush=True)
    os.execve(command[0], command, environment)  # the worker keeps this process's id


__all__ = ["TOPIC", "describe", "grade_task", "grader_version", "remove_stale_scratch",
           "run_worker_command"]
