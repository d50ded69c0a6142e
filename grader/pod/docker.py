"""The Docker backend: each grading run in its own loopback-only pod of containers.

A pause container (`network_mode="none"`) owns the pod's network namespace and holds a
size-capped tmpfs volume at /submission. Builds, the server and every client run as
their own hardened containers that join that namespace and mount that volume; the probe
runs in a container of its own, from a bundle copied into its own filesystem, out of
the students' reach. Killing the server container leaves its TIME_WAIT sockets in the
pause container's namespace, which is what the restart check needs.

Nothing is bind-mounted from the host: files go in with put_archive, so a remote daemon
(DOCKER_HOST) works too. The Docker SDK blocks, so every call runs in a worker thread.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import requests
import trio
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit

from ..errors import BackendUnavailable
from ..results import BuildResult
from .base import Backend, Completed, Pod, Program, running_pod
from .copying import Plan, plan_copy, tar_of, tar_of_files
from .probe_bundle import PROBE_MODULE, probe_bundle
from .probe_session import ProbeSession
from .processes import CappedOutput, write_paced

if TYPE_CHECKING:
    from docker.models.containers import Container

    from ..loading.assignment import Assignment, DockerSettings

LABEL = "org.socket-grader"
RUN_LABEL = f"{LABEL}.run"
OWNER_LABEL = f"{LABEL}.owner"  # hostname:pid of the grader that made it
ROLE_LABEL = f"{LABEL}.role"
THROTTLE_PAUSE = 0.01  # seconds between reads of a run's output once its caps are full
PORT_RANGE_WIDTH = 2000  # a pod's ephemeral ports: narrow, and placed anew for each pod
PORT_RANGE_SPAN = (10000, 60000)  # where a pod's range may lie (above the server's 443)


@dataclass(frozen=True)
class Size:
    """What one container of the pod may use."""

    memory: str
    pids: int
    cpus: float


def _sized_as(role: str) -> str:
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
API_TIMEOUT = 60
IMAGE_HELP = ("Pull an image with python3 (e.g. `docker pull python:3.12-slim`; add gcc and "
              "make for C submissions) or build the offline base image with "
              "`grader/pod/images/build-base-image.sh`. Nothing is pulled automatically.")


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def engine_product(version: dict[str, Any]) -> str:
    """Which engine serves this Docker API, from its /version answer: "Podman" (its
    service names itself in Components), else "Docker"."""
    names = [str(c.get("Name", "")) for c in version.get("Components") or ()]
    return "Podman" if any(n.startswith("Podman") for n in names) else "Docker"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


async def _in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await trio.to_thread.run_sync(functools.partial(function, *args, **kwargs),
                                         abandon_on_cancel=True)


def force_remove(container: Container, attempts: int = 5) -> None:
    """Remove a container, running or not; gone already is fine. A container that is
    exiting at that moment can refuse once (Podman: "could not be stopped ... container
    state improper"): try again."""
    for attempt in range(attempts):
        try:
            container.remove(force=True)
            return
        except NotFound:
            return
        except APIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _labels(container: Container) -> dict[str, str]:
    """A container's labels, also from a sparse listing (no inspection)."""
    return container.attrs.get("Labels") or {}


def _remove_all(containers: list[Container]) -> None:
    """Remove them all, joined containers first (the pause container owns the namespace
    they use); one that cannot be removed does not keep the others."""
    failed: APIError | None = None
    for container in sorted(containers, key=lambda c: _labels(c).get(ROLE_LABEL) == "pause"):
        try:
            force_remove(container)
        except APIError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed


def remove_leftovers(client: docker.DockerClient, everything: bool = False) -> tuple[int, int]:
    """Remove the containers and volumes of grading runs whose grader process is gone
    (all of them with `everything`). Returns how many containers and volumes went."""
    host = socket.gethostname()

    def abandoned(labels: dict[str, str]) -> bool:
        if everything:
            return True
        owner_host, _, pid = labels.get(OWNER_LABEL, ":").partition(":")
        return owner_host == host and pid.isdigit() and not Path(f"/proc/{pid}").exists()

    # sparse: no inspection of each container, which another run may be removing.
    containers = [c for c in client.containers.list(all=True, sparse=True,
                                                    filters={"label": LABEL})
                  if abandoned(_labels(c))]
    runs = {_labels(c).get(RUN_LABEL) for c in containers}
    _remove_all(containers)
    volumes = [v for v in client.volumes.list(filters={"label": LABEL})
               if everything or (v.attrs.get("Labels") or {}).get(RUN_LABEL) in runs]
    for volume in volumes:
        with suppress(NotFound):
            volume.remove(force=True)
    return len(containers), len(volumes)


class _DemuxedOutput(trio.abc.ReceiveStream):
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


class _AttachedInput(trio.abc.SendStream):
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


def _stream_of(docker_socket: Any, url: str) -> trio.SocketStream:
    """The hijacked connection of an attach or exec, as a trio stream."""
    raw = getattr(docker_socket, "_sock", docker_socket)
    if not isinstance(raw, socket.socket) or type(raw) is not socket.socket:
        raise BackendUnavailable(f"cannot talk to containers through {url}: only "
                                 "unix:// and tcp:// engine addresses are supported")
    return trio.SocketStream(trio.socket.from_stdlib_socket(raw))


class DockerProgram(Program):
    def __init__(self, pod: DockerPod, container: Container, command: str) -> None:
        self.pod = pod
        self.container = container
        self.command = command
        self._exit_code: int | None = None
        self.exited = trio.Event()
        self.needed_kill = False
        self.oom_killed = False

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    async def watch(self) -> None:
        """Wait (in a thread, in slices so it never blocks forever) for the container to end."""
        exit_code = None
        while exit_code is None:
            try:
                result = await _in_thread(self.container.wait, timeout=30)
                exit_code = int(result.get("StatusCode", -1))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue
            except NotFound:
                exit_code = -9
        # Why it ended, before anyone sees that it did (the memory limit's kill shows
        # only as status 137 otherwise).
        with suppress(DockerException, requests.exceptions.RequestException), \
                trio.move_on_after(5):
            await _in_thread(self.container.reload)
            self.oom_killed = self._killed_at_memory_limit(self.container.attrs["State"],
                                                           exit_code)
        self._exit_code = exit_code
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
            await _in_thread(self.container.kill, signal=name)

    async def output(self) -> tuple[bytes, bytes]:
        return await self.pod.logs(self.container)


class DockerPod(Pod):
    backend = "docker"
    sandboxed = True
    own_port_range = True
    program_class: type[DockerProgram] = DockerProgram
    teardown_budget = 20.0  # removing a pod's containers through the API

    def __init__(self, engine: Engine, settings: DockerSettings, image: str,
                 nursery: trio.Nursery, output_cap: int, plan: Plan) -> None:
        self.engine = engine
        self.client = engine.client
        self.engine_url = engine.url
        self.settings = settings
        self.image = image
        self.nursery = nursery
        self.output_cap = output_cap
        self.run_id = f"sg-{uuid.uuid4().hex[:12]}"
        self.volume_name = f"{self.run_id}-submission"
        self.plan = plan
        self.notes = (*engine.limitations(), *plan.notes)
        self.pause: Container | None = None
        self.probe_container: Container | None = None
        self._counter = 0
        self.student_uid, self.probe_uid = pod_identities(settings)
        self.port_range = pod_port_range()
        self._scratch: dict[str, str] = {}  # role -> its /tmp volume

    def _size(self, role: str) -> Size:
        """The server and the builds get the pod's full size; each copy of the client a
        small one: the pod as a whole stays within its budget (see README, Security)."""
        settings = self.settings
        if role == "client":
            return Size(settings.client_memory, settings.client_pids, settings.client_cpus)
        if role == "probe":
            return Size(settings.probe_memory, settings.probe_pids, settings.cpus)
        return Size(settings.memory, settings.pids, settings.cpus)

    def _labels(self, role: str) -> dict[str, str]:
        return {LABEL: "1", RUN_LABEL: self.run_id, OWNER_LABEL: _owner(), ROLE_LABEL: role}

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

    async def _ensure_scratch(self, role: str) -> None:
        """The role's /tmp volume, made when the role first runs."""
        if role not in self._scratch:
            name = f"{self.run_id}-tmp-{role}"
            await _in_thread(self.client.volumes.create, name, driver="local",
                             driver_opts=self._volume_options(self.settings.tmp_size),
                             labels=self._labels("volume"))
            self._scratch[role] = name

    def _limits(self, role: str) -> dict[str, Any]:
        size = self._size(role)
        uid = self.probe_uid if role == "probe" else self.student_uid
        return {
            "user": f"{uid}:{uid}",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
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

    def _student_options(self, role: str) -> dict[str, Any]:
        # Only builds write the submission; programs run with it read-only, and each
        # role has a /tmp of its own (shared by that role's containers: the copies of
        # the client see one another's files, the server sees none of theirs), so no
        # role can pass files to another.
        mode = "rw" if role.startswith("build") else "ro"
        return {
            **self._limits(_sized_as(role)),
            "read_only": True,
            "volumes": {self.volume_name: {"bind": "/submission", "mode": mode},
                        self._scratch[_sized_as(role)]: {"bind": "/tmp", "mode": "rw"}},
            "working_dir": "/submission",
            "labels": self._labels(role),
            "name": self._name(role),
        }

    async def start_up(self) -> None:
        await _in_thread(
            self.client.volumes.create, self.volume_name, driver="local",
            driver_opts=self._volume_options(),
            labels=self._labels("volume"))
        self.pause = await _in_thread(
            self.client.containers.run, self.image, ["sleep", "infinity"], detach=True,
            init=True, network_mode="none", name=self._name("pause"),
            sysctls={"net.ipv4.ip_unprivileged_port_start": "0",
                     "net.ipv4.ip_local_port_range": "{} {}".format(*self.port_range)},
            volumes={self.volume_name: {"bind": "/submission", "mode": "rw"}},
            labels=self._labels("pause"), mem_limit="32m", pids_limit=16,
            ulimits=self._ulimits(self._size("pause")))
        submission = tar_of(self.plan, self.student_uid)
        async with trio.open_nursery() as nursery:
            # Files must go in after the pause container started: that mounts the tmpfs.
            nursery.start_soon(functools.partial(
                _in_thread, self.pause.put_archive, "/submission", submission))
            nursery.start_soon(self._start_probe)

    async def _start_probe(self) -> None:
        # Not read-only: put_archive is refused on a read-only root filesystem. The probe's
        # own filesystem is out of the students' reach either way. The probe is the
        # container's own program, attached before it starts (no `exec`: Podman keeps
        # each exec session's monitor process alive for 5 minutes after it ended).
        self.probe_container = await _in_thread(
            self.client.containers.create, self.image, ["python3", "-m", PROBE_MODULE],
            stdin_open=True, working_dir="/opt/probe", labels=self._labels("probe"),
            name=self._name("probe"),
            **{**self._limits("probe"), "environment": {"PYTHONDONTWRITEBYTECODE": "1"}})
        await _in_thread(self.probe_container.put_archive, "/opt", probe_bundle())
        attached = await _in_thread(
            self.client.api.attach_socket, self.probe_container.id,
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        stream = _stream_of(attached, self.engine_url)
        await _in_thread(self.probe_container.start)
        output = _DemuxedOutput(stream)
        self.probe = ProbeSession(
            _AttachedInput(stream), output,
            lambda: output.stderr.value().decode(errors="replace")[-2000:])
        await self.nursery.start(self.probe.read_answers)

    async def logs(self, container: Container) -> tuple[bytes, bytes]:
        try:
            stdout, stderr = await trio.to_thread.run_sync(lambda: (
                container.logs(stdout=True, stderr=False),
                container.logs(stdout=False, stderr=True)))
        except NotFound:
            return b"", b""
        capped_out, capped_err = CappedOutput(self.output_cap), CappedOutput(self.output_cap)
        capped_out.add(stdout)
        capped_err.add(stderr)
        return capped_out.value(), capped_err.value()

    async def _create_student(self, role: str, command: str, stdin: bool = False) -> Container:
        await self._ensure_scratch(_sized_as(role))
        options = self._student_options(role)
        if stdin:  # run to its end: its output is read from the attached stream, not logs
            options["log_config"] = LogConfig(type="none")
        return await _in_thread(self.client.containers.create, self.image,
                                self._command(command, self._size(_sized_as(role))),
                                stdin_open=stdin, **options)

    def _command(self, command: str, size: Size) -> list[str]:
        """How a student's command line runs under the container's init (`init=True`)."""
        return ["/bin/sh", "-c", _signal_reaching(command)]

    async def build(self, role: str, command: str, timeout: float) -> BuildResult:
        completed = await self.run(f"build-{role}", command, b"", timeout)
        output = completed.stdout + completed.stderr
        return BuildResult(role, command, completed.exit_code, completed.duration,
                           output.decode(errors="replace"))

    async def start(self, role: str, command: str) -> Program:
        container = await self._create_student(role, command)
        program = self.program_class(self, container, command)
        await _in_thread(container.start)
        self.nursery.start_soon(program.watch)
        return program

    async def run(self, role: str, command: str, stdin: bytes, timeout: float,
                  pace: float = 0.0) -> Completed:
        started = time.monotonic()
        container = await self._create_student(role, command, stdin=True)
        program = self.program_class(self, container, command)
        try:
            # Output is read from the attached stream, never from the container's log:
            # the log is capped as one file, so a flood on stderr would push stdout out.
            attached = await _in_thread(
                self.client.api.attach_socket, container.id,
                params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            stream = _stream_of(attached, self.engine_url)
            stdout = CappedOutput(self.output_cap)
            output = _DemuxedOutput(stream, self.output_cap,
                                    lambda: bool(stdout.dropped or output.stderr.dropped))
            collected = trio.Event()

            async def collect() -> None:
                with suppress(trio.BrokenResourceError, OSError):
                    while chunk := await output.receive_some():
                        stdout.add(chunk)
                collected.set()

            await _in_thread(container.start)
            # Watched from the pod's nursery: past the deadline, stop() still learns at
            # once that the container ended.
            self.nursery.start_soon(program.watch)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_feed_socket, stream, stdin, pace, stdout)
                nursery.start_soon(collect)
                with trio.move_on_after(timeout) as deadline:
                    await program.exited.wait()
                if deadline.cancelled_caught:
                    # Its output is still drained meanwhile: the engine does not kill a
                    # container whose attached output is backed up.
                    await program.stop(grace=0.5)
                with trio.move_on_after(1.0):  # what is still in flight belongs to it
                    await collected.wait()
                nursery.cancel_scope.cancel()
            await stream.aclose()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await _remove(container)
        exit_code = None if deadline.cancelled_caught else program.exit_code
        return Completed(command, exit_code, stdout.value(), output.stderr.value(),
                         time.monotonic() - started)

    async def add_files(self, folder: str, files: Mapping[str, bytes]) -> str:
        archive = tar_of_files({f"{folder}/{name}": data for name, data in files.items()},
                               self.student_uid)
        await _in_thread(self.pause.put_archive, "/submission", archive)
        return f"/submission/{folder}"

    async def server_port(self) -> int:
        return self.settings.port

    async def teardown(self) -> None:
        probe = getattr(self, "probe", None)
        if probe is not None:
            await probe.aclose()
        await _in_thread(self._remove_everything)

    def _remove_everything(self) -> None:
        containers = self.client.containers.list(
            all=True, sparse=True, filters={"label": f"{RUN_LABEL}={self.run_id}"})
        _remove_all(containers)
        for name in (self.volume_name, *self._scratch.values()):
            with suppress(NotFound):
                self.client.volumes.get(name).remove(force=True)


def _signal_reaching(command: str) -> str:
    """A simple command is exec'd by the shell, so the student's program itself is the
    init's child: it gets SIGTERM first, and one that ignores it is killed after the
    grace period, as on the local backend (if `sh -c` stayed in between, its death
    would end the container at once)."""
    if any(character in command for character in SHELL_SYNTAX):
        return command
    return f"exec {command}"


SHELL_SYNTAX = set(";&|<>()$`\\\n\"'*?[]{}=#~")


async def _feed_socket(stream: trio.SocketStream, data: bytes, pace: float,
                       printed: CappedOutput) -> None:
    """Write `data` to an attached container's stdin, then half-close: EOF on its stdin,
    while its output still comes back on the same socket."""
    try:
        await write_paced(stream, data, pace, printed)
        await stream.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # a program may exit without reading all its input


async def _remove(container: Container) -> None:
    await _in_thread(force_remove, container)


@dataclass(frozen=True)
class Engine:
    """A container engine that answered at `url`, and what it said about itself."""

    client: docker.DockerClient
    url: str
    product: str  # "Docker" or "Podman"
    version: str
    rootless: bool = False
    cgroup_version: str = "?"
    # Limits of the pod's recipe this engine cannot apply: "memory", "pids", "cpu"
    # (a rootless engine on cgroup v1 has no cgroup controller delegated to it).
    missing_limits: tuple[str, ...] = ()

    def __str__(self) -> str:
        rootless = " (rootless)" if self.rootless else ""
        return f"{self.product} {self.version}{rootless} at {self.url}"

    def limitations(self) -> tuple[str, ...]:
        """What this engine's pods cannot do that the recipe asks for, said plainly."""
        if not self.missing_limits:
            return ()
        words = {"memory": "memory", "pids": "process count", "cpu": "CPU"}
        names = [words[name] for name in self.missing_limits]
        missing = " and ".join(filter(None, (", ".join(names[:-1]), names[-1])))
        return (f"sandbox limits not applied: {self}, on cgroup v{self.cgroup_version}, "
                f"cannot limit the {missing} of containers (no cgroup controller is "
                "delegated to it): your programs ran without those limits.",)


class DockerBackend(Backend):
    """Pods of containers made through the Docker API of the engine at `engine_url`.

    A variant for another engine that speaks the same API (Podman) is a subclass that
    names the engine, where to find it, and its pod class; nothing else differs."""

    name = "docker"
    product = "Docker"
    service = "daemon"
    address_variable = "DOCKER_HOST"
    default_address = "unix:///var/run/docker.sock"
    pod_class: type[DockerPod] = DockerPod
    advice = ("Start Docker, set DOCKER_HOST or --engine-url, or grade with --backend local "
              "(not sandboxed)")

    def __init__(self, settings: DockerSettings, image: str, output_cap: int,
                 engine_url: str | None = None) -> None:
        self.settings = settings
        self.image = image
        self.output_cap = output_cap
        self.engine_url = engine_url or self.default_url()

    @classmethod
    def default_url(cls) -> str:
        return os.environ.get(cls.address_variable) or cls.default_address

    @classmethod
    def for_assignment(cls, assignment: Assignment, image: str | None = None,
                       engine_url: str | None = None, run_as: str | None = None) -> DockerBackend:
        return cls(assignment.docker, image or assignment.docker.image,
                   assignment.limits.output_cap, engine_url)

    def connect(self, timeout: float = API_TIMEOUT) -> Engine:
        """The engine at our address, checked to be the one this backend drives."""
        client = None
        try:
            client = docker.from_env(timeout=timeout,
                                     environment={**os.environ, "DOCKER_HOST": self.engine_url})
            version = client.version()
            info = client.info()
        except DockerException as exc:
            if client is not None:
                client.close()
            raise BackendUnavailable(f"no {self.product} {self.service} answered at "
                                     f"{self.engine_url} ({_short(exc)})") from None
        product = engine_product(version)
        if product != self.product:
            client.close()
            raise BackendUnavailable(f"the engine at {self.engine_url} is {product} "
                                     f"{version.get('Version', '?')}, not {self.product} "
                                     f"(use --backend {product.lower()})")
        try:
            return self._engine_of(client, version, info)
        except (DockerException, requests.exceptions.RequestException) as exc:
            client.close()
            raise BackendUnavailable(f"the {self.product} {self.service} at "
                                     f"{self.engine_url} did not say what it can do "
                                     f"({_short(exc)})") from None

    def _engine_of(self, client: docker.DockerClient, version: dict[str, Any],
                   info: dict[str, Any]) -> Engine:
        """The engine's facts, from its /version and /info answers."""
        missing = tuple(limit for limit, key in (("memory", "MemoryLimit"),
                                                 ("pids", "PidsLimit"),
                                                 ("cpu", "CpuCfsQuota"))
                        if info.get(key) is False)
        return Engine(client, self.engine_url, self.product, str(version.get("Version", "?")),
                      any("rootless" in str(o) for o in info.get("SecurityOptions") or ()),
                      str(info.get("CgroupVersion") or "?"), missing)

    def unavailable_reason(self, image: bool = True) -> str | None:
        """None when the engine answers (and has the pod's image, with `image`), else why
        not, naming where we looked."""
        try:
            engine = self.connect(timeout=5)
        except BackendUnavailable as exc:
            return str(exc)
        try:
            if image:
                engine.client.images.get(self.image)
        except ImageNotFound:
            return f"the image {self.image!r} is not on the {engine}"
        except DockerException as exc:
            return f"the {engine} did not answer ({_short(exc)})"
        finally:
            engine.client.close()
        return None

    def describe(self) -> str:
        """The engine, for a notice: `Podman 4.3.1 at unix:///run/podman/podman.sock`."""
        try:
            engine = self.connect(timeout=5)
        except BackendUnavailable:
            return f"{self.product} at {self.engine_url}"
        engine.client.close()
        return str(engine)

    def environment(self) -> dict[str, str]:
        return {self.address_variable: self.engine_url}

    def remove_leftovers(self, everything: bool = False) -> tuple[int, int]:
        """`grade cleanup`: remove_leftovers on this backend's engine."""
        engine = self.connect()
        try:
            return remove_leftovers(engine.client, everything)
        finally:
            engine.client.close()

    async def _engine(self) -> Engine:
        engine = await _in_thread(self.connect)
        try:
            await _in_thread(engine.client.images.get, self.image)
            await _in_thread(remove_leftovers, engine.client)
        except ImageNotFound:
            engine.client.close()
            raise BackendUnavailable(f"the image {self.image!r} is not on the {engine}. "
                                     f"{IMAGE_HELP}") from None
        except BaseException:
            engine.client.close()
            raise
        return engine

    @asynccontextmanager
    async def open_pod(self, submission_dir: str, label: str) -> AsyncIterator[Pod]:
        plan = plan_copy(submission_dir)  # refuses an oversized one before any container
        engine = await self._engine()
        try:
            async with running_pod(lambda nursery: self.pod_class(
                    engine, self.settings, self.image, nursery, self.output_cap,
                    plan)) as pod:
                yield pod
        finally:
            engine.client.close()
