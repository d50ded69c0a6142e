"""One connection of the probe's, and the steps an operation takes on it: opening it,
sending a payload whole or in slices with pauses, reading a reply up to a delimiter, a
length or the end of stream, draining it until the peer closes. Each step is a small
state machine over a non-blocking socket, advanced by a driving.Driver."""

from __future__ import annotations

import errno
import math
import os
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from .driving import DONE, LATER, READABLE, WRITABLE
from .messages import Reply

CHUNK = 65536
DRAIN_READS_AT_ONCE = 16  # then the driver yields: a peer that floods us cannot hold it


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        return describe(cause)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _elapsed(started: float) -> float:
    return round(trio.current_time() - started, 4)


@dataclass(eq=False)
class Connection:
    index: int
    sock: socket.socket  # non-blocking
    local: tuple[str, int]
    buffer: bytearray = field(default_factory=bytearray)
    at_eof: bool = False
    broken: str = ""  # why it can no longer be used (reset, closed by us)
    sending: bool = False  # a send to it is under way
    sent_at: float = -math.inf  # when it last took bytes from us

    def __post_init__(self) -> None:
        self.fd = self.sock.fileno()

    def receive_now(self) -> bool:
        """One read of what the kernel holds, without waiting: whether anything came
        (bytes, the end of stream, or the error that broke the connection)."""
        try:
            chunk = self.sock.recv(CHUNK)
        except BlockingIOError:
            return False
        except OSError as exc:
            self.broken = describe(exc)
            return True
        if chunk:
            self.buffer += chunk
        else:
            self.at_eof = True
        return True

    def take_in(self, most: int) -> None:
        """Add what the kernel already holds, up to about `most` bytes: at a wait's end,
        bytes that arrived before it count."""
        while (not self.at_eof and not self.broken and len(self.buffer) <= most
               and self.receive_now()):
            pass

    def take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def close(self, why: str) -> None:
        self.broken = why
        self.sock.close()


class Connecting:
    """A connection being opened to (host, port) from `source`; the kernel picks its
    port. Ends with `connection` set, or with `error` saying why it failed."""

    resume_at = math.inf

    def __init__(self, index: int, host: str, port: int, source: str,
                 on_end: Callable[[Connecting], None]) -> None:
        self.index = index
        self._on_end = on_end
        self.fd = -1
        self.connection: Connection | None = None
        self.error = ""
        self._sock: socket.socket | None = None
        self._target = (host, port)
        self._source = source

    def advance(self, now: float) -> int:
        try:
            if self._sock is None:
                family = socket.AF_INET6 if ":" in self._target[0] else socket.AF_INET
                self._sock = socket.socket(family, socket.SOCK_STREAM)
                self.fd = self._sock.fileno()
                self._sock.setblocking(False)
                # each slice leaves at once, as sent: a pause between slices is the
                # check's, never Nagle's wait for an acknowledgement
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sock.bind((self._source, 0))  # port 0: the kernel picks it
                code = self._sock.connect_ex(self._target)
                if code == errno.EINPROGRESS:
                    return WRITABLE
            else:
                code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            local = self._sock.getsockname()
        except OSError as exc:
            self.error = describe(exc)
            self.abandon()
        else:
            self.connection = Connection(self.index, self._sock, (local[0], local[1]))
        self._on_end(self)
        return DONE

    def abandon(self) -> None:
        if self._sock is not None and self.connection is None:
            self._sock.close()


class Sending:
    """`payload` sent on a connection, whole or in slices of `slice_size` with `pause`
    seconds between them. Ends with `failure` empty when it all went out."""

    def __init__(self, conn: Connection, payload: bytes, slice_size: int,
                 pause: float) -> None:
        self.conn = conn
        self.fd = conn.fd
        self.resume_at = -math.inf
        self.failure = ""
        self.finished = False
        self._data = memoryview(payload)
        self._sent = 0
        self._slice = slice_size or len(payload) or 1
        self._pause = pause

    def advance(self, now: float) -> int:
        conn = self.conn
        conn.sending = True
        if conn.broken:
            reason = (conn.broken if self._sent
                      else f"connection already unusable ({conn.broken})")
            return self._finish(reason)
        while self._sent < len(self._data):
            if self.resume_at > now:
                return LATER
            end = min(len(self._data), (self._sent // self._slice + 1) * self._slice)
            try:
                self._sent += conn.sock.send(self._data[self._sent:end])
            except BlockingIOError:
                return WRITABLE
            except OSError as exc:
                conn.broken = describe(exc)
                return self._finish(conn.broken)
            conn.sent_at = now
            if self._sent == end < len(self._data) and self._pause:
                self.resume_at = now + self._pause
        return self._finish("")

    def _finish(self, failure: str) -> int:
        self.failure = failure
        self.abandon()
        return DONE

    def abandon(self) -> None:
        self.finished = True
        self.conn.sending = False


class Reading:
    """One reply read: up to and including `until`, exactly `length` bytes, or (neither
    given) everything until the end of stream. Bytes after it stay for the next read."""

    resume_at = math.inf

    def __init__(self, conn: Connection, until: bytes, length: int, max_bytes: int,
                 started: float) -> None:
        self.conn = conn
        self.fd = conn.fd
        self.reply: Reply | None = None
        self._until, self._length, self._max_bytes = until, length, max_bytes
        self.started = started
        if conn.broken:
            self.reply = Reply(conn.index, "closed", b"", conn.broken, _elapsed(started))

    def advance(self, now: float) -> int:
        while self.reply is None:
            self.reply = finished(self.conn, self._until, self._length, self._max_bytes,
                                  self.started)
            if self.reply is None and not self.conn.receive_now():
                return READABLE
        return DONE

    def at_wait_end(self) -> Reply:
        """The reply, when the wait for it ended first (deadline, or concluded): what the
        kernel already held for it counts; else it timed out."""
        if self.reply is None and not self.conn.broken:
            self.conn.take_in(max(self._max_bytes, self._length))
            self.reply = finished(self.conn, self._until, self._length, self._max_bytes,
                                  self.started)
        return self.reply or timed_out(self.conn, self._max_bytes, self.started)

    def abandon(self) -> None:
        pass


class Talking:
    """An exchange on one connection: its payload sent, then its reply read."""

    def __init__(self, sending: Sending, reading: Reading) -> None:
        self.sending, self.reading = sending, reading
        self.fd = sending.fd
        self._failed: Reply | None = None

    @property
    def resume_at(self) -> float:
        return self.sending.resume_at

    def advance(self, now: float) -> int:
        if not self.sending.finished and (want := self.sending.advance(now)) != DONE:
            return want
        if self.sending.failure:
            self._failed = self._failed or Reply(
                self.sending.conn.index, "send-failed", b"", self.sending.failure,
                _elapsed(self.reading.started))
            return DONE
        return self.reading.advance(now)

    def at_wait_end(self) -> Reply:
        return self._failed or self.reading.at_wait_end()

    def abandon(self) -> None:
        if not self.sending.finished:
            self.sending.abandon()


class Draining:
    """Reading and dropping whatever comes until the peer ends the stream or resets."""

    resume_at = math.inf

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.fd = conn.fd

    def advance(self, now: float) -> int:
        conn = self.conn
        for _ in range(DRAIN_READS_AT_ONCE):
            if conn.at_eof or conn.broken:
                return DONE
            if not conn.receive_now():
                return READABLE
            conn.buffer.clear()  # what still comes is not evidence here
        return READABLE

    def abandon(self) -> None:
        pass


def finished(conn: Connection, until: bytes, length: int, max_bytes: int,
             started: float) -> Reply | None:
    """The connection's reply if its buffer already holds one (or its stream ended)."""
    def reply(outcome: str, data: bytes, error: str = "") -> Reply:
        return Reply(conn.index, outcome, data, error, _elapsed(started))

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


def any_readable(descriptors: list[int]) -> bool:
    """Whether any of these sockets has bytes, an end of stream or an error to read now."""
    poller = select.poll()
    for descriptor in descriptors:
        poller.register(descriptor, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def timed_out(conn: Connection, max_bytes: int, started: float) -> Reply:
    """A connection whose reply did not arrive in time: what part of it had come."""
    return Reply(conn.index, "timeout", bytes(conn.buffer[:max_bytes]), "",
                 _elapsed(started))
