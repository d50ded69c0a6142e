"""Soak: a class mixing hostile submissions with honest ones, graded more at once than
there are cores. The honest ones must get exactly the verdicts they get alone, with no
grader error and nothing left behind.

    python benchmarks/soak.py [--copies 3] [--jobs 4] [--backend docker] [--only NAME,...]

Honest: the echo references (correct and faulty, whose expected verdicts are pinned in
tests/test_reference_verdicts.py). Hostile: the tests/hostile/ cases that load the
machine (CPU spin, fork and thread bombs, memory hogs, output floods, daemons). Prints
each honest submission whose verdicts differed from its solo ones (expected: none), the
grader errors (expected: none), and what was left running (expected: nothing). `--only`
keeps part of the class (honest ones named as python-correct, c-iterative-server, ...;
hostile ones by their case name), for a short run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.assignments import load_assignment  # noqa: E402
from grader.batch import BatchOptions, run_batch  # noqa: E402
from grader.results import Status  # noqa: E402
from tests.conftest import REFERENCE, compose_reference  # noqa: E402
from tests.test_hostile import HOSTILE  # noqa: E402
from tests.test_reference_verdicts import EXPECTED  # noqa: E402

LOADS = ("cpu-spin", "fork-bomb", "memory-hog", "output-flood", "thread-bomb-client",
         "daemon-clears-env", "flood-and-hang", "slow-reader")


def make_class(folder: Path, copies: int,
               only: Collection[str] = ()) -> dict[str, tuple[str, str | None] | None]:
    """student -> its reference (language, faulty), or None for a hostile one."""
    kinds: dict[str, tuple[str, str | None] | None] = {}
    honest = [(language, faulty) for language, faulty in EXPECTED
              if not only or f"{language}-{faulty or 'correct'}" in only]
    loads = [case for case in LOADS if not only or case in only]
    for copy in range(copies):
        for language, faulty in honest:
            student = f"honest-{language}-{faulty or 'correct'}-{copy}"
            compose_reference(folder / student, language, faulty)
            kinds[student] = (language, faulty)
        for case in loads:
            student = f"hostile-{case}-{copy}"
            shutil.copytree(REFERENCE / "python" / "correct", folder / student)
            shutil.copytree(HOSTILE / case, folder / student, dirs_exist_ok=True)
            kinds[student] = None
    return kinds


def leftovers(backend: str) -> list[str]:
    """Containers of gradings whose grader process is gone (others may be running on this
    engine at the same time: theirs are not leftovers)."""
    engine = "podman" if backend == "podman" else "docker"
    listed = subprocess.run([engine, "ps", "-a", "--filter", "label=org.socket-grader",
                             "--format", '{{.Names}} {{.Label "org.socket-grader.owner"}}'],
                            capture_output=True, text=True, check=False)
    left = []
    for line in listed.stdout.splitlines():
        name, _, owner = line.partition(" ")
        pid = owner.rpartition(":")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            left.append(name)
    return left


def soak(copies: int, jobs: int, backend: str, only: Collection[str] = ()) -> int:
    assignment = load_assignment("echo")
    scratch = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        kinds = make_class(scratch / "class", copies, only)
        if not kinds:
            raise SystemExit(f"--only matched no submission: {sorted(only)}")
        started = time.monotonic()
        print(f"{backend}: {len(kinds)} students ({sum(k is None for k in kinds.values())} "
              f"hostile), --jobs {jobs} ...", flush=True)
        batch = trio.run(run_batch, scratch / "class", scratch / "results", assignment,
                         BatchOptions(backend=backend, jobs=jobs, force=True))
        seconds = time.monotonic() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    problems = []
    for result in batch.results:
        kind = kinds[result.student]
        if result.report is None:
            if kind is not None or "grader" in result.error:
                problems.append(f"{result.student}: {result.error}")
            continue
        errors = [c.id for c in result.report.checks if c.status is Status.ERROR]
        if errors:
            problems.append(f"{result.student}: grader error in {', '.join(errors)}")
        if kind is not None:
            got = {c.id: str(c.status) for c in result.report.checks
                   if c.status is not Status.PASS}
            if got != EXPECTED[kind]:
                problems.append(f"{result.student}: {got} instead of {EXPECTED[kind]}")
    left = leftovers(backend)
    print(f"  {len(batch.results)} gradings in {seconds:.0f} s "
          f"({60 * len(batch.results) / seconds:.1f} students/min): {len(problems)} "
          f"problem(s), {len(left)} container(s) left")
    for line in problems:
        print(f"    {line}")
    return 1 if problems or left else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--backend", default="docker", choices=("docker", "podman"))
    parser.add_argument("--only", default="", help="comma-separated submission names "
                        "(python-correct, c-iterative-server, cpu-spin, ...)")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    return soak(args.copies, args.jobs, args.backend, only)


if __name__ == "__main__":
    sys.exit(main())
