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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import trio

from .connection import (
    Connecting,
    Connection,
    Draining,
    Reading,
    Sending,
    Talking,
    any_readable,
    describe,
)
from .driving import Driver, Step
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
    Send,
    Sent,
)

MAX_IN_FLIGHT = 128  # connects under way at once, however large the backlog
POLL = 0.002  # seconds between looks at the accept queue while pacing
UNKNOWN_BACKLOG_WINDOW = 1  # without sock_diag the backlog is unknown: assume the least
STARTS_BETWEEN_YIELDS = 512  # a burst of connects lets the probe's other requests in


class _Opening:
    """One Open request under way: its connections, failures and pacing record."""

    def __init__(self, request: Open, driver: Driver) -> None:
        self.request = request
        self.driver = driver
        self.opened: dict[int, Connection] = {}
        self.errors: dict[str, int] = {}

    def start(self, index: int) -> None:
        request = self.request
        self.driver.start(Connecting(index, request.host, request.port,
                                     request.sources[index % len(request.sources)],
                                     self.record))

    def record(self, step: Connecting) -> None:
        if step.connection is not None:
            self.opened[step.index] = step.connection
        else:
            self.errors[step.error] = self.errors.get(step.error, 0) + 1

    async def burst(self) -> Pacing:
        for index in range(self.request.count):
            self.start(index)
            if index % STARTS_BETWEEN_YIELDS == STARTS_BETWEEN_YIELDS - 1:
                await trio.lowlevel.checkpoint()
        await self.driver.run()
        return Pacing("burst", -1, self.request.count, 0, False, 0, 0.0)

    async def absorbed(self) -> Pacing:
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
            in_flight = self.driver.unfinished
            if started == request.count and not in_flight and (queued == 0
                                                                or not listeners):
                return Pacing("absorbed", backlog, window, waits, False, 0, 0.0)
            room = window - queued - in_flight if started < request.count else 0
            if room > 0:
                for _ in range(min(room, request.count - started)):
                    self.start(started)
                    started += 1
                watch.progress()
                await trio.lowlevel.checkpoint()
                continue
            if watch.stalled(len(self.opened) - queued):
                return Pacing("absorbed", backlog, window, waits, True, queued, 0.0)
            waits += 1
            # wakes early when a connect ends: its room may be free at once
            await self.driver.wait_for_progress(trio.current_time() + POLL)


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
        connections = self._groups.get(request.group, [])
        live = [conn.fd for conn in connections if not conn.at_eof and not conn.broken]
        # A server fed a byte at a time uses next to no CPU: it is waiting on us, not
        # idle, until it has had `quiet` seconds since the last byte we sent it.
        now = trio.current_time()
        fed_lately = any(conn.sending or now - conn.sent_at < request.quiet
                         for conn in connections)
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
        started = trio.current_time()
        pacing = Pacing(request.pacing, -1, 0, 0, False, 0, 0.0)
        with Driver() as driver:
            opening = _Opening(request, driver)
            with trio.move_on_after(request.timeout):
                pacing = await (opening.burst() if request.pacing == "burst"
                                else opening.absorbed())
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
        sendings = [Sending(conn, payload, request.slice_size, request.pause)
                    for conn, payload in zip(connections, request.payloads, strict=False)]
        with trio.move_on_after(request.timeout):
            await _drive(sendings, request.order_seed)
        failed: dict[str, int] = {}
        for sending in sendings:
            if sending.failure:
                failed[sending.failure] = failed.get(sending.failure, 0) + 1
        return Sent(failed)

    async def read(self, request: Read) -> Replies:
        connections = self._chosen(request.group, request.connections)
        lengths = request.lengths or (request.length,) * len(connections)
        started = trio.current_time()
        readings = [Reading(conn, request.until, length, request.max_bytes, started)
                    for conn, length in zip(connections, lengths, strict=False)]
        with self._waiting(request.group, request.timeout):
            await _drive(readings, None)
        return Replies(tuple(reading.at_wait_end() for reading in readings))

    async def exchange(self, request: Exchange) -> Replies:
        connections = self._chosen(request.group, request.connections)
        started = trio.current_time()
        readings = [Reading(conn, request.until, request.length, request.max_bytes, started)
                    for conn in connections]
        talks = [Talking(Sending(conn, payload, request.slice_size, request.pause), reading)
                 for conn, payload, reading in zip(connections, request.payloads, readings,
                                                   strict=False)]
        with self._waiting(request.group, request.timeout):
            if request.order_seed is not None:  # the sends one by one, then every read
                await _drive([talk.sending for talk in talks], request.order_seed)
            await _drive(talks, None)
        return Replies(tuple(talk.at_wait_end() for talk in talks)
                       + tuple(reading.at_wait_end() for reading in readings[len(talks):]))

    async def half_close(self, request: HalfClose) -> Done:
        for conn in self._chosen(request.group, request.connections):
            if not conn.broken:
                try:
                    conn.sock.shutdown(socket.SHUT_WR)
                except OSError as exc:
                    conn.broken = describe(exc)
        await trio.lowlevel.checkpoint()
        return Done()

    async def await_end(self, request: AwaitEnd) -> Ends:
        connections = self._group(request.group)
        broken_before = {conn.index for conn in connections if conn.broken}
        with self._waiting(request.group, request.timeout):
            await _drive([Draining(conn) for conn in connections if not conn.broken], None)
        now = trio.current_time()
        for conn in connections:  # what the kernel held when the wait ended counts
            Draining(conn).advance(now)
        return Ends(tuple(c.index for c in connections if c.at_eof),
                    tuple(c.index for c in connections if not c.at_eof and not c.broken),
                    tuple(c.index for c in connections
                          if c.broken and not c.at_eof and c.index not in broken_before))

    async def abort(self, request: Abort) -> Done:
        for conn in self._chosen(request.group, request.connections):
            if conn.sock.fileno() >= 0:
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            conn.close("reset by the probe")
        await trio.lowlevel.checkpoint()
        return Done()

    async def close(self, request: Close) -> Done:
        for conn in self._groups.pop(request.group, []):
            conn.close("closed by the probe")
        await trio.lowlevel.checkpoint()
        return Done()

    async def close_all(self) -> None:
        for name in list(self._groups):
            await self.close(Close(name))


async def _drive(steps: Sequence[Step], order_seed: int | None) -> None:
    """Advance the steps all at once, or (a seed given) one after another in a shuffled
    order, reproducible from the seed; the caller's cancel scope bounds it."""
    if order_seed is None:
        with Driver() as driver:
            for step in steps:
                driver.start(step)
            await driver.run()
        return
    ordered = list(steps)
    random.Random(order_seed).shuffle(ordered)
    for step in ordered:
        with Driver() as driver:
            driver.start(step)
            await driver.run()
