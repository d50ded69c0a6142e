"""One student's grading, in a process of its own: `python -m grader.batch.worker`.

The batch runs each grading in a worker so that nothing a grading starts can outlive the
batch, even when the batch is killed with SIGKILL:

- the worker's stdin is a pipe from the batch, its *lifeline*: when it reaches end of
  file (the batch closed it, or the batch died), the grading is cancelled, so the pod is
  torn down the ordinary way (processes stopped, containers removed);
- if that teardown has not finished after ABORT_GRACE seconds, every process below the
  worker is killed and the worker exits;
- the worker is a child subreaper, so programs that fork and orphan themselves stay below
  it and are found by that kill, and by the one after every grading.

The submission is a folder, or an archive that the worker unpacks itself into `--work`
(capped by --max-bytes and --max-files, under the grading's deadline and a memory cap):
the student's bytes are never handled in the batch's own process. A grading on a cluster
(grader.batch.cluster_worker) hands its archive to this same code.

Output: one JSON line on stdout, {"report": GradeReport.to_json(), "prepared": seconds
taken to unpack} or {"error": reason}; an error carries "machine": true when this
machine cannot run gradings (no container engine, the image missing:
BackendUnavailable), and "input": true when what was handed in cannot be graded (its
reason names the file, not our copy). Exit status 3 when cancelled (no line).

`--backend auto` (a batch on a cluster) takes Docker, else Podman, and refuses to fall
back to the local backend: a batch runs other people's code. `--params` is JSON, check
id -> {parameter: value}: the plan's parameters changed in memory (e.g. `--clients`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from ..assignments import load_assignment
from ..errors import BackendUnavailable, GraderError, InputError
from ..grading.runner import grade
from ..loading.submission import load_submission
from ..pod import choose_backend
from ..pod.reaping import become_subreaper, kill_tree
from ..results import GradeReport
from .discover import MAX_BYTES, MAX_FILES, unpack
from .records import reason

ABORT_GRACE = 30.0
EXIT_CANCELLED = 3


class Lifeline:
    """Cancels the grading when stdin ends or SIGTERM arrives; kills the tree if that
    takes longer than ABORT_GRACE."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aborted = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None

    def watch_stdin(self) -> None:
        def read_to_end() -> None:
            with contextlib.suppress(OSError, ValueError):
                while sys.stdin.buffer.read(65536):
                    pass
            self.abort()

        threading.Thread(target=read_to_end, name="lifeline", daemon=True).start()

    def attach(self, scope: trio.CancelScope) -> None:
        with self._lock:
            self._token = trio.lowlevel.current_trio_token()
            self._scope = scope
            if self._aborted:
                scope.cancel()

    def abort(self, *_: object) -> None:
        with self._lock:
            if self._aborted:
                return
            self._aborted = True
            if self._token is not None and self._scope is not None:
                with contextlib.suppress(trio.RunFinishedError):
                    self._token.run_sync_soon(self._scope.cancel)
        threading.Thread(target=_last_resort, name="last-resort", daemon=True).start()


def _last_resort() -> None:
    threading.Event().wait(ABORT_GRACE)
    kill_tree(os.getpid(), include_root=False)
    os._exit(EXIT_CANCELLED)


UNPACK_MEMORY = 1024 * 1024 * 1024  # bytes of address space while unpacking an archive


def _prepare(source: Path, work: Path | None, max_bytes: int, max_files: int) -> Path:
    """The submission's folder: the student's own, or their archive unpacked into `work`,
    here, under this grading's deadline and a memory cap (an archive is untrusted)."""
    if source.is_dir() or work is None:
        return source
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    shutil.rmtree(work, ignore_errors=True)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (UNPACK_MEMORY, hard))
        return unpack(source, work, max_bytes, max_files)
    except MemoryError:
        shutil.rmtree(work, ignore_errors=True)
        raise InputError(source, f"unpacking it takes more than "
                                 f"{UNPACK_MEMORY // 2**20} MiB of memory") from None
    finally:  # the student's programs start later, with the usual limits
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


async def _grade(args: argparse.Namespace, root: Path,
                 lifeline: Lifeline) -> GradeReport | None:
    assignment = load_assignment(args.assignment)
    for check_id, params in json.loads(args.params).items():
        assignment = assignment.with_params(check_id, **params)
    submission = load_submission(root, assignment)
    backend, notice = choose_backend(args.backend, assignment, args.image)
    if args.backend == "auto" and not backend.sandboxed:
        raise BackendUnavailable(f"{notice}; a batch runs other people's code, so this "
                                 "machine does not grade it unsandboxed")
    with trio.CancelScope() as scope:
        lifeline.attach(scope)
        return await grade(submission, assignment, backend)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.batch.worker")
    parser.add_argument("submission", type=Path, help="a folder, or an archive to unpack")
    parser.add_argument("--work", type=Path, help="where to unpack an archive")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    parser.add_argument("--max-files", type=int, default=MAX_FILES)
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--image")
    parser.add_argument("--params", default="{}")
    args = parser.parse_args(argv)
    become_subreaper()
    lifeline = Lifeline()
    lifeline.watch_stdin()
    signal.signal(signal.SIGTERM, lifeline.abort)
    started = time.monotonic()
    try:
        root = _prepare(args.submission, args.work, args.max_bytes, args.max_files)
        prepared = round(time.monotonic() - started, 3)
        report = trio.run(_grade, args, root, lifeline)
    except InputError as exc:
        return _emit({"error": reason(exc), "input": True})
    except BackendUnavailable as exc:
        return _emit({"error": str(exc), "machine": True})
    except GraderError as exc:
        return _emit({"error": reason(exc)})
    finally:
        kill_tree(os.getpid(), include_root=False)
    if report is None:
        return EXIT_CANCELLED
    return _emit({"report": report.to_json(), "prepared": prepared})


def _emit(message: dict) -> int:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
