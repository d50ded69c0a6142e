"""The sandbox interface. Checks talk only to a Pod, so they never know the backend.

A pod is one grading run's private network: the student's server, the student's clients
and the grader's probe all run in it and talk over loopback. A backend makes pods.
"""

from __future__ import annotations

import abc
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import trio

from ..results import BuildResult
from .probe_session import ProbeSession

if TYPE_CHECKING:
    from ..loading.assignment import Assignment


@dataclass(frozen=True)
class Completed:
    """A student program that ran to completion (or to its deadline)."""

    command: str
    exit_code: int | None  # None: it was killed at its deadline
    stdout: bytes
    stderr: bytes
    duration: float
    idle_seconds: float = 0.0  # stopped early: it sat idle this long with its peers

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def describe_status(exit_code: int, oom_killed: bool = False) -> str:
    """How a program ended, in words: `exited with status 1`, `was killed by SIGKILL`."""
    if oom_killed:
        return (f"was killed for using more memory than the sandbox allows "
                f"(status {exit_code})")
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    try:
        name = signal.Signals(number).name if number else ""
    except ValueError:
        name = ""
    why = {"SIGXCPU": ": it used up its CPU time limit",
           "SIGXFSZ": ": it wrote a file bigger than the file size limit"}.get(name, "")
    if exit_code < 0:
        return f"was killed by signal {name or number}{why}"
    if name:
        return f"exited with status {exit_code} (killed by {name}{why})"
    return f"exited with status {exit_code}"


class Program(abc.ABC):
    """A long-running student program, such as the server."""

    command: str
    needed_kill: bool = False  # set by stop(): it outlived SIGTERM and got SIGKILL
    oom_killed: bool = False  # the sandbox killed it at its memory limit (when it can tell)

    @property
    @abc.abstractmethod
    def exit_code(self) -> int | None:
        """The exit status once it has ended, else None (negative: killed by that signal)."""

    @abc.abstractmethod
    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; also ends anything it started."""

    @abc.abstractmethod
    async def output(self) -> tuple[bytes, bytes]:
        """What it printed so far on stdout and stderr (capped)."""

    def cpu_seconds(self) -> float | None:
        """CPU time it (and what it started) used so far, or None when this backend
        cannot tell: then nothing is ever concluded from its being idle."""
        return None

    def ended_now(self) -> bool:
        """Whether it has ended, as the kernel says at this moment where the backend can
        ask it (an engine may report an exit late): a listener seen after it ended is a
        leftover of its, not a server that runs."""
        return self.exit_code is not None


class Pod(abc.ABC):
    backend: str
    sandboxed: bool
    teardown_budget: float = 10.0  # seconds teardown may take, even after Ctrl-C
    run_id: str  # marks everything this pod started (container labels, process environ)
    notes: tuple[str, ...] = ()  # for the student: e.g. files of the submission left out
    host: str = "127.0.0.1"  # the address programs in the pod use to reach each other
    # The pod's ephemeral port range is its own, narrow and placed at random (Docker,
    # Podman), or the machine's (local): only the first tells a port a client chose for
    # itself from one the OS assigned.
    own_port_range: bool = False
    probe: ProbeSession

    @abc.abstractmethod
    async def start_up(self) -> None:
        """Bring the pod up: the submission copied in, the probe answering."""

    @abc.abstractmethod
    async def teardown(self) -> None:
        """End every program of the pod and remove what it made."""

    @abc.abstractmethod
    async def build(self, role: str, command: str, timeout: float) -> BuildResult:
        """Run a build command in the submission's folder inside the pod."""

    @abc.abstractmethod
    async def start(self, role: str, command: str) -> Program:
        """Start a program in the submission's folder; it runs until stopped."""

    @abc.abstractmethod
    async def run(self, role: str, command: str, stdin: bytes, timeout: float,
                  pace: float = 0.0, idle_with: Program | None = None) -> Completed:
        """Run a program to completion with `stdin`, killed at the deadline.

        With `pace`, stdin is written a line at a time as a person typing would: each
        line once the program printed its answer to the one before (see
        processes.write_paced), so each line reaches the program in its own read.
        With `idle_with` (the program it talks to), the run is also stopped once its
        input is written and both sat idle together (see idleness.end_when_idle)."""

    async def run_copies(self, role: str, runs: Sequence[tuple[str, bytes]], timeout: float,
                         ended: Callable[[int], Awaitable[None]] | None = None,
                         ) -> list[Completed]:
        """Run copies of a program at the same moment, each a (command, stdin) of `runs`
        and each killed at the deadline, as `run` does; `ended(index)` is awaited as each
        one ends. Here, `run` for each at once; a backend may do it more cheaply."""
        results: list[Completed | None] = [None] * len(runs)

        async def run_one(index: int) -> None:
            command, stdin = runs[index]
            results[index] = await self.run(role, command, stdin, timeout)
            if ended is not None:
                await ended(index)

        async with trio.open_nursery() as nursery:
            for index in range(len(runs)):
                nursery.start_soon(run_one, index)
        return [r for r in results if r is not None]

    @abc.abstractmethod
    async def add_files(self, folder: str, files: Mapping[str, bytes]) -> str:
        """Put files of the grader's (relative path -> bytes) into `folder` of the
        submission's folder in the pod; returns that folder's path as programs see it."""

    @abc.abstractmethod
    async def server_port(self) -> int:
        """A TCP port the student's server may listen on in this pod."""

    def socket_owner_inodes(self, program: Program) -> set[int] | None:
        """Socket inodes owned by `program`, or None when every socket in the pod is the
        student's (a private namespace). Only a shared-host backend needs this."""
        return None


PodT = TypeVar("PodT", bound=Pod)


@asynccontextmanager
async def running_pod(make: Callable[[trio.Nursery], PodT]) -> AsyncIterator[PodT]:
    """A pod whose background tasks live in a nursery of their own: started up, handed
    out, and torn down on every exit path (Ctrl-C included), shielded from cancellation
    and bounded by the pod's own teardown budget."""
    async with trio.open_nursery() as nursery:
        pod = make(nursery)
        try:
            await pod.start_up()
            yield pod
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(pod.teardown_budget):
                await pod.teardown()
            nursery.cancel_scope.cancel()


class Backend(abc.ABC):
    name: str
    sandboxed: bool = True
    advice: str = ""  # what the user can do when it cannot run here

    @classmethod
    def for_assignment(cls, assignment: Assignment, image: str | None = None,
                       engine_url: str | None = None, run_as: str | None = None) -> Backend:
        """This backend with the assignment's settings; `image` and `engine_url` are for
        the backends that run containers, `run_as` (a user) for the local one."""
        raise NotImplementedError(f"the {cls.__name__} is made directly")

    def unavailable_reason(self, image: bool = True) -> str | None:
        """None when this backend can run here (with `image`: its pod image is there too),
        else why not, in words that name where it looked."""
        return None

    def describe(self) -> str:
        """Where pods are made, for a notice: e.g. the engine and its address."""
        return f"the {self.name} backend"

    def environment(self) -> dict[str, str]:
        """Environment variables that make another grader process (a batch's worker)
        find this same backend."""
        return {}

    @abc.abstractmethod
    def open_pod(self, submission_dir: str, label: str) -> AbstractAsyncContextManager[Pod]:
        """A fresh pod holding a copy of the submission; torn down on every exit path."""


