"""Cluster throughput: students per minute of `grade batch --cluster` on a Dask cluster of
one grading worker, then two, all on this machine, beside the local batch at the same
number of gradings at once (--jobs 1, 2). The machine's cores do not grow with the
workers, so the figures show what going through the cluster costs, not a speed-up.

    python benchmarks/cluster_throughput.py [--copies 8] [--backend local]
                                            [--out benchmarks/results/cluster_throughput.json]

The cluster (a `dask scheduler` and `grade worker --pods 1` processes on loopback) is
started and stopped here. Also checks that every copy of a reference got the same score
on the cluster as in the local batch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.assignments import load_assignment  # noqa: E402
from grader.batch import BatchOptions, BatchRun, run_batch  # noqa: E402
from grader.batch.cluster import open_cluster  # noqa: E402
from tests.cluster_helpers import running_cluster  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from batch_throughput import make_class  # noqa: E402


def _figures(batch: BatchRun, how: str, gradings: int) -> dict:
    return {"how": how, "gradings_at_once": gradings, "students": len(batch.graded),
            "wall_seconds": round(batch.seconds, 2),
            "students_per_minute": round(60 * len(batch.graded) / batch.seconds, 2),
            "errors": [f"{r.result.student}: {r.result.error}" for r in batch.graded
                       if r.result.report is None],
            "workers": sorted({r.where for r in batch.graded if r.where})}


def _scores(batch: BatchRun) -> dict[str, float | None]:
    return {r.student: r.report.score if r.report else None for r in batch.results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "cluster_throughput.json")
    args = parser.parse_args()
    assignment = load_assignment("echo")
    scratch = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    runs, mismatches = [], []
    try:
        make_class(scratch / "submissions", args.copies)
        for count in (1, 2):
            options = BatchOptions(backend=args.backend, jobs=count, force=True)
            print(f"local batch, --jobs {count} ...", flush=True)
            local = trio.run(run_batch, scratch / "submissions", scratch / f"local{count}",
                             assignment, options)
            runs.append(_figures(local, "local batch", count))
            print(f"  {runs[-1]['students_per_minute']:.1f} students/min", flush=True)
            names = [f"w{i + 1}" for i in range(count)]
            with running_cluster(scratch / f"cluster{count}", names) as cluster, \
                    open_cluster(cluster.address, **cluster.settings()) as site:
                print(f"cluster of {count} worker(s) ...", flush=True)
                remote = trio.run(run_batch, scratch / "submissions",
                                  scratch / f"cluster{count}" / "out", assignment, options,
                                  None, site)
            runs.append(_figures(remote, f"cluster, {count} worker(s) x 1 pod", count))
            print(f"  {runs[-1]['students_per_minute']:.1f} students/min on "
                  f"{', '.join(runs[-1]['workers'])}", flush=True)
            if _scores(local) != _scores(remote):
                mismatches.append({"local": _scores(local), "cluster": _scores(remote)})
                print("  SCORES DIFFER from the local batch", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"copies": args.copies, "backend": args.backend,
                                    "runs": runs, "score_mismatches": mismatches,
                                    "measured_at": time.strftime("%Y-%m-%d %H:%M")},
                                   indent=2) + "\n")
    print(f"figures written to {args.out}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
