"""The recording server: what the student's clients talk to.

It notes each connection's four-tuple and everything the client sends, and holds every
connection at a barrier (no answer) until the expected number of clients are connected
at once, so that concurrent clients really overlap. Then it answers until each client
closes: it mirrors what arrives, or, given a table, answers each request (read up to a
delimiter) with the table's entry for the request's key.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass, field

import trio

from .messages import RecordedConnection, Recording, RecordStart

MAX_RECORDED = 256 * 1024


@dataclass
class Recorded:
    peer: tuple[str, int]
    local: tuple[str, int]
    arrived_after: float
    received: bytearray = field(default_factory=bytearray)
    closed_by_client: bool = False


class Recorder:
    def __init__(self, request: RecordStart) -> None:
        self.expected = request.expected
        self.barrier_timeout = request.barrier_timeout
        self.rules = request
        self.connections: list[Recorded] = []
        self.barrier = trio.Event()
        self.barrier_reached = False
        self.finished = trio.Event()
        self.port = 0
        self._started = trio.current_time()

    async def run(self, listener: trio.SocketListener, idle_timeout: float,
                  task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._release_barrier_at_deadline)
                with trio.move_on_after(self.barrier_timeout + idle_timeout):
                    async with trio.open_nursery() as serving:
                        serving.start_soon(self._accept_until_barrier, listener, serving)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
            self.finished.set()

    async def _release_barrier_at_deadline(self) -> None:
        with trio.move_on_after(self.barrier_timeout):
            await self.barrier.wait()
        self.barrier.set()

    async def _accept_until_barrier(self, listener: trio.SocketListener,
                                    serving: trio.Nursery) -> None:
        # Accepting stops once the barrier falls (all arrived, its deadline passed, or
        # the grader released it): later clients are not part of the overlap measured.
        async with trio.open_nursery() as accepting:
            accepting.start_soon(self._stop_at_barrier, accepting.cancel_scope)
            with trio.move_on_after(self.barrier_timeout):
                while len(self.connections) < self.expected:
                    stream = await listener.accept()
                    peer = stream.socket.getpeername()[:2]
                    local = stream.socket.getsockname()[:2]
                    record = Recorded((peer[0], peer[1]), (local[0], local[1]),
                                      trio.current_time() - self._started)
                    self.connections.append(record)
                    serving.start_soon(self._serve, stream, record)
                self.barrier_reached = True
                self.barrier.set()
            accepting.cancel_scope.cancel()

    async def _stop_at_barrier(self, accepting: trio.CancelScope) -> None:
        await self.barrier.wait()
        accepting.cancel()

    async def _serve(self, stream: trio.SocketStream, record: Recorded) -> None:
        # A bounded channel: a client that floods before the barrier is held back by
        # TCP flow control instead of filling the probe's memory.
        send_channel, receive_channel = trio.open_memory_channel[bytes](256)

        async def answer_after_barrier() -> None:
            await self.barrier.wait()
            async with receive_channel:
                if not self.rules.until:  # mirror
                    async for chunk in receive_channel:
                        await stream.send_all(chunk)
                    return
                pending = bytearray()
                async for chunk in receive_channel:
                    pending += chunk
                    while (end := pending.find(self.rules.until)) >= 0:
                        request = bytes(pending[:end + len(self.rules.until)])
                        del pending[:end + len(self.rules.until)]
                        await stream.send_all(self._answer(request))
                        if self.rules.close:
                            await stream.send_eof()
                            return

        async with stream:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(answer_after_barrier)
                    async with send_channel:
                        while chunk := await stream.receive_some(65536):
                            room = MAX_RECORDED - len(record.received)
                            record.received += chunk[:room]
                            with contextlib.suppress(trio.BrokenResourceError):
                                await send_channel.send(chunk)  # unless answering ended
                record.closed_by_client = True
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                record.closed_by_client = True

    def _answer(self, request: bytes) -> bytes:
        found = re.search(self.rules.key, request) if self.rules.key else None
        key = found.group(1).decode("latin-1") if found else ""
        return self.rules.table.get(key, self.rules.missing)

    def result(self) -> Recording:
        return Recording(
            self.port, self.expected, self.barrier_reached, self.finished.is_set(),
            tuple(RecordedConnection(c.peer, c.local, round(c.arrived_after, 4),
                                     bytes(c.received), c.closed_by_client)
                  for c in self.connections))


async def open_recording_listener(host: str, port: int) -> trio.SocketListener:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    await sock.bind((host, port))
    sock.listen(1024)
    return trio.SocketListener(sock)
