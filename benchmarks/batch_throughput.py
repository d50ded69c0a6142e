"""Batch throughput: a class of reference submissions (correct and faulty mixed), graded
with `grade batch` at several --jobs values on each available backend.

    python benchmarks/batch_throughput.py [--copies 40] [--jobs 1,2] [--backends local,docker]
                                          [--out benchmarks/results/batch_throughput.json]

Prints, per backend and jobs value, the wall time and students per minute, and where the
time went (summed over students): unpacking and loading, building, each check, and the
rest of each grading (worker start, pod set-up and teardown). Also checks that every copy
of one reference got the same score, since parallel gradings must not change verdicts.
"""

from __future__ import annotations

import argparse
import json
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

from grader.assignments import load_assignment  # noqa: E402
from grader.batch import BatchOptions, run_batch  # noqa: E402
from grader.errors import GraderError  # noqa: E402
from grader.pod import choose_backend  # noqa: E402
from tests.conftest import compose_reference  # noqa: E402

KINDS = [("python", None), ("c", None), ("python", "iterative-server"),
         ("python", "no-reuseaddr-server"), ("c", "iterative-server"),
         ("python", "keyed-by-ip-server"), ("python", "fixed-port-client"),
         ("c", "no-reuseaddr-server")]


def make_class(folder: Path, copies: int) -> dict[str, str]:
    """`copies` submissions cycling through KINDS; returns student -> kind."""
    kinds = {}
    for index in range(copies):
        language, faulty = KINDS[index % len(KINDS)]
        student = f"student{index:03d}"
        compose_reference(folder / student, language, faulty)
        kinds[student] = f"{language}-{faulty or 'correct'}"
    return kinds


def measure(backend: str, jobs: int, submissions: Path, kinds: dict[str, str]) -> dict:
    assignment = load_assignment("echo")
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as out:
        options = BatchOptions(backend=backend, jobs=jobs, force=True)
        batch = trio.run(run_batch, submissions, Path(out), assignment, options)
    phases: dict[str, float] = defaultdict(float)
    scores: dict[str, set[float]] = defaultdict(set)
    errors = []
    for run in batch.graded:
        result = run.result
        phases["prepare (unpack, load)"] += run.prepare_seconds
        if result.report is None:
            errors.append(f"{result.student}: {result.error}")
            continue
        report = result.report
        scores[kinds[result.student]].add(report.score)
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
        "errors": errors,
        "inconsistent_verdicts": {k: sorted(v) for k, v in scores.items() if len(v) > 1},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--jobs", default="1,2", help="comma-separated (default: 1,2)")
    parser.add_argument("--backends", default="local,docker",
                        help="comma-separated; unavailable ones are skipped")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "batch_throughput.json")
    args = parser.parse_args()
    assignment = load_assignment("echo")
    figures = {"copies": args.copies, "kinds": [f"{lang}-{f or 'correct'}" for lang, f in KINDS],
               "runs": [], "skipped": {}}
    scratch = Path(tempfile.mkdtemp(prefix="batch-bench-class-"))
    try:
        kinds = make_class(scratch / "submissions", args.copies)
        for backend in args.backends.split(","):
            try:
                choose_backend(backend, assignment)
            except (GraderError, ImportError) as exc:
                print(f"{backend}: skipped ({exc})")
                figures["skipped"][backend] = str(exc)
                continue
            for jobs in (int(j) for j in args.jobs.split(",")):
                started = time.monotonic()
                print(f"{backend}, --jobs {jobs}: grading {args.copies} submissions ...",
                      flush=True)
                run = measure(backend, jobs, scratch / "submissions", kinds)
                figures["runs"].append(run)
                print(f"  {run['wall_seconds']:.1f} s wall, {run['students_per_minute']:.1f} "
                      f"students/min, median {run['student_seconds_median']:.1f} s per "
                      f"student ({time.monotonic() - started:.0f} s with set-up)")
                for phase, seconds in run["phases_seconds"].items():
                    print(f"    {phase:<48}{seconds:8.1f} s")
                if run["errors"]:
                    print(f"  errors: {run['errors'][:5]}")
                if run["inconsistent_verdicts"]:
                    print(f"  INCONSISTENT verdicts: {run['inconsistent_verdicts']}")
                _write(args.out, figures)  # after each run: an interrupted one keeps them
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _write(args.out, figures)
    print(f"figures written to {args.out}")
    return 0


def _write(target: Path, figures: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
