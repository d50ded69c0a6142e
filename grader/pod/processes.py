"""Student programs as host processes: own process group, capped output, killed as a group.

Used by the local backend directly; every process the grader starts on the host goes
through `spawn`, so each one can be found and ended on every exit path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import trio


class CappedOutput:
    """Keeps the first `cap` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
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

    @property
    def exit_code(self) -> int | None:
        return self.process.returncode

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    async def stop(self, grace: float) -> None:
        if self.process.returncode is None:
            self.signal_group(signal.SIGTERM)
            with trio.move_on_after(grace):
                await self.process.wait()
        # Always: children it forked may outlive it in the group.
        self.signal_group(signal.SIGKILL)
        with trio.move_on_after(max(grace, 1.0)):
            await self.process.wait()

    def output(self) -> tuple[bytes, bytes]:
        return self.stdout.value(), self.stderr.value()

    def group_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the ')' that ends the command name: state, ppid, pgrp, ...
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == self.process.pid:
                pids.append(int(entry.name))
        return pids

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
                drain_stdout: bool = True) -> HostProcess:
    """Start `argv` in a new session (its own process group), draining its output.

    With `drain_stdout=False` the caller reads `process.stdout` itself.
    """
    process = await trio.lowlevel.open_process(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        start_new_session=True,
    )
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


async def feed(stdin: trio.abc.SendStream, data: bytes, pace: float = 0.0) -> None:
    """Write `data` to a program's stdin and close it; a line at a time with `pace`."""
    chunks = data.splitlines(keepends=True) if pace else [data]
    try:
        async with stdin:
            for index, chunk in enumerate(chunks):
                if index:
                    await trio.sleep(pace)
                await stdin.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # a program may exit without reading all its input
