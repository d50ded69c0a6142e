"""What each container of a pod is made with: its size, user, limits, mounts, labels, command.

The hardening lives here, apart from the code that drives the containers (docker.py):
what the README's Security section promises is what these options say. An engine that
needs other options for the same effect overrides them (podman.py).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docker.types import LogConfig, Ulimit
from docker.utils import parse_bytes

from .engine import run_labels

if TYPE_CHECKING:
    from docker.models.containers import Container

    from ..loading.assignment import DockerSettings

PORT_RANGE_WIDTH = 2000  # a pod's ephemeral ports: narrow, and placed anew for each pod
PORT_RANGE_SPAN = (10000, 60000)  # where a pod's range may lie (above the server's 443)


@dataclass(frozen=True)
class Size:
    """What one container of the pod may use."""

    memory: str | int  # "96m", or bytes
    pids: int
    cpus: float

    def times(self, copies: int) -> Size:
        """The size of one container holding `copies` programs of this size."""
        if copies == 1:
            return self
        return Size(parse_bytes(self.memory) * copies if isinstance(self.memory, str)
                    else self.memory * copies, self.pids * copies, self.cpus * copies)


def sized_as(role: str) -> str:
    """The role whose size a container gets: a build runs with its program's."""
    return role.removeprefix("build-")


def pod_identities(settings: DockerSettings) -> tuple[int, int]:
    """A uid for this pod's student programs and another for its probe, drawn from the
    configured range: per-uid kernel quotas (epoll watches, processes) are then the
    pod's own, not shared with every other pod on the machine."""
    pairs = max(1, settings.uid_count // 2)
    student = settings.uid_first + 2 * random.randrange(pairs)
    return student, student + 1


def pod_port_range() -> tuple[int, int]:
    """A narrow ephemeral port range placed at random: a port the OS assigns falls in it,
    a port a client picks for itself almost never does."""
    low = random.randrange(PORT_RANGE_SPAN[0], PORT_RANGE_SPAN[1] - PORT_RANGE_WIDTH)
    return low, low + PORT_RANGE_WIDTH - 1


def signal_reaching(command: str) -> str:
    """A simple command is exec'd by the shell, so the student's program itself is the
    init's child: it gets SIGTERM first, and one that ignores it is killed after the
    grace period, as on the local backend (if `sh -c` stayed in between, its death
    would end the container at once)."""
    if any(character in command for character in SHELL_SYNTAX):
        return command
    return f"exec {command}"


def shell_argv(command: str) -> list[str]:
    """A student's command line, as the program of a container or a copy."""
    return ["/bin/sh", "-c", signal_reaching(command)]


SHELL_SYNTAX = set(";&|<>()$`\\\n\"'*?[]{}=#~")


class ContainerRecipe:
    """The options of every container and volume of one pod, from the assignment's
    settings: its own run id, uids and port range, and a name for each container."""

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self.run_id = f"sg-{uuid.uuid4().hex[:12]}"
        self.volume_name = f"{self.run_id}-submission"
        self.pause: Container | None = None  # owns the network namespace the others join
        self._counter = 0
        self.student_uid, self.probe_uid = pod_identities(settings)
        self.port_range = pod_port_range()
        self._scratch: dict[str, str] = {}  # role -> its /tmp volume

    def _size(self, role: str, copies: int = 1) -> Size:
        """The server and the builds get the pod's full size; each copy of the client a
        small one (copies run together share the sum of theirs): the pod as a whole stays
        within its budget (see README, Security)."""
        settings = self.settings
        if role == "client":
            return Size(settings.client_memory, settings.client_pids,
                        settings.client_cpus).times(copies)
        if role == "probe":
            return Size(settings.probe_memory, settings.probe_pids, settings.cpus)
        return Size(settings.memory, settings.pids, settings.cpus).times(copies)

    def _labels(self, role: str) -> dict[str, str]:
        return run_labels(self.run_id, role)

    def _name(self, role: str) -> str:
        self._counter += 1
        return f"{self.run_id}-{role}-{self._counter}"

    def _ulimits(self, size: Size) -> list[Ulimit]:
        """Explicit, within the host's hard limits: an engine whose default is above them
        cannot start the container at all."""
        return [Ulimit(name="nofile", soft=self.settings.nofile, hard=self.settings.nofile)]

    def _volume_options(self, size: str | None = None) -> dict[str, str]:
        """The local driver's options for a size-capped tmpfs volume of the student's:
        the submission (workdir_size), or a role's /tmp."""
        uid = self.student_uid
        return {"type": "tmpfs", "device": "tmpfs",
                "o": f"size={size or self.settings.workdir_size},uid={uid},gid={uid}"}

    def _security_options(self) -> list[str]:
        """No program of the pod gains privileges (setuid binaries); the engine's default
        seccomp profile applies (Docker's refuses new namespaces and mounts)."""
        return ["no-new-privileges"]

    def _limits(self, role: str, copies: int = 1) -> dict[str, Any]:
        size = self._size(role, copies)
        uid = self.probe_uid if role == "probe" else self.student_uid
        return {
            "user": f"{uid}:{uid}",
            "cap_drop": ["ALL"],
            "security_opt": self._security_options(),
            "mem_limit": size.memory,
            "memswap_limit": size.memory,  # no swap: the memory limit really bites
            "pids_limit": size.pids,
            "nano_cpus": int(size.cpus * 1e9),
            "ulimits": self._ulimits(size),
            "log_config": LogConfig(type="json-file",
                                    config={"max-size": "2m", "max-file": "1"}),
            "init": True,  # signals reach the program, zombies are reaped
            "network_mode": f"container:{self.pause.id}",
            # The container's init (tini) signals the whole process group, not only
            # `sh -c`: a compound command's programs get SIGTERM too.
            "environment": {"HOME": "/tmp", "PYTHONUNBUFFERED": "1",
                            "TINI_KILL_PROCESS_GROUP": "1"},
        }

    def _student_options(self, role: str, copies: int = 1) -> dict[str, Any]:
        # Only builds write the submission; programs run with it read-only, and each
        # role has a /tmp of its own (shared by that role's containers: the copies of
        # the client see one another's files, the server sees none of theirs), so no
        # role can pass files to another.
        mode = "rw" if role.startswith("build") else "ro"
        return {
            **self._limits(sized_as(role), copies),
            "read_only": True,
            "volumes": {self.volume_name: {"bind": "/submission", "mode": mode},
                        self._scratch[sized_as(role)]: {"bind": "/tmp", "mode": "rw"}},
            "working_dir": "/submission",
            "labels": self._labels(role),
            "name": self._name(role),
        }

    def _command(self, argv: list[str], size: Size) -> list[str]:
        """How a container's program runs under its init (`init=True`)."""
        return argv
