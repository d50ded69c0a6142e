"""The batch's similarity step as `grade batch` runs it, timed on a generated class:
its own process (grader.term.similarity_job), the class's key, copydetect over every
pair, similarity.csv and the report section written; then the same step again with
nothing changed (the stored outputs reused, as after `grade batch --only STUDENT`).

The class is benchmarks/similarity.py's: variants of the echo references (half Python,
half C) with their own names, order and code, and a few disguised copies; the
references are the starter files (`[similarity] starter`).

    python3 benchmarks/similarity_time.py [--students 300] [--copies 6] [--seed 13]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from similarity import make_class, starter_files  # noqa: E402

from grader.assignments import load_assignment  # noqa: E402
from grader.batch.discover import MAX_BYTES, MAX_FILES, discover  # noqa: E402
from grader.batch.similar import compare_class  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--copies", type=int, default=6, help="planted copies")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    echo = load_assignment("echo")
    assignment = dataclasses.replace(echo, similarity=dataclasses.replace(
        echo.similarity, starter=tuple(starter_files())))
    with tempfile.TemporaryDirectory(prefix="similarity-time-") as temporary:
        root = Path(temporary)
        planted = make_class(root, args.students, args.copies, random.Random(args.seed))
        found = discover(root / "submissions")
        results = root / "results"
        results.mkdir()
        for label in ("compared", "again, nothing changed"):
            started = time.perf_counter()
            step = trio.run(compare_class, found, results, assignment, args.timeout,
                            MAX_BYTES, MAX_FILES)
            wall = time.perf_counter() - started
            print(f"{label}: {step.status} in {wall:.1f} s wall ({step.describe()})")
        listed = {tuple(line.split(",")[:2]) for line in
                  (results / "similarity.csv").read_text().splitlines()[1:]}
        print(f"planted copies listed: {sum(1 for p in planted if p in listed)}/"
              f"{len(planted)}; pairs listed: {len(listed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
