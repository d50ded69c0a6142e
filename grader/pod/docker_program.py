"""A student program in a container of a Docker (or Podman) pod: watched until it ends,
stopped by signals, its output read from the container and its CPU time from its cgroup."""

from __future__ import annotations

import os
import select
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import trio
from docker.errors import DockerException, NotFound

from .base import Program
from .cpu_time import cgroup_seconds, container_cpu_file
from .engine import in_thread

if TYPE_CHECKING:
    from docker.models.containers import Container

    from .docker import DockerPod


class DockerProgram(Program):
    def __init__(self, pod: DockerPod, container: Container, command: str) -> None:
        self.pod = pod
        self.container = container
        self.command = command
        self._exit_code: int | None = None
        self.exited = trio.Event()
        self.needed_kill = False
        self.oom_killed = False
        self.cpu_file: Path | None = None  # see locate_cpu_time
        self._program_pidfd: int | None = None  # readable once the program itself ended
        self._program_chain: list[int] = []  # the inits, ..., the process the pidfd watches
        self._program_floor = 1  # where in that chain the student's command begins
        self._program_gone = False  # it had ended when we looked for it

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    async def locate_cpu_time(self) -> None:
        """Find the cgroup file that counts its CPU time, and watch the program itself
        for its end, when the engine runs here."""
        with suppress(DockerException, requests.exceptions.RequestException):
            await in_thread(self.container.reload)
            pid = int(self.container.attrs["State"].get("Pid") or 0)
            if pid:
                self.cpu_file = container_cpu_file(pid, self.container.id)
            # Its pid is one of this machine's when the engine runs here (its cgroup is
            # found, or it answers on a local socket).
            here = self.cpu_file is not None or self.pod.engine_url.startswith("unix://")
            if here and self._exit_code is None:
                self._program_gone = not pid  # the engine has no process for it: it ended
                try:
                    if pid:
                        self._program_chain = _single_child_chain(pid)
                        self._program_floor = _below_the_inits(self._program_chain)
                        self._program_pidfd = os.pidfd_open(self._program_chain[-1])
                except ProcessLookupError:
                    self._program_gone = True
                except OSError:
                    pass

    def ended_now(self) -> bool:
        # The kernel says at once that the program ended; the engine tells later.
        if self._exit_code is None and self._program_pidfd is not None:
            while _has_ended(self._program_pidfd):
                if not self._watch_the_parent():
                    return True
            return False
        return self._exit_code is not None or self._program_gone

    def _watch_the_parent(self) -> bool:
        """The watched process ended. When the process that started it still runs (and
        is the student's, not an init), the one that ended was a short-lived child it ran,
        taken for the program when we looked (`cmd && server`, a worker it starts again):
        watch that parent instead. False when there is none: the program itself ended."""
        while len(self._program_chain) - 1 > self._program_floor:
            self._program_chain.pop()
            try:
                pidfd = os.pidfd_open(self._program_chain[-1])
            except OSError:  # that one ended too
                continue
            os.close(self._program_pidfd)
            self._program_pidfd = pidfd
            return True
        return False

    def cpu_seconds(self) -> float | None:
        if self._exit_code is not None or self.cpu_file is None:
            return None
        return cgroup_seconds(self.cpu_file)

    async def watch(self) -> None:
        """Wait (in a thread, in slices so it never blocks forever) for the container to end."""
        exit_code = None
        while exit_code is None:
            try:
                result = await in_thread(self.container.wait, timeout=30)
                exit_code = int(result.get("StatusCode", -1))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue
            except NotFound:
                exit_code = -9
        # Why it ended, before anyone sees that it did (the memory limit's kill shows
        # only as status 137 otherwise).
        with suppress(DockerException, requests.exceptions.RequestException), \
                trio.move_on_after(5):
            await in_thread(self.container.reload)
            self.oom_killed = self._killed_at_memory_limit(self.container.attrs["State"],
                                                           exit_code)
        self._exit_code = exit_code
        if self._program_pidfd is not None:
            os.close(self._program_pidfd)
            self._program_pidfd = None
        self.exited.set()

    def _killed_at_memory_limit(self, state: dict[str, Any], exit_code: int) -> bool:
        return bool(state.get("OOMKilled"))

    async def stop(self, grace: float) -> None:
        if self._exit_code is None:
            await self._signal("SIGTERM")
            with trio.move_on_after(grace):
                await self.exited.wait()
        if self._exit_code is None:
            self.needed_kill = True
            await self._signal("SIGKILL")
            with trio.move_on_after(max(grace, 5.0)):
                await self.exited.wait()

    async def _signal(self, name: str) -> None:
        with suppress(DockerException):  # it may have ended meanwhile
            await self.pod.lifecycle(self.container.kill, signal=name)

    async def output(self) -> tuple[bytes, bytes]:
        return await self.pod.logs(self.container)


def _single_child_chain(init: int) -> list[int]:
    """The container's init and the processes below it that each started exactly one
    (the init, a wrapper, the program): the last is taken for the student's program. It
    ends first: an init notices later, a long while on a loaded machine."""
    chain = [init]
    for _ in range(8):
        try:
            children = Path(f"/proc/{chain[-1]}/task/{chain[-1]}/children").read_text().split()
        except OSError:
            break
        if len(children) != 1:
            break
        chain.append(int(children[0]))
    return chain


# The inits an engine puts above the student's command (`init=True`; Podman's pods run a
# second one, see podman.py): a process the grader never takes for the student's.
INITS = frozenset({"docker-init", "podman-init", "catatonit", "tini"})


def _below_the_inits(chain: list[int]) -> int:
    """The index in `chain` of its first process that is not an init."""
    for index, pid in enumerate(chain):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return index
        if name not in INITS:
            return index
    return len(chain) - 1


def _has_ended(pidfd: int) -> bool:
    return bool(select.select([pidfd], [], [], 0)[0])
