"""The probe's groups of client connections: opened at a pace, written, read, closed.

Nothing here knows a protocol. A group is opened from chosen source IPs (the kernel
picks each source port), and then each operation works on every connection of the
group at once, under one deadline: send given bytes (whole, or in slices with pauses,
or one connection after another in a shuffled order), read until a delimiter, a length
or the end of stream, half-close, reset, or wait for the peer to close.
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import trio

from .connection import (
    BROKEN,
    Connection,
    any_readable,
    describe,
    read_reply,
    reply_at_wait_end,
    send_payload,
)
from .kernel import read_listeners
from .messages import (
    Abort,
    AwaitEnd,
    Close,
    Conclude,
    Concluded,
    Done,
    Ends,
    Exchange,
    HalfClose,
    Open,
    Opened,
    Pacing,
    Read,
    Replies,
    Reply,
    Send,
    Sent,
)

MAX_IN_FLIGHT = 128  # connects under way at once, however large the backlog
POLL = 0.002  # seconds between looks at the accept queue while pacing
UNKNOWN_BACKLOG_WINDOW = 1  # without sock_diag the backlog is unknown: assume the least


async def _connect(host: str, port: int, source: str) -> trio.SocketStream:
    sock = trio.socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                              socket.SOCK_STREAM)
    try:
        await sock.bind((source, 0))  # port 0: the kernel picks the ephemeral port
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


class _Opening:
    """One Open request under way: its connections, failures and pacing record."""

    def __init__(self, request: Open) -> None:
        self.request = request
        self.opened: dict[int, Connection] = {}
        self.errors: dict[str, int] = {}
        self.in_flight = 0

    async def connect(self, index: int) -> None:
        request = self.request
        try:
            stream = await _connect(request.host, request.port,
                                    request.sources[index % len(request.sources)])
        except OSError as exc:
            reason = describe(exc)
            self.errors[reason] = self.errors.get(reason, 0) + 1
            return
        finally:
            self.in_flight -= 1
        local = stream.socket.getsockname()
        self.opened[index] = Connection(index, stream, (local[0], local[1]))

    def start(self, nursery: trio.Nursery, index: int) -> None:
        self.in_flight += 1
        nursery.start_soon(self.connect, index)

    async def burst(self, nursery: trio.Nursery) -> Pacing:
        for index in range(self.request.count):
            self.start(nursery, index)
        return Pacing("burst", -1, self.request.count, 0, False, 0, 0.0)

    async def absorbed(self, nursery: trio.Nursery) -> Pacing:
        """Start connects only while the accept queue has room: waiting connections never
        exceed what the listener's backlog holds, so none is dropped. The kernel keeps
        backlog + 1 completed connections; one slot stays spare. Then wait until the
        server has accepted every one of them."""
        request = self.request
        listeners, _ = read_listeners(request.port)
        backlog = sum(item.backlog for item in listeners) if listeners and all(
            item.backlog >= 0 for item in listeners) else -1
        window = min(MAX_IN_FLIGHT, max(1, backlog) if backlog >= 0
                     else UNKNOWN_BACKLOG_WINDOW)
        started = waits = 0
        watch = _AcceptWatch(request.stall_timeout)
        while True:
            listeners, _ = read_listeners(request.port)
            queued = sum(item.queued for item in listeners)
            if started == request.count and not self.in_flight and (queued == 0
                                                                     or not listeners):
                return Pacing("absorbed", backlog, window, waits, False, 0, 0.0)
            room = window - queued - self.in_flight if started < request.count else 0
            if room > 0:
                for _ in range(min(room, request.count - started)):
                    self.start(nursery, started)
                    started += 1
                watch.progress()
                await trio.sleep(0)
                continue
            if watch.stalled(len(self.opened) - queued):
                return Pacing("absorbed", backlog, window, waits, True, queued, 0.0)
            waits += 1
            await trio.sleep(POLL)


class _AcceptWatch:
    """Whether the server is still accepting: it counts as stalled once the number it
    accepted has not grown for `limit` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.accepted = -1
        self.since = trio.current_time()

    def progress(self) -> None:
        self.since = trio.current_time()

    def stalled(self, accepted: int) -> bool:
        if accepted > self.accepted:
            self.accepted = accepted
            self.progress()
            return False
        return trio.current_time() - self.since > self.limit


class ConnectionGroups:
    """The probe's named groups of open connections."""

    def __init__(self) -> None:
        self._groups: dict[str, list[Connection]] = {}
        self._waits: dict[str, set[trio.CancelScope]] = {}
        self._sends: dict[str, int] = {}  # sends under way, per group
        self._sent_at: dict[str, float] = {}  # when the last of them ended

    async def _send(self, group: str, conn: Connection, payload: bytes, slice_size: int,
                    pause: float) -> str:
        """send_payload, noting that the group is being written to (see conclude)."""
        self._sends[group] = self._sends.get(group, 0) + 1
        try:
            return await send_payload(conn, payload, slice_size, pause)
        finally:
            self._sends[group] -= 1
            self._sent_at[group] = trio.current_time()

    @contextmanager
    def _waiting(self, group: str, timeout: float) -> Iterator[None]:
        """A wait on the group's connections: ends at `timeout`, or when concluded."""
        scope = trio.move_on_after(timeout)
        waits = self._waits.setdefault(group, set())
        waits.add(scope)
        try:
            with scope:
                yield
        finally:
            waits.discard(scope)

    async def conclude(self, request: Conclude) -> Concluded:
        waits = self._waits.get(request.group, set())
        live = [conn.stream.socket.fileno() for conn in self._groups.get(request.group, ())
                if not conn.at_eof and not conn.broken]
        # A server fed a byte at a time uses next to no CPU: it is waiting on us, not
        # idle, until it has had `quiet` seconds since the last byte we sent it.
        fed_lately = (self._sends.get(request.group, 0) > 0 or trio.current_time()
                      - self._sent_at.get(request.group, -request.quiet) < request.quiet)
        if not waits or fed_lately or any_readable(live):
            return Concluded(0)
        for scope in waits:
            scope.cancel()
        return Concluded(len(waits))

    def _group(self, name: str) -> list[Connection]:
        try:
            return self._groups[name]
        except KeyError:
            raise ValueError(f"no connection group named {name!r}") from None

    def _chosen(self, name: str, indexes: tuple[int, ...]) -> list[Connection]:
        group = self._group(name)
        if not indexes:
            return group
        by_index = {conn.index: conn for conn in group}
        return [by_index[i] for i in indexes if i in by_index]

    async def open(self, request: Open) -> Opened:
        if request.group in self._groups:
            raise ValueError(f"connection group {request.group!r} is already open")
        opening = _Opening(request)
        started = trio.current_time()
        pacing = Pacing(request.pacing, -1, 0, 0, False, 0, 0.0)
        with trio.move_on_after(request.timeout):
            async with trio.open_nursery() as nursery:
                pace = opening.burst if request.pacing == "burst" else opening.absorbed
                pacing = await pace(nursery)
        connections = [opening.opened[i] for i in sorted(opening.opened)]
        self._groups[request.group] = connections
        errors = dict(opening.errors)
        missing = request.count - len(connections) - sum(errors.values())
        if missing:
            why = ("not started: the server accepted nothing for "
                   f"{request.stall_timeout:g} s" if pacing.stalled
                   else "timed out connecting")
            errors[why] = missing
        pacing = Pacing(pacing.mode, pacing.backlog, pacing.window, pacing.waits,
                        pacing.stalled, pacing.unaccepted,
                        round(trio.current_time() - started, 3))
        return Opened(len(connections), errors, tuple(c.local for c in connections), pacing)

    async def send(self, request: Send) -> Sent:
        connections = self._chosen(request.group, request.connections)
        failed: dict[str, int] = {}

        async def send_one(conn: Connection, payload: bytes) -> None:
            if reason := await self._send(request.group, conn, payload, request.slice_size,
                                          request.pause):
                failed[reason] = failed.get(reason, 0) + 1

        with trio.move_on_after(request.timeout):
            await _each(connections, request.payloads, request.order_seed, send_one)
        return Sent(failed)

    async def read(self, request: Read) -> Replies:
        connections = self._chosen(request.group, request.connections)
        lengths = request.lengths or (request.length,) * len(connections)
        started = trio.current_time()
        replies: dict[int, Reply] = {}

        async def read_one(conn: Connection, length: int) -> None:
            replies[conn.index] = await read_reply(conn, request.until, length,
                                                   request.max_bytes, started)

        with self._waiting(request.group, request.timeout):
            async with trio.open_nursery() as nursery:
                for conn, length in zip(connections, lengths, strict=False):
                    nursery.start_soon(read_one, conn, length)
        return Replies(tuple(replies.get(c.index) or reply_at_wait_end(
            c, request.until, length, request.max_bytes, started)
            for c, length in zip(connections, lengths, strict=False)))

    async def exchange(self, request: Exchange) -> Replies:
        connections = self._chosen(request.group, request.connections)
        started = trio.current_time()
        replies: dict[int, Reply] = {}

        async def send_one(conn: Connection, payload: bytes) -> None:
            if reason := await self._send(request.group, conn, payload, request.slice_size,
                                          request.pause):
                replies[conn.index] = Reply(conn.index, "send-failed", b"", reason,
                                            trio.current_time() - started)

        async def read_one(conn: Connection) -> None:
            if conn.index not in replies:
                replies[conn.index] = await read_reply(
                    conn, request.until, request.length, request.max_bytes, started)

        async def talk(conn: Connection, payload: bytes) -> None:
            await send_one(conn, payload)
            await read_one(conn)

        with self._waiting(request.group, request.timeout):
            if request.order_seed is None:
                await _each(connections, request.payloads, None, talk)
            else:
                await _each(connections, request.payloads, request.order_seed, send_one)
                async with trio.open_nursery() as nursery:
                    for conn in connections:
                        nursery.start_soon(read_one, conn)
        return Replies(tuple(replies.get(c.index) or reply_at_wait_end(
            c, request.until, request.length, request.max_bytes, started)
            for c in connections))

    async def half_close(self, request: HalfClose) -> Done:
        for conn in self._chosen(request.group, request.connections):
            if not conn.broken:
                try:
                    await conn.stream.send_eof()
                except BROKEN as exc:
                    conn.broken = describe(exc)
        return Done()

    async def await_end(self, request: AwaitEnd) -> Ends:
        connections = self._group(request.group)
        reset: list[int] = []

        async def drain(conn: Connection) -> None:
            try:
                while await conn.fill():
                    conn.buffer.clear()  # what still comes is not evidence here
            except BROKEN as exc:
                conn.broken = describe(exc)
                reset.append(conn.index)

        with self._waiting(request.group, request.timeout):
            async with trio.open_nursery() as nursery:
                for conn in connections:
                    if not conn.broken:
                        nursery.start_soon(drain, conn)
        for conn in connections:
            if not conn.at_eof and not conn.broken:
                conn.take_in(0)
                conn.buffer.clear()
                if conn.broken:
                    reset.append(conn.index)
        return Ends(tuple(c.index for c in connections if c.at_eof),
                    tuple(c.index for c in connections if not c.at_eof and not c.broken),
                    tuple(sorted(reset)))

    async def abort(self, request: Abort) -> Done:
        for conn in self._chosen(request.group, request.connections):
            conn.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
            conn.broken = "reset by the probe"
            await conn.stream.aclose()
        return Done()

    async def close(self, request: Close) -> Done:
        for conn in self._groups.pop(request.group, []):
            await conn.stream.aclose()
        return Done()

    async def close_all(self) -> None:
        for name in list(self._groups):
            await self.close(Close(name))


async def _each(connections: list[Connection], payloads: tuple[bytes, ...],
                order_seed: int | None,
                action: Callable[[Connection, bytes], Awaitable[None]]) -> None:
    """`action` on every connection with its payload: all at once, or one after another
    in a shuffled order (reproducible from the seed)."""
    pairs = list(zip(connections, payloads, strict=False))
    if order_seed is not None:
        random.Random(order_seed).shuffle(pairs)
        for conn, payload in pairs:
            await action(conn, payload)
        return
    async with trio.open_nursery() as nursery:
        for conn, payload in pairs:
            nursery.start_soon(action, conn, payload)


