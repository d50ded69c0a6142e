"""A container's attached socket as trio streams: its stdin, and its stdout apart from stderr.

An attach (or exec) hijacks the engine's HTTP connection: stdin goes in on it, and the
engine multiplexes stdout and stderr back on the same socket. The probe talks to the
grader this way, and a run-to-its-end program's output is read this way, never from the
container's log (capped as one file, where a flood on stderr would push stdout out).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import trio

from ..errors import BackendUnavailable
from .processes import CappedOutput, write_paced

THROTTLE_PAUSE = 0.01  # seconds between reads of a run's output once its caps are full


def stream_of(docker_socket: Any, url: str) -> trio.SocketStream:
    """The hijacked connection of an attach or exec, as a trio stream."""
    raw = getattr(docker_socket, "_sock", docker_socket)
    if not isinstance(raw, socket.socket) or type(raw) is not socket.socket:
        raise BackendUnavailable(f"cannot talk to containers through {url}: only "
                                 "unix:// and tcp:// engine addresses are supported")
    return trio.SocketStream(trio.socket.from_stdlib_socket(raw))


class DemuxedOutput(trio.abc.ReceiveStream):
    """An attached container's stream read as the program's stdout; stderr is kept
    aside, capped. Docker multiplexes both on one socket: 8-byte headers (stream, 0, 0,
    0, size)."""

    def __init__(self, stream: trio.SocketStream, stderr_cap: int = 64 * 1024,
                 throttled: Callable[[], bool] = lambda: False) -> None:
        """Once `throttled()` says so (what is kept is full), reading slows to a trickle:
        a program flooding its output then waits on its own writes, instead of pushing
        hundreds of megabytes a second through the engine to be thrown away."""
        self._stream = stream
        self._buffer = b""
        self._throttled = throttled
        self.stderr = CappedOutput(stderr_cap)

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            if self._throttled():
                await trio.sleep(THROTTLE_PAUSE)
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while True:
            if not await self._fill(8):
                return b""
            kind, size = self._buffer[0], struct.unpack(">I", self._buffer[4:8])[0]
            if not await self._fill(8 + size):
                return b""
            payload, self._buffer = self._buffer[8:8 + size], self._buffer[8 + size:]
            if kind == 2:
                self.stderr.add(payload)
            elif payload:
                return payload

    async def aclose(self) -> None:
        await self._stream.aclose()


class CollectedOutput:
    """All a run-to-its-end program prints on its attached stream, stdout and stderr each
    capped at `cap`; reading slows down once either cap is full."""

    def __init__(self, stream: trio.SocketStream, cap: int) -> None:
        self.stdout = CappedOutput(cap)
        self._demuxed = DemuxedOutput(stream, cap, lambda: bool(
            self.stdout.dropped or self._demuxed.stderr.dropped))
        self.stderr = self._demuxed.stderr
        self.collected = trio.Event()  # set once the stream ended (or broke)

    async def collect(self) -> None:
        with suppress(trio.BrokenResourceError, OSError):
            while chunk := await self._demuxed.receive_some():
                self.stdout.add(chunk)
        self.collected.set()


class AttachedInput(trio.abc.SendStream):
    """The stdin side of an attached container's socket; closing it sends EOF to the
    program."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream

    async def send_all(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self._stream.send_eof()


async def feed_socket(stream: trio.SocketStream, data: bytes, pace: float,
                      printed: CappedOutput) -> None:
    """Write `data` to an attached container's stdin, then half-close: EOF on its stdin,
    while its output still comes back on the same socket."""
    try:
        await write_paced(stream, data, pace, printed)
        await stream.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # a program may exit without reading all its input
