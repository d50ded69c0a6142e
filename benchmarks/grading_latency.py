"""Grading latency: how long a whole grading of a correct submission takes, by phase,
next to the part no grader can avoid, measured in the same run.

The unavoidable part is what the checks' meaning costs on this machine: starting the
programs (a process, or a container on the Docker backend) for each sequential step of
a grading, the student server's own time to listen (each time it starts), and the
student's build. The grader's overhead is then a ratio: wall time / unavoidable time.
A second ratio also counts the paced input's floor: client-echo and end-to-end type
their lines at least `pace` seconds apart (a line per read, as a person would), a wait
the checks choose on purpose.

    python3 benchmarks/grading_latency.py [--repeat 3] [--backends local,docker,podman] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader import grade, load_assignment, load_submission  # noqa: E402
from grader.pod import LocalBackend, make_backend  # noqa: E402

SUBMISSIONS = {"python": REPO / "reference" / "echo" / "python" / "correct",
               "c": REPO / "reference" / "echo" / "c" / "correct"}
# Program starts on a grading's critical path: the server three times (for the server
# checks; again for end-to-end, as it is stopped during the client checks; the restart),
# and three client steps (client-echo, the concurrent copies started together,
# end-to-end).
SERVER_STARTS = 3
SEQUENTIAL_STARTS = {"local": 6, "docker": 6 + 2}  # docker adds the pause and probe containers


def _median_seconds(action, times: int = 5) -> float:
    samples = []
    for _ in range(times):
        started = time.monotonic()
        action()
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def process_start() -> float:
    return _median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))


def container_start(backend) -> float:
    from docker.types import Ulimit

    client = backend.connect().client
    # Explicit limits, as in a pod: Podman refuses defaults above the host's hard limits.
    ulimits = [Ulimit(name=name, soft=1024, hard=1024) for name in ("nofile", "nproc")]

    def run_one() -> None:
        container = client.containers.run(backend.image, ["true"], network_mode="none",
                                          detach=True, ulimits=ulimits)
        container.wait(timeout=60)
        container.remove(force=True)

    try:
        return _median_seconds(run_one)
    finally:
        client.close()


def backends(names: list[str]):
    assignment = load_assignment("echo")
    for name in names:
        if name == "local":
            yield name, LocalBackend(), process_start()
            continue
        backend = make_backend(name, assignment, os.environ.get("SOCKET_GRADER_IMAGE"))
        reason = backend.unavailable_reason()
        if reason:
            print(f"skipping {name}: {reason}")
            continue
        yield name, backend, container_start(backend)


def paced_floor() -> float:
    """Seconds the paced runs wait by design: each line after the first at least `pace`
    seconds after the one before."""
    return sum((plan.params["lines"] - 1) * plan.params["pace"]
               for plan in load_assignment("echo").checks if plan.params.get("pace"))


def grade_once(backend, folder: Path) -> dict:
    assignment = load_assignment("echo")
    report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
    assert report.score == report.max_score, [(c.id, c.summary) for c in report.checks]
    return {"wall": report.duration, "phases": dict(report.phases),
            "checks": {c.id: c.duration for c in report.checks},
            "server_listen": report.check("server-starts").evidence["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="local,docker")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name, backend, start_cost in backends(args.backends.split(",")):
        for language, folder in SUBMISSIONS.items():
            runs = [grade_once(backend, folder) for _ in range(args.repeat)]
            wall = statistics.median(r["wall"] for r in runs)
            listen = statistics.median(r["server_listen"] for r in runs)
            build = statistics.median(r["phases"].get("build", 0.0) for r in runs)
            unavoidable = (SEQUENTIAL_STARTS[name] * start_cost + SERVER_STARTS * listen
                           + build)
            phases = {phase: statistics.median(r["phases"][phase] for r in runs)
                      for phase in runs[0]["phases"]}
            checks = {check: statistics.median(r["checks"][check] for r in runs)
                      for check in runs[0]["checks"]}
            rows.append({"backend": name, "submission": language, "wall": wall,
                         "phases": phases, "checks": checks, "start_cost": start_cost,
                         "server_listen": listen, "build": build,
                         "unavoidable": unavoidable, "paced": paced_floor()})
    for row in rows:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in row["phases"].items())
        slowest = sorted(row["checks"].items(), key=lambda item: -item[1])[:3]
        print(f"{row['backend']:>6} {row['submission']:>6}: {row['wall']:.2f} s "
              f"({phases}); unavoidable {row['unavoidable']:.2f} s "
              f"(start {row['start_cost']:.3f} s x {SEQUENTIAL_STARTS[row['backend']]}, "
              f"listen {row['server_listen']:.2f} s x {SERVER_STARTS}, build "
              f"{row['build']:.2f} s): overhead {row['wall'] / row['unavoidable']:.2f}x, "
              f"{row['wall'] / (row['unavoidable'] + row['paced']):.2f}x with the paced "
              f"input's floor ({row['paced']:.2f} s); slowest checks: "
              + ", ".join(f"{k} {v:.2f}" for k, v in slowest))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
