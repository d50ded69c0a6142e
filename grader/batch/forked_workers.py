"""The batch's side of the forkserver (forkserver.py, run as its own process): each
grading's worker forked from a process that has imported the grader already."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..isolated_python import module_command

MESSAGE_SIZE = 65536  # bytes of a message either way (a worker's argv; a notice)
START_WAIT = 30.0  # seconds the forkserver may take to fork a worker (its start included)
STATUS_WAIT = 2.0  # seconds its notice of a worker's exit may lag the exit itself
UNKNOWN_STATUS = -1


class ForkedWorker:
    """A worker the forkserver forked: what grade_in_worker needs of a trio.Process."""

    def __init__(self, pid: int, pidfd: int, stdio: tuple[int, int, int],
                 statuses: Statuses) -> None:
        self.pid = pid
        self._pidfd: int | None = pidfd  # readable once it ended; closed then
        self.stdin = trio.lowlevel.FdStream(stdio[0])
        self.stdout = trio.lowlevel.FdStream(stdio[1])
        self.stderr = trio.lowlevel.FdStream(stdio[2])
        self._statuses = statuses
        self.returncode: int | None = None

    async def wait(self) -> int:
        """Its exit status, once it ended (UNKNOWN_STATUS if the forkserver never said)."""
        if self.returncode is None:
            if self._pidfd is not None:
                await trio.lowlevel.wait_readable(self._pidfd)
                os.close(self._pidfd)
                self._pidfd = None
            with trio.move_on_after(STATUS_WAIT):
                self.returncode = await self._statuses.of(self.pid)
            if self.returncode is None:
                self.returncode = UNKNOWN_STATUS
        return self.returncode


class Statuses:
    """The workers' exit statuses, as the forkserver reports them."""

    def __init__(self) -> None:
        self._known: dict[int, int] = {}
        self._changed = trio.Event()

    def add(self, pid: int, status: int) -> None:
        self._known[pid] = status
        self._changed.set()
        self._changed = trio.Event()

    async def of(self, pid: int) -> int:
        while pid not in self._known:
            await self._changed.wait()
        return self._known.pop(pid)


class Forkserver:
    """The batch's end of a running forkserver: `start(argv)` forks a worker."""

    def __init__(self, control: trio.socket.SocketType, pid: int) -> None:
        self.pid = pid
        self._control = control
        self._lock = trio.Lock()
        self._started_send, self._started = trio.open_memory_channel[tuple[int, int]](1)
        self._statuses = Statuses()
        self.broken = False

    async def start(self, argv: list[str]) -> ForkedWorker | None:
        """A worker running grader.batch.worker with `argv`; None once the forkserver
        is gone (start the worker the ordinary way then)."""
        stdin, stdout, stderr = os.pipe(), os.pipe(), os.pipe()  # (read, write) each
        theirs = (stdin[0], stdout[1], stderr[1])
        ours = (stdin[1], stdout[0], stderr[0])
        try:
            async with self._lock:
                if self.broken:
                    raise OSError("the forkserver is gone")
                await self._control.sendmsg([json.dumps(argv).encode()], [(
                    socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", theirs))])
                with trio.fail_after(START_WAIT):
                    pid, pidfd = await self._started.receive()
        except (OSError, trio.EndOfChannel, trio.TooSlowError):
            self.broken = True
            for fd in ours:
                os.close(fd)
            return None
        finally:
            for fd in theirs:
                os.close(fd)
        return ForkedWorker(pid, pidfd, ours, self._statuses)

    async def dispatch(self) -> None:
        """Route the forkserver's messages: a started worker to `start`, an exit status
        to the worker waiting for it."""
        with self._started_send:
            while True:
                try:
                    data, ancillary, _, _ = await self._control.recvmsg(
                        MESSAGE_SIZE, socket.CMSG_SPACE(array.array("i", [0]).itemsize))
                except OSError:
                    data = b""
                if not data:
                    self.broken = True
                    return
                try:
                    message = json.loads(data)
                except ValueError:
                    continue
                if "exited" in message:
                    self._statuses.add(message["exited"], message["status"])
                    continue
                fds = array.array("i")
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                await self._started_send.send((message["pid"], fds[0]))


@asynccontextmanager
async def running_forkserver() -> AsyncIterator[Forkserver]:
    """A forkserver for the block, stopped at its end (its lifeline closed)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        process = await trio.lowlevel.open_process(
            module_command("grader.batch.forkserver", str(theirs.fileno())),
            stdin=subprocess.PIPE, pass_fds=(theirs.fileno(),))
    finally:
        theirs.close()
    server = Forkserver(trio.socket.from_stdlib_socket(ours), process.pid)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.dispatch)
            yield server
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            assert process.stdin is not None
            await process.stdin.aclose()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        ours.close()
