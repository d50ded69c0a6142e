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
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

import docker
import trio
from docker.errors import NotFound
from docker.types import LogConfig

from ..errors import BackendUnavailable
from ..results import BuildResult
from .attached_streams import AttachedInput, CollectedOutput, DemuxedOutput, feed_socket, stream_of
from .base import Backend, Completed, Pod, Program, running_pod
from .container_recipe import ContainerRecipe, shell_argv, sized_as
from .copying import Plan, plan_copy, tar_of, tar_of_files
from .docker_copies import run_in_one_container
from .docker_program import DockerProgram
from .engine import (
    API_TIMEOUT,
    RUN_LABEL,
    Engine,
    connect_engine,
    engine_from_answers,
    force_remove,
    image_problem,
    in_thread,
    remove_containers,
    remove_leftovers,
    require_image,
)
from .idleness import end_when_idle
from .probe_bundle import PROBE_MODULE, probe_bundle
from .probe_session import ProbeSession
from .processes import CappedOutput

if TYPE_CHECKING:
    from docker.models.containers import Container

    from ..loading.assignment import Assignment, DockerSettings

# Podman 4.3 can deadlock when containers sharing named volumes are created, attached
# (which initialises the container and mounts its volumes), started, killed and
# removed at the same moment: its service then answers nothing more (measured here:
# every request hung, goroutines waiting on one another's container and volume locks).
# An engine that needs it gets those calls one at a time, from every pod of the process.
_ONE_AT_A_TIME = threading.Lock()


class DockerPod(ContainerRecipe, Pod):
    """A grading run's pod on the engine: makes, drives and removes the containers and
    volumes its recipe (ContainerRecipe) describes."""

    backend = "docker"
    sandboxed = True
    own_port_range = True
    lifecycle_one_at_a_time = False  # see _ONE_AT_A_TIME
    program_class: type[DockerProgram] = DockerProgram
    teardown_budget = 20.0  # removing a pod's containers through the API

    def __init__(self, engine: Engine, settings: DockerSettings, image: str,
                 nursery: trio.Nursery, output_cap: int, plan: Plan) -> None:
        super().__init__(settings)
        self.engine = engine
        self.client = engine.client
        self.engine_url = engine.url
        self.image = image
        self.nursery = nursery
        self.output_cap = output_cap
        self.plan = plan
        self.notes = (*engine.limitations(), *plan.notes)
        self.probe_container: Container | None = None

    async def _ensure_scratch(self, role: str) -> None:
        """The role's /tmp volume, made when the role first runs."""
        if role not in self._scratch:
            name = f"{self.run_id}-tmp-{role}"
            await self._create_volume(name, self.settings.tmp_size)
            self._scratch[role] = name

    async def _create_volume(self, name: str, size: str | None = None) -> None:
        """A size-capped tmpfs volume of the student's (see _volume_options)."""
        await self.lifecycle(self.client.volumes.create, name, driver="local",
                             driver_opts=self._volume_options(size),
                             labels=self._labels("volume"))

    async def lifecycle(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Create, attach, start, kill or remove: a call that changes a container's or a
        volume's state, made one at a time where the engine needs it."""
        if not self.lifecycle_one_at_a_time:
            return await in_thread(function, *args, **kwargs)

        def alone() -> Any:
            with _ONE_AT_A_TIME:
                return function(*args, **kwargs)

        return await in_thread(alone)

    async def start_up(self) -> None:
        await self._create_volume(self.volume_name)
        self.pause = await self.lifecycle(
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
                in_thread, self.pause.put_archive, "/submission", submission))
            nursery.start_soon(self._start_probe)

    async def _start_probe(self) -> None:
        # Not read-only: put_archive is refused on a read-only root filesystem. The probe's
        # own filesystem is out of the students' reach either way. The probe is the
        # container's own program, attached before it starts (no `exec`: Podman keeps
        # each exec session's monitor process alive for 5 minutes after it ended).
        self.probe_container = await self.lifecycle(
            self.client.containers.create, self.image, ["python3", "-m", PROBE_MODULE],
            stdin_open=True, working_dir="/opt/probe", labels=self._labels("probe"),
            name=self._name("probe"),
            **{**self._limits("probe"), "environment": {"PYTHONDONTWRITEBYTECODE": "1"}})
        await in_thread(self.probe_container.put_archive, "/opt", probe_bundle())
        stream = await self.attach(self.probe_container)
        await self.lifecycle(self.probe_container.start)
        output = DemuxedOutput(stream)
        self.probe = ProbeSession(
            AttachedInput(stream), output,
            lambda: output.stderr.value().decode(errors="replace")[-2000:])
        await self.nursery.start(self.probe.read_answers)

    async def attach(self, container: Container) -> trio.SocketStream:
        """The container's stdin, stdout and stderr, attached before it starts."""
        attached = await self.lifecycle(
            self.client.api.attach_socket, container.id,
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        return stream_of(attached, self.engine_url)

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

    async def create_student(self, role: str, argv: list[str], stdin: bool = False,
                             copies: int = 1) -> Container:
        """A container of the student's `role` running `argv`, sized for `copies` programs
        of that role; with `stdin`, to be attached and run to its end."""
        await self._ensure_scratch(sized_as(role))
        options = self._student_options(role, copies)
        if stdin:  # run to its end: its output is read from the attached stream, not logs
            options["log_config"] = LogConfig(type="none")
        return await self.lifecycle(self.client.containers.create, self.image,
                                    self._command(argv, self._size(sized_as(role), copies)),
                                    stdin_open=stdin, **options)

    async def build(self, role: str, command: str, timeout: float) -> BuildResult:
        completed = await self.run(f"build-{role}", command, b"", timeout)
        output = completed.stdout + completed.stderr
        return BuildResult(role, command, completed.exit_code, completed.duration,
                           output.decode(errors="replace"))

    async def start(self, role: str, command: str) -> Program:
        container = await self.create_student(role, shell_argv(command))
        program = self.program_class(self, container, command)
        await self.lifecycle(container.start)
        self.nursery.start_soon(program.watch)
        await program.locate_cpu_time()
        return program

    async def run(self, role: str, command: str, stdin: bytes, timeout: float,
                  pace: float = 0.0, idle_with: Program | None = None) -> Completed:
        started = time.monotonic()
        deadline = trio.move_on_after(timeout)
        fed, ended_idle = trio.Event(), []

        async def feed_all() -> None:
            await feed_socket(stream, stdin, pace, output.stdout)
            fed.set()

        container = await self.create_student(role, shell_argv(command), stdin=True)
        program = self.program_class(self, container, command)
        try:
            # Output is read from the attached stream, never from the container's log:
            # the log is capped as one file, so a flood on stderr would push stdout out.
            stream = await self.attach(container)
            output = CollectedOutput(stream, self.output_cap)
            await self.lifecycle(container.start)
            # Watched from the pod's nursery: past the deadline, stop() still learns at
            # once that the container ended.
            self.nursery.start_soon(program.watch)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(feed_all)
                nursery.start_soon(output.collect)
                if idle_with is not None:
                    await program.locate_cpu_time()
                    nursery.start_soon(end_when_idle, deadline, fed, (
                        program.cpu_seconds, idle_with.cpu_seconds), ended_idle)
                with deadline:
                    await program.exited.wait()
                if deadline.cancelled_caught:
                    # Its output is still drained meanwhile: the engine does not kill a
                    # container whose attached output is backed up.
                    await program.stop(grace=0.5)
                with trio.move_on_after(1.0):  # what is still in flight belongs to it
                    await output.collected.wait()
                nursery.cancel_scope.cancel()
            await stream.aclose()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await self.lifecycle(force_remove, container)
        exit_code = None if deadline.cancelled_caught else program.exit_code
        return Completed(command, exit_code, output.stdout.value(), output.stderr.value(),
                         time.monotonic() - started, sum(ended_idle))

    async def run_copies(self, role: str, runs: Sequence[tuple[str, bytes]], timeout: float,
                         ended: Callable[[int], Awaitable[None]] | None = None,
                         ) -> list[Completed]:
        # In one container, under the grader's launcher: a container each costs the
        # engine five times what a copy costs itself.
        return await run_in_one_container(self, role, runs, timeout, ended)

    async def add_files(self, folder: str, files: Mapping[str, bytes]) -> str:
        archive = tar_of_files({f"{folder}/{name}": data for name, data in files.items()},
                               self.student_uid)
        await in_thread(self.pause.put_archive, "/submission", archive)
        return f"/submission/{folder}"

    async def server_port(self) -> int:
        return self.settings.port

    async def teardown(self) -> None:
        probe = getattr(self, "probe", None)
        if probe is not None:
            await probe.aclose()
        await self.lifecycle(self._remove_everything)

    def _remove_everything(self) -> None:
        containers = self.client.containers.list(
            all=True, sparse=True, filters={"label": f"{RUN_LABEL}={self.run_id}"})
        remove_containers(containers)
        for name in (self.volume_name, *self._scratch.values()):
            with suppress(NotFound):
                self.client.volumes.get(name).remove(force=True)


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
        return connect_engine(self.engine_url, self.product, self.service, self._engine_of,
                              timeout)

    def _engine_of(self, client: docker.DockerClient, version: dict[str, Any],
                   info: dict[str, Any]) -> Engine:
        return engine_from_answers(client, self.engine_url, self.product, version, info)

    def unavailable_reason(self, image: bool = True) -> str | None:
        """None when the engine answers (and has the pod's image, with `image`), else why
        not, naming where we looked."""
        try:
            engine = self.connect(timeout=5)
        except BackendUnavailable as exc:
            return str(exc)
        try:
            return image_problem(engine, self.image) if image else None
        finally:
            engine.client.close()

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
        engine = await in_thread(self.connect)
        try:
            await in_thread(require_image, engine, self.image)
            await in_thread(remove_leftovers, engine.client)
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
