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
import socket
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import requests
import trio
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit

from ..errors import BackendUnavailable
from ..results import BuildResult
from .base import Backend, Completed, Pod, Program, running_pod
from .copying import Plan, plan_copy, tar_of
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
STUDENT_USER = "65534:65534"  # nobody: no privileges, not root in the container
API_TIMEOUT = 60
IMAGE_HELP = ("Pull an image with python3 (e.g. `docker pull python:3.12-slim`; add gcc and "
              "make for C submissions) or build the offline base image with "
              "`grader/pod/images/build-base-image.sh`. Nothing is pulled automatically.")


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def docker_unreachable_reason(image: str | None = None) -> str | None:
    """None when a Docker daemon answers (and has `image`, if given), else why not,
    naming where we looked."""
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
            if image is not None:
                client.images.get(image)
        finally:
            client.close()
    except ImageNotFound:
        return f"the Docker image {image!r} is not on the Docker host at {docker_host()}"
    except DockerException as exc:
        return f"no Docker daemon answered at {docker_host()} ({_short(exc)})"
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


async def _in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await trio.to_thread.run_sync(functools.partial(function, *args, **kwargs),
                                         abandon_on_cancel=True)


def remove_leftovers(client: docker.DockerClient, everything: bool = False) -> tuple[int, int]:
    """Remove the containers and volumes of grading runs whose grader process is gone
    (all of them with `everything`). Returns how many containers and volumes went."""
    host = socket.gethostname()

    def abandoned(labels: dict[str, str]) -> bool:
        if everything:
            return True
        owner_host, _, pid = labels.get(OWNER_LABEL, ":").partition(":")
        return owner_host == host and pid.isdigit() and not Path(f"/proc/{pid}").exists()

    containers = [c for c in client.containers.list(all=True, filters={"label": LABEL})
                  if abandoned(c.labels)]
    runs = {c.labels.get(RUN_LABEL) for c in containers}
    # Joined containers first: the pause container owns the namespace they use.
    for container in sorted(containers, key=lambda c: c.labels.get(ROLE_LABEL) == "pause"):
        with suppress(NotFound):
            container.remove(force=True)
    volumes = [v for v in client.volumes.list(filters={"label": LABEL})
               if everything or v.attrs.get("Labels", {}).get(RUN_LABEL) in runs]
    for volume in volumes:
        with suppress(NotFound):
            volume.remove(force=True)
    return len(containers), len(volumes)


def remove_docker_leftovers(everything: bool = False) -> tuple[int, int]:
    """`grade cleanup`: remove_leftovers on the Docker host of this environment."""
    try:
        client = docker.from_env(timeout=API_TIMEOUT)
    except DockerException as exc:
        raise BackendUnavailable(f"no Docker daemon answered at {docker_host()} "
                                 f"({_short(exc)})") from None
    try:
        return remove_leftovers(client, everything)
    finally:
        client.close()


class _DemuxedOutput(trio.abc.ReceiveStream):
    """An attached or `docker exec` stream read as the program's stdout; stderr is kept
    aside, capped. Docker multiplexes both on one socket: 8-byte headers (stream, 0, 0,
    0, size)."""

    def __init__(self, stream: trio.SocketStream, stderr_cap: int = 64 * 1024) -> None:
        self._stream = stream
        self._buffer = b""
        self.stderr = CappedOutput(stderr_cap)

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
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


class _ExecInput(trio.abc.SendStream):
    """The stdin side of a `docker exec` socket; closing it sends EOF to the program."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream

    async def send_all(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self._stream.send_eof()


def _raw_socket(docker_socket: Any) -> socket.socket:
    raw = getattr(docker_socket, "_sock", docker_socket)
    if not isinstance(raw, socket.socket) or type(raw) is not socket.socket:
        raise BackendUnavailable(f"cannot talk to containers through {docker_host()}: only "
                                 "unix:// and tcp:// Docker hosts are supported")
    return raw


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
            self.oom_killed = bool(self.container.attrs["State"].get("OOMKilled"))
        self._exit_code = exit_code
        self.exited.set()

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
    teardown_budget = 20.0  # removing a pod's containers through the API

    def __init__(self, client: docker.DockerClient, settings: DockerSettings, image: str,
                 nursery: trio.Nursery, output_cap: int, plan: Plan) -> None:
        self.client = client
        self.settings = settings
        self.image = image
        self.nursery = nursery
        self.output_cap = output_cap
        self.run_id = f"sg-{uuid.uuid4().hex[:12]}"
        self.volume_name = f"{self.run_id}-submission"
        self.plan = plan
        self.notes = tuple(plan.notes)
        self.pause: Container | None = None
        self.probe_container: Container | None = None
        self._counter = 0

    def _labels(self, role: str) -> dict[str, str]:
        return {LABEL: "1", RUN_LABEL: self.run_id, OWNER_LABEL: _owner(), ROLE_LABEL: role}

    def _name(self, role: str) -> str:
        self._counter += 1
        return f"{self.run_id}-{role}-{self._counter}"

    def _limits(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "user": STUDENT_USER,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": settings.memory,
            "memswap_limit": settings.memory,  # no swap: the memory limit really bites
            "pids_limit": settings.pids,
            "nano_cpus": int(settings.cpus * 1e9),
            "ulimits": [Ulimit(name="nofile", soft=settings.nofile, hard=settings.nofile)],
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
        return {
            **self._limits(),
            "read_only": True,
            "tmpfs": {"/tmp": f"size={self.settings.tmp_size},mode=1777"},
            "volumes": {self.volume_name: {"bind": "/submission", "mode": "rw"}},
            "working_dir": "/submission",
            "labels": self._labels(role),
            "name": self._name(role),
        }

    async def start_up(self) -> None:
        await _in_thread(
            self.client.volumes.create, self.volume_name, driver="local",
            driver_opts={"type": "tmpfs", "device": "tmpfs",
                         "o": f"size={self.settings.workdir_size},uid=65534,gid=65534"},
            labels=self._labels("volume"))
        self.pause = await _in_thread(
            self.client.containers.run, self.image, ["sleep", "infinity"], detach=True,
            init=True, network_mode="none", name=self._name("pause"),
            sysctls={"net.ipv4.ip_unprivileged_port_start": "0"},
            volumes={self.volume_name: {"bind": "/submission", "mode": "rw"}},
            labels=self._labels("pause"), mem_limit="32m", pids_limit=16)
        submission = tar_of(self.plan)
        async with trio.open_nursery() as nursery:
            # Files must go in after the pause container started: that mounts the tmpfs.
            nursery.start_soon(functools.partial(
                _in_thread, self.pause.put_archive, "/submission", submission))
            nursery.start_soon(self._start_probe)

    async def _start_probe(self) -> None:
        # Not read-only: put_archive is refused on a read-only root filesystem. The probe's
        # own filesystem is out of the students' reach either way.
        self.probe_container = await _in_thread(
            self.client.containers.create, self.image, ["sleep", "infinity"],
            labels=self._labels("probe"), name=self._name("probe"),
            **{**self._limits(), "environment": {"PYTHONDONTWRITEBYTECODE": "1"}})
        await _in_thread(self.probe_container.put_archive, "/opt", probe_bundle())
        await _in_thread(self.probe_container.start)
        api = self.client.api
        exec_id = await _in_thread(api.exec_create, self.probe_container.id,
                                   ["python3", "-m", PROBE_MODULE], stdin=True, stdout=True,
                                   stderr=True, workdir="/opt/probe")
        exec_socket = await _in_thread(api.exec_start, exec_id, socket=True)
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(_raw_socket(exec_socket)))
        output = _DemuxedOutput(stream)
        self.probe = ProbeSession(
            _ExecInput(stream), output,
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
        return await _in_thread(self.client.containers.create, self.image,
                                ["/bin/sh", "-c", _signal_reaching(command)],
                                stdin_open=stdin, **self._student_options(role))

    async def build(self, role: str, command: str, timeout: float) -> BuildResult:
        completed = await self.run(f"build-{role}", command, b"", timeout)
        output = completed.stdout + completed.stderr
        return BuildResult(role, command, completed.exit_code, completed.duration,
                           output.decode(errors="replace"))

    async def start(self, role: str, command: str) -> Program:
        container = await self._create_student(role, command)
        program = DockerProgram(self, container, command)
        await _in_thread(container.start)
        self.nursery.start_soon(program.watch)
        return program

    async def run(self, role: str, command: str, stdin: bytes, timeout: float,
                  pace: float = 0.0) -> Completed:
        started = time.monotonic()
        container = await self._create_student(role, command, stdin=True)
        program = DockerProgram(self, container, command)
        try:
            # Output is read from the attached stream, never from the container's log:
            # the log is capped as one file, so a flood on stderr would push stdout out.
            attached = await _in_thread(
                self.client.api.attach_socket, container.id,
                params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            stream = trio.SocketStream(trio.socket.from_stdlib_socket(_raw_socket(attached)))
            output = _DemuxedOutput(stream, self.output_cap)
            stdout = CappedOutput(self.output_cap)
            collected = trio.Event()

            async def collect() -> None:
                with suppress(trio.BrokenResourceError, OSError):
                    while chunk := await output.receive_some():
                        stdout.add(chunk)
                collected.set()

            await _in_thread(container.start)
            deadline = trio.move_on_after(timeout)
            with deadline:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_feed_socket, stream, stdin, pace)
                    nursery.start_soon(collect)
                    await program.watch()
                    with trio.move_on_after(1.0):  # what is still in flight belongs to it
                        await collected.wait()
                    nursery.cancel_scope.cancel()
            if deadline.cancelled_caught:
                await program.stop(grace=0.5)
            await stream.aclose()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await _remove(container)
        exit_code = None if deadline.cancelled_caught else program.exit_code
        return Completed(command, exit_code, stdout.value(), output.stderr.value(),
                         time.monotonic() - started)

    async def server_port(self) -> int:
        return self.settings.port

    async def teardown(self) -> None:
        probe = getattr(self, "probe", None)
        if probe is not None:
            await probe.aclose()
        await _in_thread(self._remove_everything)

    def _remove_everything(self) -> None:
        containers = self.client.containers.list(
            all=True, filters={"label": f"{RUN_LABEL}={self.run_id}"})
        for container in sorted(containers, key=lambda c: c.labels.get(ROLE_LABEL) == "pause"):
            with suppress(NotFound):
                container.remove(force=True)
        with suppress(NotFound):
            self.client.volumes.get(self.volume_name).remove(force=True)


def _signal_reaching(command: str) -> str:
    """A simple command is exec'd by the shell, so the student's program itself is the
    init's child: it gets SIGTERM first, and one that ignores it is killed after the
    grace period, as on the local backend (if `sh -c` stayed in between, its death
    would end the container at once)."""
    if any(character in command for character in SHELL_SYNTAX):
        return command
    return f"exec {command}"


SHELL_SYNTAX = set(";&|<>()$`\\\n\"'*?[]{}=#~")


async def _feed_socket(stream: trio.SocketStream, data: bytes, pace: float) -> None:
    """Write `data` to an attached container's stdin, then half-close: EOF on its stdin,
    while its output still comes back on the same socket."""
    try:
        await write_paced(stream, data, pace)
        await stream.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # a program may exit without reading all its input


async def _remove(container: Container) -> None:
    with suppress(NotFound):
        await _in_thread(container.remove, force=True)


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, settings: DockerSettings, image: str, output_cap: int) -> None:
        self.settings = settings
        self.image = image
        self.output_cap = output_cap

    @classmethod
    def for_assignment(cls, assignment: Assignment, image: str | None = None) -> DockerBackend:
        return cls(assignment.docker, image or assignment.docker.image,
                   assignment.limits.output_cap)

    async def _client(self) -> docker.DockerClient:
        try:
            client = await _in_thread(docker.from_env, timeout=API_TIMEOUT)
            await _in_thread(client.images.get, self.image)
        except ImageNotFound:
            raise BackendUnavailable(f"the Docker image {self.image!r} is not on the Docker "
                                     f"host at {docker_host()}. {IMAGE_HELP}") from None
        except DockerException as exc:
            raise BackendUnavailable(f"no Docker daemon answered at {docker_host()} "
                                     f"({_short(exc)}); try --backend local") from None
        await _in_thread(remove_leftovers, client)
        return client

    @asynccontextmanager
    async def open_pod(self, submission_dir: str, label: str) -> AsyncIterator[Pod]:
        plan = plan_copy(submission_dir)  # refuses an oversized one before any container
        client = await self._client()
        try:
            async with running_pod(lambda nursery: DockerPod(
                    client, self.settings, self.image, nursery, self.output_cap, plan)) as pod:
                yield pod
        finally:
            client.close()
