"""A Dask cluster on loopback for the tests: a `dask scheduler` process and one
`grade worker` process per name (each becomes a `dask worker` with one pod). Every
process is stopped on every path, stopped ones (SIGSTOP) included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.pod.reaping import descendants

from .conftest import REPO

START_WAIT = 60.0


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen]

    def gradings(self) -> list[int]:
        """The processes the workers started (gradings), still alive."""
        return [pid for worker in self.workers.values() if worker.poll() is None
                for pid in descendants(worker.pid)]


def children(pid: int) -> list[int]:
    return descendants(pid)


@contextmanager
def running_cluster(folder: Path, names: list[str],
                    environments: Mapping[str, Mapping[str, str]] | None = None
                    ) -> Iterator[Cluster]:
    folder.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    scheduler_file = folder / "scheduler.json"
    processes: list[subprocess.Popen] = []
    try:
        with open(folder / "scheduler.log", "w") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                 "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                 str(scheduler_file)], env=environment, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL))
        address = _scheduler_address(scheduler_file, processes[0])
        workers = {}
        for name in names:
            with open(folder / f"{name}.log", "w") as log:
                workers[name] = subprocess.Popen(
                    [sys.executable, "-m", "grader", "worker", "--scheduler", address,
                     "--pods", "1", "--name", name],
                    env={**environment, **(environments or {}).get(name, {})}, cwd=folder,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            processes.append(workers[name])
        if names:
            _wait_for_workers(address, len(names))
        yield Cluster(address, processes[0], workers)
    finally:
        # Workers first, while the scheduler can still hear their goodbye.
        _stop(processes[1:])
        _stop(processes[:1])


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            raise RuntimeError("the dask scheduler exited at start")
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError("the dask scheduler did not start")


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, set_as_default=False, timeout="30s") as client:
        client.wait_for_workers(count, timeout=START_WAIT)
