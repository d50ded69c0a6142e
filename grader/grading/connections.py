"""A group of the probe's connections, as a check holds it: opened in an `async with`,
closed on every way out, and every operation on it under its own deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import trio

from ..pod.idleness import IDLE_AFTER, read_off_loop, until_idle
from ..pod.probe_session import ProbeSession
from ..probe import messages as m

ResultT = TypeVar("ResultT")

CLOSE_BUDGET = 5.0


class ConnectionGroup:
    """Connections the probe holds open at once, all to one server port."""

    def __init__(self, probe: ProbeSession, name: str, opened: m.Opened,
                 server_cpu: Callable[[], float | None] | None = None) -> None:
        """`server_cpu`: the server's CPU time so far (see Program.cpu_seconds); with it,
        a wait for the server ends once the server sat idle for IDLE_AFTER seconds."""
        self.probe = probe
        self.name = name
        self.opened = opened
        self.server_cpu = server_cpu
        # How long the server sat idle before a wait ended early; 0 when none did.
        self.idle_seconds = 0.0

    async def _wait(self, request: m.Request[ResultT]) -> ResultT:
        """A probe call that waits on the server: ended early once the server sits idle."""
        if self.server_cpu is None:
            return await self.probe.call(request)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._conclude_when_idle, self.server_cpu)
            answer = await self.probe.call(request)
            nursery.cancel_scope.cancel()
        return answer

    async def _conclude_when_idle(self, server_cpu: Callable[[], float | None]) -> None:
        async def concluded() -> bool:
            # Refused while the probe fed the server within the window: asked again
            # at each look, as long as the server stays idle.
            return bool((await self.probe.call(m.Conclude(self.name, IDLE_AFTER))).ended)

        await until_idle(read_off_loop(server_cpu), IDLE_AFTER, concluded)
        self.idle_seconds = IDLE_AFTER

    @property
    def size(self) -> int:
        return self.opened.opened

    @property
    def local(self) -> tuple[tuple[str, int], ...]:
        """Each connection's own end (source IP and the port the kernel chose)."""
        return self.opened.local

    async def exchange(self, payloads: Sequence[bytes], *, timeout: float, until: bytes = b"",
                       length: int = 0, order_seed: int | None = None, slice_size: int = 0,
                       pause: float = 0.0, connections: Sequence[int] = (),
                       max_bytes: int = 64 * 1024) -> tuple[m.Reply, ...]:
        """Send `payloads[i]` on connection i and read its reply (see probe.messages)."""
        answer = await self._wait(m.Exchange(
            self.name, tuple(payloads), timeout, until, length, tuple(connections), slice_size,
            pause, order_seed, max_bytes))
        return answer.replies

    async def send(self, payloads: Sequence[bytes], *, timeout: float, slice_size: int = 0,
                   pause: float = 0.0, connections: Sequence[int] = ()) -> m.Sent:
        return await self.probe.call(m.Send(self.name, tuple(payloads), timeout,
                                            tuple(connections), slice_size, pause))

    async def read(self, *, timeout: float, until: bytes = b"", length: int = 0,
                   lengths: Sequence[int] = (), connections: Sequence[int] = (),
                   max_bytes: int = 64 * 1024) -> tuple[m.Reply, ...]:
        answer = await self._wait(m.Read(self.name, timeout, until, length,
                                              tuple(lengths), tuple(connections), max_bytes))
        return answer.replies

    async def half_close(self, connections: Sequence[int] = ()) -> None:
        await self.probe.call(m.HalfClose(self.name, tuple(connections)))

    async def await_end(self, timeout: float) -> m.Ends:
        """Wait until the server has closed each connection (end of stream), or timeout."""
        return await self._wait(m.AwaitEnd(self.name, timeout))

    async def abort(self, connections: Sequence[int] = ()) -> None:
        await self.probe.call(m.Abort(self.name, tuple(connections)))


@asynccontextmanager
async def open_group(probe: ProbeSession, request: m.Open,
                     server_cpu: Callable[[], float | None] | None = None,
                     ) -> AsyncIterator[ConnectionGroup]:
    try:
        opened = await probe.call(request)
        yield ConnectionGroup(probe, request.group, opened, server_cpu)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_BUDGET):
            await probe.call(m.Close(request.group))
