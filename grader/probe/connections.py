"""Groups of simultaneous client connections that the probe opens, talks on and closes.

Each connection sends its own token per round and must get exactly that token back.
A token received on the wrong connection is recorded as misrouted: that is cross-talk
between connections, which a four-tuple-correct server never shows.
"""

from __future__ import annotations

import errno
import random
import socket
from dataclasses import dataclass, field

import trio

MAX_LINE = 64 * 1024


@dataclass
class Connection:
    index: int
    stream: trio.SocketStream
    local: tuple[str, int]
    buffer: bytearray = field(default_factory=bytearray)
    at_eof: bool = False

    async def read_line(self) -> bytes | None:
        """The next line, or None at end of stream. Bounded so a flood cannot eat memory."""
        while b"\n" not in self.buffer:
            if self.at_eof or len(self.buffer) > MAX_LINE:
                return None
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                self.at_eof = True
                rest = bytes(self.buffer)
                self.buffer.clear()
                return rest or None
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer[:] = rest
        return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _connect(host: str, port: int, source: str) -> trio.SocketStream:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        # Port 0: the kernel picks the ephemeral port, only the source IP is chosen.
        await sock.bind((source, 0))
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


class ConnectionGroups:
    """The probe's named groups of open connections."""

    def __init__(self) -> None:
        self._groups: dict[str, list[Connection]] = {}

    def _group(self, name: str) -> list[Connection]:
        try:
            return self._groups[name]
        except KeyError:
            raise ValueError(f"no connection group named {name!r}") from None

    async def open(
        self,
        group: str,
        host: str,
        port: int,
        count: int,
        sources: list[str],
        timeout: float,
        parallel: int = 128,
    ) -> dict:
        """Open `count` connections, source IPs taken round-robin from `sources`."""
        if group in self._groups:
            raise ValueError(f"connection group {group!r} is already open")
        opened: list[Connection] = []
        errors: dict[str, int] = {}
        limiter = trio.CapacityLimiter(parallel)

        async def connect_one(index: int) -> None:
            async with limiter:
                try:
                    stream = await _connect(host, port, sources[index % len(sources)])
                except OSError as exc:
                    reason = _describe(exc)
                    errors[reason] = errors.get(reason, 0) + 1
                    return
                local = stream.socket.getsockname()[:2]
                opened.append(Connection(index, stream, (local[0], local[1])))

        with trio.move_on_after(timeout) as scope:
            async with trio.open_nursery() as nursery:
                for index in range(count):
                    nursery.start_soon(connect_one, index)
        opened.sort(key=lambda c: c.index)
        self._groups[group] = opened
        missing = count - len(opened) - sum(errors.values())
        if scope.cancelled_caught and missing:
            errors["timed out connecting"] = missing
        return {
            "opened": len(opened),
            "errors": errors,
            "local": [list(c.local) for c in opened],
        }

    async def exchange(
        self, group: str, round_number: int, timeout: float, interleave_seed: int | None = None
    ) -> dict:
        """One round: every connection sends its token, then reads one line back.

        Without a seed all connections send at once. With a seed the sends go out one
        at a time in a shuffled order, so messages on connections that share a source
        IP are interleaved; replies are then read on every connection.
        """
        connections = self._group(group)
        token_owner = {}
        tokens = {}
        for conn in connections:
            token = f"{group}:{conn.index}:{round_number}:{random.getrandbits(32):08x}".encode()
            tokens[conn.index] = token
            token_owner[token] = conn.index
        outcome: dict[int, tuple[str, str]] = {}

        async def send(conn: Connection) -> bool:
            try:
                await conn.stream.send_all(tokens[conn.index] + b"\n")
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                outcome[conn.index] = ("send-failed", _describe(exc))
                return False
            return True

        async def receive(conn: Connection) -> None:
            try:
                line = await conn.read_line()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                outcome[conn.index] = ("reset", _describe(exc))
                return
            if line is None:
                outcome[conn.index] = ("closed", "")
            elif line == tokens[conn.index]:
                outcome[conn.index] = ("answered", "")
            elif line in token_owner:
                outcome[conn.index] = ("misrouted", line.decode())
            else:
                outcome[conn.index] = ("wrong", line[:120].decode(errors="replace"))

        async def talk(conn: Connection) -> None:
            if await send(conn):
                await receive(conn)

        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                if interleave_seed is None:
                    for conn in connections:
                        nursery.start_soon(talk, conn)
                else:
                    order = list(connections)
                    random.Random(interleave_seed).shuffle(order)
                    sent = [conn for conn in order if await send(conn)]
                    for conn in sent:
                        nursery.start_soon(receive, conn)
        counts = {"answered": 0, "misrouted": 0, "wrong": 0, "closed": 0, "reset": 0,
                  "send-failed": 0, "timed-out": 0}
        examples: list[dict] = []
        not_answered = []
        for conn in connections:
            # A timed-out connection shows what part of a line had come (an echo cut short).
            kind, seen = outcome.get(conn.index, (
                "timed-out", bytes(conn.buffer[:120]).decode(errors="replace")))
            counts[kind] += 1
            if kind != "answered":
                not_answered.append(conn.index)
            if kind != "answered" and len(examples) < 5:
                examples.append({
                    "connection": conn.index,
                    "local": list(conn.local),
                    "outcome": kind,
                    "sent": tokens[conn.index].decode(),
                    "received": seen,
                })
        return {"round": round_number, "connections": len(connections), "counts": counts,
                "not_answered": not_answered, "examples": examples}

    async def await_eof(self, group: str, timeout: float) -> dict:
        """Wait until the peer has closed every connection of the group."""
        connections = self._group(group)

        async def drain(conn: Connection) -> None:
            try:
                while await conn.read_line() is not None:
                    pass
            except (trio.BrokenResourceError, OSError):
                conn.at_eof = True

        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                for conn in connections:
                    nursery.start_soon(drain, conn)
        closed = sum(1 for conn in connections if conn.at_eof)
        return {"closed_by_peer": closed, "still_open": len(connections) - closed}

    async def close(self, group: str) -> dict:
        connections = self._groups.pop(group, [])
        for conn in connections:
            await conn.stream.aclose()
        return {"closed": len(connections)}

    async def close_all(self) -> None:
        for name in list(self._groups):
            await self.close(name)
