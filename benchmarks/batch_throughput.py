"""Batch throughput: a realistic mixed class graded with `grade batch` at several --jobs
values on each available backend.

    python benchmarks/batch_throughput.py [--copies 60] [--jobs 2,4] [--backends local,docker]
                                          [--out benchmarks/results/batch_throughput.json]

The class cycles through KINDS: both correct echo references, every faulty one, and
hostile cases from tests/hostile/ that need no set-up at test time. First each kind is
graded once, alone (`--jobs 1`, one copy of each): those are the verdicts to match. Then
the class is graded at each --jobs value.

Prints, per backend and jobs value, the wall time and students per minute, and where the
time went (summed over students): unpacking and loading, building, each check, and the
rest of each grading (worker start, pod set-up and teardown); the CPU time by who spent
it (benchmarks/cpu_split.py: the grader, the engine's daemons, the containers, the rest);
then the kinds that cost the most.

Every copy of one kind must get the verdicts (each check's status, and the score) it
got alone: parallel gradings must not change a grade. Any that did not are printed, and
the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpu_split import CpuSplit  # noqa: E402  (benchmarks/, the script's own folder)

from grader.assignments import load_assignment  # noqa: E402
from grader.batch import BatchOptions, run_batch  # noqa: E402
from grader.errors import GraderError  # noqa: E402
from grader.pod import choose_backend  # noqa: E402
from tests.conftest import REFERENCE, compose_reference  # noqa: E402

HOSTILE = REPO / "tests" / "hostile"
HOSTILE_KINDS = ("accepts-never-reads", "closes-at-once", "crashes-after-few-clients",
                 "exits-at-once", "garbage-replies", "ignores-sigterm", "never-listens",
                 "random-port-client")


def _kinds() -> list[tuple[str, str, str | None]]:
    """(name, language, faulty folder) per kind; `faulty` is a hostile case's folder for
    the hostile kinds (laid over the correct Python reference, as tests/test_hostile.py
    does)."""
    kinds = [("python-correct", "python", None), ("c-correct", "c", None)]
    for language in ("python", "c"):
        for faulty in sorted(p.name for p in (REFERENCE / language / "faulty").iterdir()):
            kinds.append((f"{language}-{faulty}", language, faulty))
    kinds += [(f"hostile-{case}", "python", f"hostile:{case}") for case in HOSTILE_KINDS]
    return kinds


KINDS = _kinds()


def make_class(folder: Path, copies: int) -> dict[str, str]:
    """`copies` submissions cycling through KINDS; returns student -> kind."""
    kinds = {}
    for index in range(copies):
        name, language, faulty = KINDS[index % len(KINDS)]
        student = f"student{index:03d}"
        if faulty and faulty.startswith("hostile:"):
            compose_reference(folder / student, language)
            shutil.copytree(HOSTILE / faulty.removeprefix("hostile:"), folder / student,
                            dirs_exist_ok=True)
        else:
            compose_reference(folder / student, language, faulty)
        kinds[student] = name
    return kinds


Verdict = tuple[float, tuple[tuple[str, str], ...]]


def measure(backend: str, jobs: int, submissions: Path, kinds: dict[str, str]) -> dict:
    assignment = load_assignment("echo")
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as out:
        options = BatchOptions(backend=backend, jobs=jobs, force=True)
        with CpuSplit() as cpu:
            batch = trio.run(run_batch, submissions, Path(out), assignment, options)
    phases: dict[str, float] = defaultdict(float)
    kind_seconds: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, dict[str, Verdict]] = defaultdict(dict)
    errors = []
    for run in batch.graded:
        result = run.result
        kind = kinds[result.student]
        kind_seconds[kind].append(run.seconds)
        phases["prepare (unpack, load)"] += run.prepare_seconds
        if result.report is None:
            errors.append(f"{result.student} ({kind}): {result.error}")
            continue
        report = result.report
        verdicts[kind][result.student] = (
            report.score, tuple((check.id, check.status) for check in report.checks))
        build = sum(b.duration for b in report.builds)
        phases["build"] += build
        for check in report.checks:
            phases[f"check {check.id}"] += check.duration
        accounted = build + sum(c.duration for c in report.checks)
        phases["other (worker start, pod set-up, teardown)"] += max(
            0.0, run.seconds - run.prepare_seconds - accounted)
    per_student = [run.seconds for run in batch.graded]
    return {
        "backend": backend, "jobs": jobs, "students": len(batch.graded),
        "wall_seconds": round(batch.seconds, 2),
        "students_per_minute": round(60 * len(batch.graded) / batch.seconds, 2),
        "student_seconds_median": round(statistics.median(per_student), 2),
        "student_seconds_max": round(max(per_student), 2),
        "phases_seconds": {k: round(v, 2) for k, v in sorted(phases.items(),
                                                             key=lambda kv: -kv[1])},
        "kind_seconds_mean": {k: round(statistics.mean(v), 2) for k, v in sorted(
            kind_seconds.items(), key=lambda kv: -statistics.mean(kv[1]))},
        "cpu_seconds": cpu.seconds,
        "errors": errors,
        "verdicts": {kind: {student: [score, [list(c) for c in checks]]
                            for student, (score, checks) in by_student.items()}
                     for kind, by_student in verdicts.items()},
    }


def differing(run: dict, alone: dict[str, Verdict]) -> dict[str, list[str]]:
    """Per kind, the students whose verdict differs from the one that kind got alone."""
    found: dict[str, list[str]] = {}
    for kind, by_student in run["verdicts"].items():
        expected = alone.get(kind)
        for student, (score, checks) in by_student.items():
            verdict = (score, tuple(tuple(c) for c in checks))
            if verdict != expected:
                found.setdefault(kind, []).append(
                    f"{student}: {_changes(expected, verdict)}")
    return found


def _changes(expected: Verdict | None, got: Verdict) -> str:
    if expected is None:
        return "no verdict alone to compare with"
    was = dict(expected[1])
    moved = [f"{check} {was.get(check)} -> {status}" for check, status in got[1]
             if was.get(check) != status]
    return f"score {expected[0]:g} -> {got[0]:g}" + (f" ({', '.join(moved)})" if moved else "")


def report_run(run: dict, label: str, started: float) -> None:
    print(f"  {label}: {run['wall_seconds']:.1f} s wall, {run['students_per_minute']:.1f} "
          f"students/min, median {run['student_seconds_median']:.1f} s per student "
          f"({time.monotonic() - started:.0f} s with set-up)")
    for phase, seconds in run["phases_seconds"].items():
        print(f"    {phase:<48}{seconds:8.1f} s")
    students, cores = run["students"], os.cpu_count() or 1
    print(f"    CPU, by who spent it ({cores} cores: {cores * run['wall_seconds']:.0f} s "
          "available; per student in brackets):")
    for spender, seconds in run["cpu_seconds"].items():
        print(f"      {spender:<58}{seconds:8.1f} s ({seconds / students:.2f} s)")
    print("    slowest kinds (mean seconds per student):")
    for kind, seconds in list(run["kind_seconds_mean"].items())[:8]:
        print(f"      {kind:<46}{seconds:8.1f} s")
    if run["errors"]:
        print(f"  errors: {run['errors'][:5]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--jobs", default="2,4", help="comma-separated (default: 2,4)")
    parser.add_argument("--backends", default="local,docker",
                        help="comma-separated; unavailable ones are skipped")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "batch_throughput.json")
    args = parser.parse_args()
    assignment = load_assignment("echo")
    figures = {"copies": args.copies, "kinds": [name for name, _, _ in KINDS],
               "runs": [], "alone": {}, "skipped": {}}
    changed = False
    scratch = Path(tempfile.mkdtemp(prefix="batch-bench-class-"))
    try:
        kinds = make_class(scratch / "submissions", args.copies)
        singles = make_class(scratch / "alone", len(KINDS))
        for backend in args.backends.split(","):
            try:
                choose_backend(backend, assignment)
            except (GraderError, ImportError) as exc:
                print(f"{backend}: skipped ({exc})")
                figures["skipped"][backend] = str(exc)
                continue
            started = time.monotonic()
            print(f"{backend}: grading each of the {len(KINDS)} kinds alone ...", flush=True)
            baseline = measure(backend, 1, scratch / "alone", singles)
            report_run(baseline, "alone", started)
            alone = {kind: next(iter((score, tuple(tuple(c) for c in checks))
                                     for score, checks in by_student.values()))
                     for kind, by_student in baseline["verdicts"].items()}
            figures["alone"][backend] = baseline
            for jobs in (int(j) for j in args.jobs.split(",")):
                started = time.monotonic()
                print(f"{backend}, --jobs {jobs}: grading {args.copies} submissions ...",
                      flush=True)
                run = measure(backend, jobs, scratch / "submissions", kinds)
                run["verdicts_not_as_alone"] = differing(run, alone)
                figures["runs"].append(run)
                report_run(run, f"--jobs {jobs}", started)
                if run["verdicts_not_as_alone"]:
                    changed = True
                    print("  VERDICTS NOT AS ALONE:")
                    for kind, students in run["verdicts_not_as_alone"].items():
                        print(f"    {kind}: {'; '.join(students[:3])}")
                else:
                    print("  every copy got the verdicts its kind got alone")
                _write(args.out, figures)  # after each run: an interrupted one keeps them
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _write(args.out, figures)
    print(f"figures written to {args.out}")
    return 1 if changed else 0


def _write(target: Path, figures: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
