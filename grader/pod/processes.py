"""Student programs as host processes: own process group, capped output, killed as a group.

Used by the local backend directly; every process the grader starts on the host goes
through `spawn`, so each one can be found and ended on every exit path:
- each starts in a session (process group) of its own, signalled as a group;
- each carries `SOCKET_GRADER_RUN=<run id>` in its environment, which whatever it starts
  inherits, so `sweep_run` finds a program that left its group too (a double-forked
  daemon calling setsid), by reading /proc/*/environ;
- each gets resource limits set in the child before exec (`ResourceLimits`): CPU seconds,
  file size, open files, no core dumps. Not PR_SET_PDEATHSIG: trio starts processes from
  worker threads, and that signal fires when the *thread* ends, not the grader.

None of this is a sandbox: the programs still run as the grader's user on the host.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from .reaping import SPAWNS, process_files, stat_fields

RUN_MARKER = "SOCKET_GRADER_RUN"


@dataclass(frozen=True)
class ResourceLimits:
    """rlimits for a student process on the host (each is per process, inherited)."""

    cpu_seconds: int = 600  # a runaway loop dies of SIGXCPU; a server idles most of a run
    file_size: int = 64 * 1024 * 1024  # no single file bigger (SIGXFSZ / EFBIG)
    open_files: int = 16384  # at least 4096 where the hard limit allows: 500+ clients
    core_size: int = 0

    def apply(self) -> None:
        """Set the limits in the calling process (the child, between fork and exec).
        Async-signal-safe enough: only setrlimit/getrlimit system calls."""
        for kind, value in ((resource.RLIMIT_CPU, self.cpu_seconds),
                            (resource.RLIMIT_FSIZE, self.file_size),
                            (resource.RLIMIT_CORE, self.core_size)):
            _set_limit(kind, value)
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        files = self.open_files if hard == resource.RLIM_INFINITY else min(self.open_files, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))


def _set_limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    # The hard limit too, so the program cannot raise its own soft limit back up. The CPU
    # hard limit is a little higher: SIGXCPU at the soft limit, SIGKILL at the hard one.
    top = value + 5 if kind == resource.RLIMIT_CPU else value
    if hard != resource.RLIM_INFINITY:
        top = min(top, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (value, top))


class CappedOutput:
    """Keeps the first `cap` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0
        self.lines = 0  # newlines seen, kept or not: how many lines the program printed

    def add(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\n")
        room = self.cap - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)

    def value(self) -> bytes:
        if self.dropped:
            return bytes(self.data) + f"\n[... {self.dropped} more bytes not kept]\n".encode()
        return bytes(self.data)


class HostProcess:
    """One student program (and whatever it forks) on the host."""

    def __init__(self, command: str, process: trio.Process, stdout: CappedOutput,
                 stderr: CappedOutput) -> None:
        self.command = command
        self.process = process
        self.stdout = stdout
        self.stderr = stderr
        self.drained = trio.Event()
        self.needed_kill = False  # True once it outlived SIGTERM and got SIGKILL

    @property
    def exit_code(self) -> int | None:
        return self.process.returncode

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    async def stop(self, grace: float) -> None:
        if self.process.returncode is None or self.live_group_pids():
            self.signal_group(signal.SIGTERM)
            # The grace is for the whole group: `sh -c` dies at once, its child may not.
            with trio.move_on_after(grace):
                await self.process.wait()
                while self.live_group_pids():
                    await trio.sleep(0.05)
            self.needed_kill = self.process.returncode is None or bool(self.live_group_pids())
        # Always: children it forked may outlive it in the group.
        self.signal_group(signal.SIGKILL)
        with trio.move_on_after(max(grace, 1.0)):
            await self.process.wait()
        if self.process.returncode is not None:
            SPAWNS.ended(self.process.pid)

    def output(self) -> tuple[bytes, bytes]:
        return self.stdout.value(), self.stderr.value()

    def group_pids(self) -> list[int]:
        return [pid for pid, stat in process_files("stat")
                if int(stat_fields(stat)[2]) == self.process.pid]

    def live_group_pids(self) -> list[int]:
        """The group's processes that have not ended (zombies left out)."""
        live = []
        for pid in self.group_pids():
            try:
                state = stat_fields(Path(f"/proc/{pid}/stat").read_text())[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                live.append(pid)
        return live

    def socket_inodes(self) -> set[int]:
        inodes = set()
        for pid in self.group_pids():
            fd_dir = Path(f"/proc/{pid}/fd")
            try:
                links = [os.readlink(fd) for fd in fd_dir.iterdir()]
            except OSError:
                continue
            inodes.update(int(link[8:-1]) for link in links if link.startswith("socket:["))
        return inodes


async def _drain(stream: trio.abc.ReceiveStream, sink: CappedOutput) -> None:
    async with stream:
        try:
            while chunk := await stream.receive_some(65536):
                sink.add(chunk)
        except trio.BrokenResourceError:
            pass


async def spawn(nursery: trio.Nursery, argv: list[str], cwd: Path, output_cap: int,
                env: dict[str, str] | None = None, merge_stderr: bool = False,
                drain_stdout: bool = True, limits: ResourceLimits | None = None,
                user: tuple[int, int] | None = None) -> HostProcess:
    """Start `argv` in a new session (its own process group), draining its output.

    With `drain_stdout=False` the caller reads `process.stdout` itself. With `limits`,
    they are applied in the child before it runs `argv`; with `user` (uid, gid: root
    only), it runs as that user, with no supplementary groups.
    """
    identity = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    with SPAWNS.starting():  # not an escapee while it starts (see reaping.Spawns)
        process = await trio.lowlevel.open_process(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True,
            preexec_fn=limits.apply if limits is not None else None,
            **identity,
        )
        SPAWNS.started(process.pid)
    host_process = HostProcess(" ".join(argv), process, CappedOutput(output_cap),
                               CappedOutput(output_cap))

    async def drain_both() -> None:
        async with trio.open_nursery() as drains:
            if drain_stdout:
                drains.start_soon(_drain, process.stdout, host_process.stdout)
            if process.stderr is not None:
                drains.start_soon(_drain, process.stderr, host_process.stderr)
        host_process.drained.set()

    nursery.start_soon(drain_both)
    return host_process


PATIENCE = 0.5  # seconds paced input waits for the answer to a line before the next


async def write_paced(stream: trio.abc.SendStream, data: bytes, pace: float = 0.0,
                      printed: CappedOutput | None = None) -> None:
    """Write `data` to a program's input: all at once, or, with `pace`, a line at a time
    as a person would type it: each line once the program has printed its answer to the
    line before (one more line on `printed`; at most PATIENCE seconds' wait, for a
    program that holds its output back), and at least `pace` seconds after it. So what
    the program sends on never piles up, however slow the machine: a server reading
    one message per recv() gets one line per recv(). The caller ends the input."""
    chunks = data.splitlines(keepends=True) if pace else [data]
    for index, chunk in enumerate(chunks):
        if index:
            await trio.sleep(pace)
            if printed is not None:
                with trio.move_on_after(PATIENCE):
                    while printed.lines < index:
                        await trio.sleep(0.01)
        await stream.send_all(chunk)


async def feed(stdin: trio.abc.SendStream, data: bytes, pace: float = 0.0,
               printed: CappedOutput | None = None) -> None:
    """Write `data` to a program's stdin pipe (see write_paced) and close it."""
    try:
        async with stdin:
            await write_paced(stdin, data, pace, printed)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # a program may exit without reading all its input


def marked_pids(run_id: str) -> list[int]:
    """Live processes whose environment carries this run's marker (not this process)."""
    needle = f"{RUN_MARKER}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep_run(run_id: str, passes: int = 20, budget: float = 5.0) -> list[int]:
    """Kill every process still marked with `run_id`; returns the pids that were found.

    Each pass stops (SIGSTOP) what it finds first, so a process cannot fork new ones
    while the sweep goes on, then kills them all once a pass finds nothing new. Bounded
    in passes and time. Zombies have an empty environ and are not found: their parents
    (killed here, or the grader) reap them.
    """
    seen: set[int] = set()
    deadline = time.monotonic() + budget
    for _ in range(passes):
        new = [pid for pid in marked_pids(run_id) if pid not in seen]
        if not new or time.monotonic() > deadline:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        seen.update(new)
    for pid in seen:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return sorted(seen)
