"""What a check gets to work with: the pod, the student's server, its client, parameters."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from ..checks.diagnosis import Diagnosis, diagnose
from ..loading.assignment import Limits
from ..loading.commands import fill
from ..loading.submission import Submission
from ..pod.base import Completed, Pod, Program, describe_status
from ..pod.probe_session import ProbeSession
from ..probe import messages as m
from ..protocols.base import ClientJob, Protocol
from .connections import ConnectionGroup, open_group
from .sockets import SocketTable, endpoint

POLL_INTERVAL = 0.02
UDP_GRACE = 2.0  # seconds a server with a UDP socket on its port has to listen on TCP too
EXIT_SETTLE = 5.0  # seconds an ended program's status may take to be known (an engine's wait)
# After a check, how long the server has to take in that our clients left: it has until
# its side of their connections is closed (at least the first, at most the second).
CLIENTS_LEFT_SETTLE = (0.1, 1.0)
# Linux keeps a TIME_WAIT socket 60 s (TCP_TIMEWAIT_LEN); a little more for the timer wheel.
TIME_WAIT_LIFETIME = 62.0


@dataclass(frozen=True)
class ServerStart:
    """What happened when the student's server was started."""

    listening: bool
    seconds: float
    listeners: tuple[str, ...]
    udp_bound: tuple[str, ...]
    exit_code: int | None  # None: still running
    stderr: str
    stdout: str = ""
    port: int = 0
    other_listeners: tuple[str, ...] = ()  # TCP listeners it opened on other ports
    oom_killed: bool = False

    @property
    def failure(self) -> str:
        """One line saying why the server is not usable (empty when it is)."""
        if self.listening:
            return ""
        if self.exit_code is not None:
            return f"{describe_status(self.exit_code, self.oom_killed)} after {self.seconds:.2f} s"
        if self.other_listeners:
            return (f"listened on {', '.join(self.other_listeners)}, not on port {self.port} "
                    "(the port we gave it as its first argument)")
        return f"did not listen within {self.seconds:.1f} s"

    @property
    def last_error_line(self) -> str:
        """The last line it printed on stderr (on stdout when stderr is empty), shortened."""
        for text in (self.stderr, self.stdout):
            lines = [line for line in text.splitlines() if line.strip()]
            if lines:
                line = lines[-1].strip()
                return line if len(line) <= 200 else line[:200] + "..."
        return ""


class StudentServer:
    """The student's server in the pod: started, watched until it listens, stopped."""

    def __init__(self, pod: Pod, run_template: str, port: int, limits: Limits,
                 placeholders: Mapping[str, str] | None = None) -> None:
        self.pod = pod
        self.port = port
        self.command = fill(run_template, port=port, **(placeholders or {}))
        self.limits = limits
        self.program: Program | None = None
        self.last_start: ServerStart | None = None
        self.listened_once = False
        self.notes: list[str] = []  # for the report: what the grader did out of the ordinary
        # Whether its end is ours (stop) or already said in a report: then never said again.
        self._end_accounted = False
        # Whether it still ran when our connections of the current check were closed.
        self.ran_when_clients_left: bool | None = None

    @property
    def running(self) -> bool:
        # The kernel's word, not the engine's late one: a server that just died is restarted.
        return self.program is not None and not self.program.ended_now()

    async def start(self) -> ServerStart:
        """Start it and wait (polling the socket table) until it listens, exits or times out."""
        await self.stop()
        started = time.monotonic()
        self.program = await self.pod.start("server", self.command)
        self.ran_when_clients_left = None
        table = SocketTable(())
        udp_seen: float | None = None
        with trio.move_on_after(self.limits.start_timeout):
            while self.program.exit_code is None:
                table = await self.socket_table(time_wait=False)
                if table.listeners(self.port):
                    break
                if table.udp_bound(self.port):
                    # The kernel shows the answer already: a UDP socket on the port. A
                    # moment more for a server that binds both, then no TCP is coming.
                    udp_seen = udp_seen or time.monotonic()
                    if time.monotonic() - udp_seen > UDP_GRACE:
                        break
                await trio.sleep(POLL_INTERVAL)
        # One more look: a program that exits at once may have bound UDP first.
        seconds = time.monotonic() - started
        heard = bool(table.listeners(self.port))
        table = await self.socket_table(time_wait=False)
        if (heard and not table.listeners(self.port)) or self.program.ended_now():
            # It has ended, and its status is on its way. A listener seen meanwhile was a
            # leftover of its: a daemon its parent forked before exiting, which its
            # container takes along.
            with trio.move_on_after(EXIT_SETTLE):
                while self.program.exit_code is None:
                    await trio.sleep(POLL_INTERVAL)
        listening = bool(table.listeners(self.port)) and self.program.exit_code is None
        elsewhere: tuple[str, ...] = ()
        if not listening and self.program.exit_code is None:
            # Listening, but on a port of its own choosing?
            owned = self.owned_inodes()
            whole = await self.socket_table(whole=True)
            elsewhere = tuple(sorted({endpoint(e.local) for e in whole.listeners()
                                      if owned is None or e.inode in owned}))
        stdout, stderr = await self.program.output()
        self.last_start = ServerStart(
            listening=listening,
            seconds=seconds,
            listeners=tuple(sorted({endpoint(e.local) for e in table.listeners(self.port)})),
            udp_bound=tuple(sorted({endpoint(e.local) for e in table.udp_bound(self.port)})),
            exit_code=self.program.exit_code,
            stderr=stderr.decode(errors="replace"),
            stdout=stdout.decode(errors="replace"),
            port=self.port,
            other_listeners=elsewhere,
            oom_killed=self.program.oom_killed,
        )
        self.listened_once |= listening
        # A start that gave no listener is the report's already (its check says why).
        self._end_accounted = not listening
        return self.last_start

    async def ensure_running(self) -> ServerStart:
        """The server, listening: started again if it stopped. A server without
        SO_REUSEADDR cannot listen again while our earlier checks' connections sit in
        TIME_WAIT on its port; server-restart grades that, so here we wait them out
        (up to a minute) rather than fail a check about something else for it."""
        if self.running and self.last_start and self.last_start.listening:
            return self.last_start
        start = await self.start()
        if start.listening or start.exit_code is None or not self.listened_once:
            return start
        began = time.monotonic()
        lingering = await wait_out_time_wait(self.pod.probe, self.port)
        if not lingering:
            return start
        start = await self.start()
        if start.listening:
            self.notes.append(
                f"Your server could not listen on :{self.port} again while {lingering} "
                "connections of our earlier checks sat in TIME_WAIT (it does not set "
                f"SO_REUSEADDR: see server-restart), so we waited "
                f"{time.monotonic() - began:.0f} s for them to expire before going on.")
        return start

    async def stop(self) -> None:
        if self.program is not None:
            self._end_accounted |= not self.program.ended_now()
            await self.program.stop(self.limits.stop_grace)

    def clients_leaving(self) -> None:
        """Our connections to it are about to be closed: whatever ends it from now on
        ended it as (or after) our clients left."""
        self.ran_when_clients_left = self.running

    async def end_of_its_own(self, wait: float = 0.0) -> Diagnosis | None:
        """How the server ended when it ended by itself (not stopped by us) and no report
        said so yet, waiting up to `wait` seconds for it to end; said once: the caller
        reports it."""
        program = self.program
        if program is None or self._end_accounted:
            return None
        with trio.move_on_after(wait):
            while not program.ended_now():
                await trio.sleep(POLL_INTERVAL)
        if not program.ended_now():
            return None
        with trio.move_on_after(EXIT_SETTLE):  # the engine tells the status late
            while program.exit_code is None:
                await trio.sleep(POLL_INTERVAL)
        if program.exit_code is None:
            # What ended was not the program as the engine sees it (a short-lived child it
            # ran, taken for it): never charged as a death the engine did not confirm.
            return None
        self._end_accounted = True
        stdout, stderr = await program.output()
        return diagnose(program.exit_code, stderr, stdout, role="server",
                        oom_killed=program.oom_killed)

    async def settle_after_clients(self) -> Diagnosis | None:
        """Once a check is done with it: give the server the time to take in that our
        clients left (until its side of their connections is closed, within
        CLIENTS_LEFT_SETTLE), then how it ended if it ended by itself, unsaid yet."""
        if self.program is None or self._end_accounted:
            return None
        least, most = CLIENTS_LEFT_SETTLE
        began = time.monotonic()
        with trio.move_on_after(most):
            while not self.program.ended_now():
                closing = (await self.socket_table()).server_side(self.port, "CLOSE_WAIT")
                if not closing and time.monotonic() - began >= least:
                    break
                await trio.sleep(POLL_INTERVAL)
        return await self.end_of_its_own()

    async def socket_table(self, whole: bool = False, time_wait: bool = True) -> SocketTable:
        """The pod's sockets on the server's port, or all of them but TIME_WAIT entries
        (`whole`: what a program holds, on any port). Without `time_wait`, a look for a
        listener skips the hundreds of entries earlier checks leave on the port."""
        answer = await self.pod.probe.call(
            m.ReadSocketTable(None, time_wait=False) if whole
            else m.ReadSocketTable(self.port, time_wait=time_wait))
        return SocketTable(answer.entries)

    def owned_inodes(self) -> set[int] | None:
        return None if self.program is None else self.pod.socket_owner_inodes(self.program)


async def wait_out_time_wait(probe: ProbeSession, port: int) -> int:
    """How many TIME_WAIT sockets had `port` as their local end, once they are gone (or
    TIME_WAIT_LIFETIME has passed): a program that binds that port without SO_REUSEADDR
    can bind it again then."""
    lingering = 0
    with trio.move_on_after(TIME_WAIT_LIFETIME):
        while waiting := SocketTable((await probe.call(
                m.ReadSocketTable(port, time_wait=True))).entries).server_side(port, "TIME_WAIT"):
            lingering = max(lingering, len(waiting))
            await trio.sleep(0.5)
    return lingering


_group_numbers = itertools.count(1)


@dataclass
class CheckContext:
    """What a check works with: the pod and its probe, the student's server (when the
    assignment has a "server" role) and submission, this grading's protocol, the
    check's parameters and limits, and what the checks it uses carried."""

    pod: Pod
    server: StudentServer
    submission: Submission
    params: Mapping[str, Any]
    limits: Limits
    protocol: Protocol
    carried: Mapping[str, Any] = field(default_factory=dict)

    @property
    def probe(self) -> ProbeSession:
        """The probe itself: `await ctx.probe.call(request)` for any operation of
        grader.probe.messages."""
        return self.pod.probe

    async def run(self, role: str, stdin: bytes, timeout: float, pace: float = 0.0,
                  with_server: bool = False, **placeholders: object) -> Completed:
        """Run the student's `role` to its end with `stdin`, killed at `timeout`; its run
        command gets `placeholders` (with `pace`, stdin goes a line at a time). With
        `with_server` (it talks to the student's server), it is also stopped once it and
        the server sat idle together after its input was written: each waits on the
        other (see pod.idleness)."""
        return await self.pod.run(role, self._command_line(role, **placeholders), stdin,
                                  timeout, pace, self.server.program if with_server else None)

    async def start(self, role: str, **placeholders: object) -> Program:
        """Start the student's `role`; it runs until stopped (or the grading ends)."""
        return await self.pod.start(role, self._command_line(role, **placeholders))

    async def run_client(self, job: ClientJob, *, port: int, timeout: float,
                         pace: float = 0.0) -> Completed:
        """One run of the student's client, connecting to `port` in the pod."""
        return await self.run("client", job.stdin, timeout, pace, host=self.pod.host,
                              port=port, **job.placeholders)

    async def run_clients(self, jobs: Sequence[ClientJob], *, port: int, timeout: float,
                          ended: Callable[[int], Awaitable[None]] | None = None,
                          ) -> list[Completed]:
        """Copies of the student's client started at the same moment, one per job, each
        connecting to `port` in the pod; `ended(index)` is awaited as each one ends."""
        runs = [(self._command_line("client", host=self.pod.host, port=port,
                                    **job.placeholders), job.stdin) for job in jobs]
        return await self.pod.run_copies("client", runs, timeout, ended)

    def _command_line(self, role: str, **placeholders: object) -> str:
        """The student's run command for `role`, its placeholders filled in."""
        return fill(self.submission.program(role).run, **placeholders)

    @asynccontextmanager
    async def connections(self, count: int, *, sources: Sequence[str], timeout: float,
                          pacing: str = "absorbed", stall_timeout: float = 3.0,
                          port: int | None = None) -> AsyncIterator[ConnectionGroup]:
        """`count` connections to the server (or `port`) held open for the block, source
        IPs round-robin from `sources`; see probe.messages.Open for the pacing."""
        name = f"group-{next(_group_numbers)}"
        request = m.Open(name, self.pod.host, port or self.server.port, count,
                         tuple(sources), timeout, pacing, stall_timeout)
        # Waits for the student's server end once it sits idle (pod.idleness).
        program = self.server.program
        server_cpu = (program.cpu_seconds if program is not None
                      and request.port == self.server.port else None)
        async with open_group(self.probe, request, server_cpu) as group:
            try:
                yield group
            finally:
                if request.port == self.server.port:
                    self.server.clients_leaving()

    async def record(self, expected: int, barrier_timeout: float,
                     idle_timeout: float) -> m.RecordStarted:
        """A recording server for the student's clients (see probe.messages.RecordStart),
        answering as this grading's protocol says."""
        replies = self.protocol.replies
        return await self.probe.call(m.RecordStart(
            expected, barrier_timeout, idle_timeout, until=replies.until, key=replies.key,
            table=dict(replies.table), missing=replies.missing, close=replies.close))

    async def release(self, recorder: m.RecordStarted) -> None:
        """Let the recording server answer now: its barrier can no longer be met."""
        await self.probe.call(m.RecordRelease(recorder.recorder))

    async def recording(self, recorder: m.RecordStarted, timeout: float) -> m.Recording:
        """What the recording server saw, once its clients are gone (or `timeout`)."""
        return await self.probe.call(m.RecordResult(recorder.recorder, timeout))

    async def wait_out_time_wait(self, port: int) -> int:
        """Wait (at most TIME_WAIT_LIFETIME) until no TIME_WAIT socket has `port` as its
        local end, e.g. a client's fixed source port after our earlier runs of it; how
        many there were."""
        return await wait_out_time_wait(self.probe, port)

    async def ephemeral_port_range(self) -> tuple[int, int]:
        """Where the pod's kernel picks clients' source ports."""
        return (await self.probe.call(m.Hello())).port_range
