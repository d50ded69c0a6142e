"""Many sockets' work advanced together under one epoll.

A step is one connection's part of an operation (connect, send, read, drain) written as
a small synchronous state machine: `advance` goes as far as its non-blocking socket
allows right now and says what it waits for next. A Driver advances every step at once,
then sleeps on a single epoll shared by those that wait, awaited through trio: one
wake-up serves every socket that became ready, where a trio task per socket would be
woken, rescheduled and re-registered one by one. Each `advance` does bounded work, and
the driver yields to trio between rounds, so a peer that floods us cannot hold the loop.
"""

from __future__ import annotations

import heapq
import itertools
import math
import select
from contextlib import suppress
from typing import Protocol

import trio

DONE = 0  # the step has finished
LATER = -1  # the step waits for a moment of time (its resume_at), not for its socket
READABLE = select.EPOLLIN
WRITABLE = select.EPOLLOUT
READY_AT_ONCE = 1024  # events taken from the epoll per look


class Step(Protocol):
    fd: int  # the socket's descriptor, as it was when the step began
    resume_at: float  # when a step that answered LATER goes on

    def advance(self, now: float) -> int:
        """Go on as far as possible without waiting; DONE, LATER, or the epoll events
        (READABLE, WRITABLE) to wait for."""

    def abandon(self) -> None:
        """The operation ended before this step did (its deadline, or cancelled)."""


class Driver:
    """A set of steps advanced as their sockets become ready or their times come.
    Use as a context manager: leaving it abandons what is unfinished."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._registered: dict[int, tuple[Step, int]] = {}  # fd: (step, events)
        self._timers: list[tuple[float, int, Step]] = []
        self._order = itertools.count()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *_: object) -> None:
        for step, _events in self._registered.values():
            step.abandon()
        for _at, _order, step in self._timers:
            step.abandon()
        self._registered.clear()
        self._timers.clear()
        self._epoll.close()

    @property
    def unfinished(self) -> int:
        return len(self._registered) + len(self._timers)

    def start(self, step: Step) -> None:
        self._place(step, step.advance(trio.current_time()))

    def _place(self, step: Step, want: int) -> None:
        fd = step.fd
        registered = self._registered.get(fd)
        if want > 0:
            if registered is None:
                self._epoll.register(fd, want)
            elif registered[1] != want:
                self._epoll.modify(fd, want)
            self._registered[fd] = (step, want)
            return
        if registered is not None:
            del self._registered[fd]
            with suppress(OSError):  # a socket closed meanwhile left the epoll by itself
                self._epoll.unregister(fd)
        if want == LATER:
            heapq.heappush(self._timers, (step.resume_at, next(self._order), step))

    async def run(self) -> None:
        """Advance the steps until every one has finished; the caller's cancel scope
        bounds it."""
        if not self.unfinished:
            await trio.lowlevel.checkpoint()
            return
        while self.unfinished:
            await self.wait_for_progress()

    async def wait_for_progress(self, until: float = math.inf) -> None:
        """One round: sleep until a socket is ready, a step's time comes or `until`,
        then advance whatever can go on."""
        wake = min(until, self._timers[0][0] if self._timers else math.inf)
        if wake > trio.current_time() and self._registered:
            with trio.move_on_at(wake):
                await trio.lowlevel.wait_readable(self._epoll.fileno())
        elif wake > trio.current_time():
            await trio.sleep_until(wake)
        else:
            await trio.lowlevel.checkpoint()
        now = trio.current_time()
        for fd, _events in self._epoll.poll(0, READY_AT_ONCE):
            if (entry := self._registered.get(fd)) is not None:
                self._place(entry[0], entry[0].advance(now))
        while self._timers and self._timers[0][0] <= now:
            _at, _order, step = heapq.heappop(self._timers)
            self._place(step, step.advance(now))
