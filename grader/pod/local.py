"""The local backend: student programs as plain processes on this machine's loopback.

The embedded default when no Docker daemon answers. Good for a student grading their own
code; not a security boundary, so never the choice for code you did not write.

What it does apply: deadlines on every wait, a process group per program (signalled as
a group), rlimits (CPU seconds, file size, open files, no core dumps), capped output,
a copy of the submission that leaves out links leading outside it, and at teardown a
sweep for every process marked with this run's id (see processes.py), which finds a
program that daemonized out of its group. It cannot cap memory, process count or disk
use, nor hide the host's files or network: only the Docker backend does that. With a
user of the student's own (--run-as), every process of that user is killed once the
builds are done and again at the end, and the copy is taken back from it by directory
descriptors (sealing.py). The probe runs isolated (`python -I`) outside the copy.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ..errors import BackendUnavailable, GraderError
from ..results import BuildResult
from .base import Backend, Completed, Pod, Program, running_pod
from .copying import copy_to, plan_copy
from .cpu_time import process_tree_seconds
from .idleness import end_when_idle
from .probe_bundle import local_probe_command
from .probe_session import ProbeSession
from .processes import RUN_MARKER, HostProcess, ResourceLimits, feed, spawn, sweep_run
from .reaping import become_subreaper, kill_adopted, kill_user
from .sealing import hand_over, seal

if TYPE_CHECKING:
    from ..loading.assignment import Assignment

# Ports outside the kernel's ephemeral range, so no client connection can take the
# server's port as its source port while the server is being restarted.
SERVER_PORTS = range(10000, 32768)


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

    @property
    def needed_kill(self) -> bool:
        return self.process.needed_kill

    async def stop(self, grace: float) -> None:
        await self.process.stop(grace)

    async def output(self) -> tuple[bytes, bytes]:
        return self.process.output()

    def cpu_seconds(self) -> float | None:
        # Called from a worker thread: only /proc is read, never the trio process.
        return process_tree_seconds(self.process.process.pid)


class LocalPod(Pod):
    backend = "local"
    sandboxed = False

    def __init__(self, nursery: trio.Nursery, workdir: Path, output_cap: int,
                 limits: ResourceLimits, notes: tuple[str, ...] = (),
                 user: tuple[int, int] | None = None) -> None:
        self._nursery = nursery
        self._user = user
        self.workdir = workdir
        self._output_cap = output_cap
        self._limits = limits
        self._processes: list[HostProcess] = []
        self._port: int | None = None
        self._sealed = False
        self._sealing = trio.Lock()
        self.run_id = f"sg-{uuid.uuid4().hex[:12]}"
        self.notes = notes
        # Inherited by all they start: the teardown sweep finds them by it.
        self._env = {**os.environ, RUN_MARKER: self.run_id}

    async def _spawn(self, role: str, command: str, merge_stderr: bool = False) -> HostProcess:
        process = await spawn(self._nursery, ["/bin/sh", "-c", command], self.workdir,
                              self._output_cap, env={**self._env, "TMPDIR": self._tmp(role)},
                              merge_stderr=merge_stderr, limits=self._limits,
                              user=self._user)
        process.command = command
        self._processes.append(process)
        return process

    async def start_up(self) -> None:
        # A program that escapes its process group (double fork, setsid, a cleared
        # environment) is then adopted by this process, and found at teardown.
        become_subreaper()
        if self._user is not None:  # builds write as the student's user
            await trio.to_thread.run_sync(hand_over, self.workdir, *self._user)
        # In our scratch folder, which no student's program can write (the copy can be).
        probe = await spawn(self._nursery, local_probe_command(), self.workdir.parent,
                            self._output_cap, env=self._env, drain_stdout=False)
        self._processes.append(probe)
        self.probe = ProbeSession(probe.process.stdin, probe.process.stdout,
                                  lambda: probe.stderr.value().decode(errors="replace")[-2000:])
        await self._nursery.start(self.probe.read_answers)

    async def build(self, role: str, command: str, timeout: float) -> BuildResult:
        completed = await self._run_to_end(f"build-{role}", command, b"", timeout,
                                           merge_stderr=True)
        return BuildResult(role, command, completed.exit_code, completed.duration,
                           completed.stdout.decode(errors="replace"))

    async def start(self, role: str, command: str) -> Program:
        await self._seal()
        return LocalProgram(await self._spawn(role, command))

    async def run(self, role: str, command: str, stdin: bytes, timeout: float,
                  pace: float = 0.0, idle_with: Program | None = None) -> Completed:
        await self._seal()
        return await self._run_to_end(role, command, stdin, timeout, pace=pace,
                                      idle_with=idle_with)

    def _tmp(self, role: str) -> str:
        """The role's own temporary folder (TMPDIR), as a pod's role has its /tmp: the
        copies of the client share one, the server never sees it. Only a convention
        here: a program that writes to /tmp itself shares the machine's."""
        folder = self.workdir.parent / f"tmp-{role.removeprefix('build-')}"
        if not folder.exists():
            folder.mkdir(mode=0o700)
            if self._user is not None:
                os.chown(folder, *self._user)
        return str(folder)

    async def _seal(self) -> None:
        """Once the builds are done, the programs run with the submission read-only, as
        in a Docker pod (a program writing into its folder fails the same way on both).
        Without a user of their own it is only a convention: the programs run as our
        user and could undo it. With one, whatever the builds left running as that user
        (a daemon) is killed first, so nothing changes the copy while it is sealed."""
        async with self._sealing:  # clients started at once: each waits for the seal
            if self._sealed:
                return
            # With a user of the student's, what the builds left running goes first; one
            # forking faster than we kill leaves the copy unsealed, and ungraded.
            if self._user is not None and not await trio.to_thread.run_sync(
                    kill_user, self._user[0]):
                raise GraderError(
                    f"processes of the student's user (uid {self._user[0]}) kept running "
                    "after the builds, through every round of SIGSTOP and SIGKILL: the "
                    "submission is not graded")
            await trio.to_thread.run_sync(seal, self.workdir, self._user)
            self._sealed = True

    async def _run_to_end(self, role: str, command: str, stdin: bytes, timeout: float,
                          merge_stderr: bool = False, pace: float = 0.0,
                          idle_with: Program | None = None) -> Completed:
        started = time.monotonic()
        process = await self._spawn(role, command, merge_stderr=merge_stderr)
        deadline = trio.move_on_after(timeout)
        fed, ended_idle = trio.Event(), []

        async def feed_all() -> None:
            await feed(process.process.stdin, stdin, pace, process.stdout)
            fed.set()

        try:
            with deadline:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(feed_all)
                    if idle_with is not None:
                        nursery.start_soon(end_when_idle, deadline, fed, (
                            LocalProgram(process).cpu_seconds, idle_with.cpu_seconds),
                            ended_idle)
                    await process.process.wait()
                    # Output still in the pipe belongs to the run; a grandchild holding
                    # the pipe open must not hold us, so this wait is bounded too.
                    with trio.move_on_after(1.0):
                        await process.drained.wait()
                    nursery.cancel_scope.cancel()  # the idle watch; input it no longer reads
        finally:
            with trio.CancelScope(shield=True):
                await process.stop(grace=0.5)
        stdout, stderr = process.output()
        exit_code = None if deadline.cancelled_caught else process.exit_code
        return Completed(command, exit_code, stdout, stderr, time.monotonic() - started,
                         sum(ended_idle))

    async def add_files(self, folder: str, files: Mapping[str, bytes]) -> str:
        root = self.workdir / folder
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return str(root)

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
        try:
            await self.probe.aclose()
            for process in reversed(self._processes):
                await process.stop(grace=0.5)
            # Whatever left its process group (a daemon: double fork and setsid): found
            # by its marker, or, marker cleared, adopted by this process.
            await trio.to_thread.run_sync(sweep_run, self.run_id)
        finally:
            await trio.to_thread.run_sync(kill_adopted)
            if self._user is not None:  # a user that runs nothing but this grading
                await trio.to_thread.run_sync(kill_user, self._user[0])


class LocalBackend(Backend):
    name = "local"
    sandboxed = False

    def __init__(self, output_cap: int = 64 * 1024,
                 limits: ResourceLimits | None = None, run_as: str | None = None) -> None:
        """With `run_as` (a user name; the grader must be root), the student's programs
        run as that user, and once the builds are done and at the end of each grading,
        every process of that user is killed: give it a user that runs nothing else
        (Gradescope's export does)."""
        self.output_cap = output_cap
        self.limits = limits or ResourceLimits()
        self.user = _identity(run_as) if run_as else None

    @classmethod
    def for_assignment(cls, assignment: Assignment, image: str | None = None,
                       engine_url: str | None = None, run_as: str | None = None) -> LocalBackend:
        return cls(assignment.limits.output_cap, run_as=run_as)

    @asynccontextmanager
    async def open_pod(self, submission_dir: str, label: str) -> AsyncIterator[Pod]:
        plan = plan_copy(submission_dir)  # refuses an oversized one before any copying
        scratch = Path(tempfile.mkdtemp(prefix="socket-grader-"))
        if self.user is not None:
            scratch.chmod(0o711)  # the student's user may pass through, not look around
        try:
            workdir = scratch / "submission"
            # Builds run in this copy, never in the student's own folder.
            copy_to(plan, workdir)
            async with running_pod(lambda nursery: LocalPod(
                    nursery, workdir, self.output_cap, self.limits, tuple(plan.notes),
                    self.user)) as pod:
                yield pod
        finally:
            _remove_tree(scratch)


def _identity(name: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise BackendUnavailable(f"--run-as {name}: no such user") from None
    if os.geteuid() != 0:
        raise BackendUnavailable(f"--run-as {name}: only root can run programs as another "
                                 "user")
    if entry.pw_uid == 0:
        raise BackendUnavailable(f"--run-as {name}: that is root; give an unprivileged user")
    return entry.pw_uid, entry.pw_gid


def _remove_tree(folder: Path) -> None:
    """Remove a work folder even where a program took away its own write permission."""
    def writable_then_retry(function, path, _exc_info) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)

    shutil.rmtree(folder, onerror=writable_then_retry)
