"""The local backend: student programs as plain processes on this machine's loopback.

The embedded default when no Docker daemon answers. Good for a student grading their own
code; not a security boundary, so never the choice for code you did not write.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from ..results import BuildResult
from .base import Backend, Completed, Pod, Program
from .probe_session import ProbeSession
from .processes import HostProcess, feed, spawn

# Ports outside the kernel's ephemeral range, so no client connection can take the
# server's port as its source port while the server is being restarted.
SERVER_PORTS = range(10000, 32768)
TEARDOWN_BUDGET = 10.0
GRADER_ROOT = Path(__file__).resolve().parents[2]


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe_socket:
        try:
            # No SO_REUSEADDR: a port with TIME_WAIT sockets on it counts as taken.
            probe_socket.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class LocalProgram(Program):
    def __init__(self, process: HostProcess) -> None:
        self.process = process
        self.command = process.command

    @property
    def exit_code(self) -> int | None:
        return self.process.exit_code

    async def stop(self, grace: float) -> None:
        await self.process.stop(grace)

    async def output(self) -> tuple[bytes, bytes]:
        return self.process.output()


class LocalPod(Pod):
    backend = "local"
    sandboxed = False

    def __init__(self, nursery: trio.Nursery, workdir: Path, output_cap: int) -> None:
        self._nursery = nursery
        self._workdir = workdir
        self._output_cap = output_cap
        self._processes: list[HostProcess] = []
        self._port: int | None = None

    async def _spawn(self, command: str, merge_stderr: bool = False) -> HostProcess:
        process = await spawn(self._nursery, ["/bin/sh", "-c", command], self._workdir,
                              self._output_cap, merge_stderr=merge_stderr)
        process.command = command
        self._processes.append(process)
        return process

    async def start_probe(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(GRADER_ROOT)}
        probe = await spawn(self._nursery, [sys.executable, "-m", "grader.probe"],
                            self._workdir, self._output_cap, env=env, drain_stdout=False)
        self._processes.append(probe)
        self.probe = ProbeSession(probe.process.stdin, probe.process.stdout,
                                  lambda: probe.stderr.value().decode(errors="replace")[-2000:])
        await self._nursery.start(self.probe.read_answers)

    async def build(self, role: str, command: str, timeout: float) -> BuildResult:
        completed = await self._run_to_end(command, b"", timeout, merge_stderr=True)
        return BuildResult(role, command, completed.exit_code, completed.duration,
                           completed.stdout.decode(errors="replace"))

    async def start(self, role: str, command: str) -> Program:
        return LocalProgram(await self._spawn(command))

    async def run(self, role: str, command: str, stdin: bytes, timeout: float,
                  pace: float = 0.0) -> Completed:
        return await self._run_to_end(command, stdin, timeout, pace=pace)

    async def _run_to_end(self, command: str, stdin: bytes, timeout: float,
                          merge_stderr: bool = False, pace: float = 0.0) -> Completed:
        started = time.monotonic()
        process = await self._spawn(command, merge_stderr=merge_stderr)
        deadline = trio.move_on_after(timeout)
        try:
            with deadline:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(feed, process.process.stdin, stdin, pace)
                    await process.process.wait()
                    # Output still in the pipe belongs to the run; a grandchild holding
                    # the pipe open must not hold us, so this wait is bounded too.
                    with trio.move_on_after(1.0):
                        await process.drained.wait()
        finally:
            with trio.CancelScope(shield=True):
                await process.stop(grace=0.5)
        stdout, stderr = process.output()
        exit_code = None if deadline.cancelled_caught else process.exit_code
        return Completed(command, exit_code, stdout, stderr, time.monotonic() - started)

    async def server_port(self) -> int:
        if self._port is None:
            candidates = random.sample(SERVER_PORTS, 50)
            self._port = next((p for p in candidates if _port_is_free(p)), None)
            if self._port is None:
                raise OSError("no free TCP port found for the server")
        return self._port

    def socket_owner_inodes(self, program: Program) -> set[int] | None:
        assert isinstance(program, LocalProgram)
        return program.process.socket_inodes()

    async def teardown(self) -> None:
        await self.probe.aclose()
        for process in reversed(self._processes):
            await process.stop(grace=0.5)


class LocalBackend(Backend):
    name = "local"

    def __init__(self, output_cap: int = 64 * 1024) -> None:
        self.output_cap = output_cap

    @asynccontextmanager
    async def open_pod(self, submission_dir: str, label: str) -> AsyncIterator[Pod]:
        scratch = Path(tempfile.mkdtemp(prefix="socket-grader-"))
        try:
            workdir = scratch / "submission"
            # Builds run in this copy, never in the student's own folder.
            shutil.copytree(submission_dir, workdir, symlinks=True)
            async with trio.open_nursery() as nursery:
                pod = LocalPod(nursery, workdir, self.output_cap)
                try:
                    await pod.start_probe()
                    yield pod
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(TEARDOWN_BUDGET):
                        await pod.teardown()
                    nursery.cancel_scope.cancel()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
