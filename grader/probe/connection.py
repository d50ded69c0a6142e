"""One connection of the probe's, and the reading and writing done on it: a payload sent
whole or in slices, a reply read up to a delimiter, a length or the end of stream, and
what the kernel already holds for it when a wait ends."""

from __future__ import annotations

import errno
import os
import select
from dataclasses import dataclass, field

import trio

from .messages import Reply

BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        return describe(cause)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass
class Connection:
    index: int
    stream: trio.SocketStream
    local: tuple[str, int]
    buffer: bytearray = field(default_factory=bytearray)
    at_eof: bool = False
    broken: str = ""  # why it can no longer be used (reset, closed by us)

    async def fill(self) -> bool:
        """Read more into the buffer; False at the end of stream."""
        if self.at_eof:
            return False
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            self.at_eof = True
            return False
        self.buffer += chunk
        return True

    def take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def take_in(self, most: int) -> None:
        """Add what the kernel already holds for this connection, without waiting (the
        socket is non-blocking): at a wait's end, bytes that arrived before it count."""
        while not self.at_eof and not self.broken and len(self.buffer) <= most:
            try:
                chunk = os.read(self.stream.socket.fileno(), 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                self.broken = describe(exc)
                return
            if not chunk:
                self.at_eof = True
            self.buffer += chunk


async def send_payload(conn: Connection, payload: bytes, slice_size: int,
                       pause: float) -> str:
    """Send `payload`; the reason it failed, or "" when it went out."""
    if conn.broken:
        return f"connection already unusable ({conn.broken})"
    step = slice_size or len(payload) or 1
    try:
        for offset in range(0, len(payload), step):
            if offset and pause:
                await trio.sleep(pause)
            await conn.stream.send_all(payload[offset:offset + step])
    except BROKEN as exc:
        conn.broken = describe(exc)
        return conn.broken
    return ""


def finished(conn: Connection, until: bytes, length: int, max_bytes: int,
              started: float) -> Reply | None:
    """The connection's reply if its buffer already holds one (or its stream ended)."""
    def reply(outcome: str, data: bytes, error: str = "") -> Reply:
        return Reply(conn.index, outcome, data, error, round(trio.current_time() - started, 4))

    if until and (end := conn.buffer.find(until)) >= 0:
        return reply("complete", conn.take(end + len(until)))
    if length and len(conn.buffer) >= length:
        return reply("complete", conn.take(length))
    if len(conn.buffer) > max_bytes:
        return reply("too-long", conn.take(max_bytes))
    if conn.at_eof:
        data = conn.take(len(conn.buffer))
        return reply("complete" if not until and not length else "eof", data)
    if conn.broken:
        return reply("reset", conn.take(len(conn.buffer)), conn.broken)
    return None


async def read_reply(conn: Connection, until: bytes, length: int, max_bytes: int,
                started: float) -> Reply:
    """Read one reply: up to and including `until`, exactly `length` bytes, or (neither
    given) everything until the end of stream. Bytes after it stay for the next read."""
    if conn.broken:
        return Reply(conn.index, "closed", b"", conn.broken,
                     round(trio.current_time() - started, 4))
    try:
        while (done := finished(conn, until, length, max_bytes, started)) is None:
            await conn.fill()
        return done
    except BROKEN as exc:
        conn.broken = describe(exc)
        return Reply(conn.index, "reset", conn.take(len(conn.buffer)), conn.broken,
                     round(trio.current_time() - started, 4))


def reply_at_wait_end(conn: Connection, until: bytes, length: int, max_bytes: int,
                 started: float) -> Reply:
    """The reply of a connection whose wait ended (deadline, or concluded): what the
    kernel already held for it counts; else it timed out."""
    if not conn.broken:
        conn.take_in(max(max_bytes, length))
        if (done := finished(conn, until, length, max_bytes, started)) is not None:
            return done
    return timed_out(conn, max_bytes, started)


def any_readable(descriptors: list[int]) -> bool:
    """Whether any of these sockets has bytes, an end of stream or an error to read now."""
    poller = select.poll()
    for descriptor in descriptors:
        poller.register(descriptor, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def timed_out(conn: Connection, max_bytes: int, started: float) -> Reply:
    """A connection whose reply did not arrive in time: what part of it had come."""
    return Reply(conn.index, "timeout", bytes(conn.buffer[:max_bytes]), "",
                 round(trio.current_time() - started, 4))
