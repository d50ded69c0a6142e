"""When a program sits idle: a wait on it may end early, since nothing more will come.

A server that answers no request and uses no CPU for IDLE_AFTER seconds is blocked (on
a read, an accept, a lock) or asleep: the wait for its answers is decided, whatever
deadline it had left. A slow but working server is never idle that long (it spends CPU
on every answer), and a server that is busy, or whose CPU time cannot be read, is waited
for until the deadline.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import trio

IDLE_AFTER = 3.0  # seconds without CPU after which a wait on the program is decided
LOOK_EVERY = 0.25  # seconds between readings of its CPU time
IDLE_SHARE = 0.01  # using less than this share of one core counts as idle


def read_off_loop(reader: Callable[[], float | None],
                  ) -> Callable[[], Awaitable[float | None]]:
    """`reader` for until_idle, run in a worker thread: it may scan /proc."""
    return functools.partial(trio.to_thread.run_sync, reader)


async def until_idle(cpu_seconds: Callable[[], Awaitable[float | None]],
                     quiet: float = IDLE_AFTER,
                     decided: Callable[[], Awaitable[bool]] | None = None) -> None:
    """Return once the program used less than IDLE_SHARE of a core over the last `quiet`
    seconds (`cpu_seconds` reads its CPU time so far); never while that cannot be read.
    With `decided`, also once it agrees: asked at each look while the program stays
    idle, the window sliding on (not started afresh) when it refuses."""
    readings: deque[tuple[float, float]] = deque()
    while True:
        used = await cpu_seconds()
        now = trio.current_time()
        if used is None:
            readings.clear()
        else:
            readings.append((now, used))
            # Keep the newest reading at least `quiet` old as the window's start.
            while len(readings) > 1 and now - readings[1][0] >= quiet:
                readings.popleft()
            since, used_then = readings[0]
            idle = now - since >= quiet and used - used_then <= IDLE_SHARE * (now - since)
            if idle and (decided is None or await decided()):
                return
        await trio.sleep(LOOK_EVERY)


async def end_when_idle(deadline: trio.CancelScope, fed: trio.Event,
                        programs: Sequence[Callable[[], float | None]],
                        ended: list[float], quiet: float = IDLE_AFTER) -> None:
    """Cancel a run's `deadline` once its input is all written (`fed`) and `programs`
    (the run's own CPU time, and the other programs it talks to) sat idle together:
    each waits on another, so nothing more is coming. Appends `quiet` to `ended` when it
    does."""
    def together() -> float | None:
        used = [cpu_seconds() for cpu_seconds in programs]
        return None if None in used else sum(u for u in used if u is not None)

    await fed.wait()
    await until_idle(read_off_loop(together), quiet)
    ended.append(quiet)
    deadline.cancel()
