"""A Dask cluster on loopback for the tests: a `dask scheduler` process and one
`grade worker` process per name (each becomes a `dask worker` with one pod), over TLS
with the certificates of `grade cluster-certs`, or over tcp:// with --insecure. Every
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
from typing import Any

from grader.batch.cluster_security import certificate, client_security, make_certificates
from grader.pod.reaping import descendants

from .conftest import REPO

START_WAIT = 60.0


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen]
    certs: Path
    insecure: bool

    def flags(self) -> list[str]:
        """`grade batch` flags for this cluster."""
        return ["--cluster", self.address, "--certs", str(self.certs),
                *(["--insecure"] if self.insecure else [])]

    def settings(self) -> dict[str, Any]:
        """open_cluster's arguments after the address."""
        return {"certs": self.certs, "insecure": self.insecure}

    def gradings(self) -> list[int]:
        """The processes the workers started (gradings), still alive."""
        return [pid for worker in self.workers.values() if worker.poll() is None
                for pid in descendants(worker.pid)]


def children(pid: int) -> list[int]:
    return descendants(pid)


@contextmanager
def running_cluster(folder: Path, names: list[str],
                    environments: Mapping[str, Mapping[str, str]] | None = None, *,
                    tls: bool = False, worker_flags: Mapping[str, list[str]] | None = None,
                    worker_certs: Mapping[str, Path] | None = None) -> Iterator[Cluster]:
    """`worker_flags`: more `dask worker` flags of a worker (e.g. a --preload);
    `worker_certs`: a worker's own --certs folder instead of the cluster's."""
    folder.mkdir(parents=True, exist_ok=True)
    certs = folder / "certs"
    if not certs.exists():
        make_certificates(certs, ["127.0.0.1"])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    scheduler_file = folder / "scheduler.json"
    cert, key = certificate(certs, "scheduler")
    protocol = ["--protocol", "tls", "--tls-ca-file", str(certs / "ca.pem"), "--tls-cert",
                str(cert), "--tls-key", str(key)] if tls else []
    processes: list[subprocess.Popen] = []
    try:
        with open(folder / "scheduler.log", "w") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                 "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                 str(scheduler_file), *protocol], env=environment, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        address = _scheduler_address(scheduler_file, processes[0])
        workers = {}
        for name in names:
            flags = (worker_flags or {}).get(name, [])
            with open(folder / f"{name}.log", "w") as log:
                workers[name] = subprocess.Popen(
                    [sys.executable, "-m", "grader", "worker", "--scheduler", address,
                     "--pods", "1", "--name", name, "--certs",
                     str((worker_certs or {}).get(name, certs)),
                     *([] if tls else ["--insecure"]), *(["--", *flags] if flags else [])],
                    env={**environment, **(environments or {}).get(name, {})}, cwd=folder,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            processes.append(workers[name])
        if names:
            _wait_for_workers(address, len(names), certs if tls else None)
        yield Cluster(address, processes[0], workers, certs, insecure=not tls)
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


def _wait_for_workers(address: str, count: int, certs: Path | None) -> None:
    from distributed import Client

    security = client_security(certs) if certs else None
    with Client(address, set_as_default=False, timeout="30s", security=security) as client:
        client.wait_for_workers(count, timeout=START_WAIT)
