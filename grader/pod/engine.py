"""The container engine behind the Docker API: reaching it, its facts, and dead runs' leftovers.

Every container and volume a pod makes carries the labels defined here, which is how
`remove_leftovers` finds those of a grader process that is gone. The Docker SDK blocks,
so async callers run each call in a worker thread (`in_thread`).
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import requests
import trio
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from ..errors import BackendUnavailable

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.volumes import Volume

LABEL = "org.socket-grader"
RUN_LABEL = f"{LABEL}.run"
OWNER_LABEL = f"{LABEL}.owner"  # hostname:pid of the grader that made it
ROLE_LABEL = f"{LABEL}.role"
API_TIMEOUT = 60
IMAGE_HELP = ("Pull an image with python3 (e.g. `docker pull python:3.12-slim`; add gcc and "
              "make for C submissions) or build the offline base image with "
              "`grader/pod/images/build-base-image.sh`. Nothing is pulled automatically.")


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


# How an engine's own facts are read from its client and its /version and /info answers.
EngineFacts = Callable[[docker.DockerClient, dict[str, Any], dict[str, Any]], Engine]


def connect_engine(url: str, product: str, service: str, facts: EngineFacts,
                   timeout: float = API_TIMEOUT) -> Engine:
    """The engine at `url`, checked to be `product` (its `service` names it in errors)."""
    client = None
    try:
        client = docker.from_env(timeout=timeout, environment={**os.environ, "DOCKER_HOST": url})
        version = client.version()
        info = client.info()
    except DockerException as exc:
        if client is not None:
            client.close()
        raise BackendUnavailable(f"no {product} {service} answered at "
                                 f"{url} ({short_error(exc)})") from None
    answered = engine_product(version)
    if answered != product:
        client.close()
        raise BackendUnavailable(f"the engine at {url} is {answered} "
                                 f"{version.get('Version', '?')}, not {product} "
                                 f"(use --backend {answered.lower()})")
    try:
        return facts(client, version, info)
    except (DockerException, requests.exceptions.RequestException) as exc:
        client.close()
        raise BackendUnavailable(f"the {product} {service} at {url} did not say what it "
                                 f"can do ({short_error(exc)})") from None


def engine_from_answers(client: docker.DockerClient, url: str, product: str,
                        version: dict[str, Any], info: dict[str, Any]) -> Engine:
    """The engine's facts, from its /version and /info answers."""
    missing = tuple(limit for limit, key in (("memory", "MemoryLimit"),
                                             ("pids", "PidsLimit"),
                                             ("cpu", "CpuCfsQuota"))
                    if info.get(key) is False)
    return Engine(client, url, product, str(version.get("Version", "?")),
                  any("rootless" in str(o) for o in info.get("SecurityOptions") or ()),
                  str(info.get("CgroupVersion") or "?"), missing)


def engine_product(version: dict[str, Any]) -> str:
    """Which engine serves this Docker API, from its /version answer: "Podman" (its
    service names itself in Components), else "Docker"."""
    names = [str(c.get("Name", "")) for c in version.get("Components") or ()]
    return "Podman" if any(n.startswith("Podman") for n in names) else "Docker"


def image_problem(engine: Engine, image: str) -> str | None:
    """None when the engine has `image`, else why it cannot be used."""
    try:
        engine.client.images.get(image)
    except ImageNotFound:
        return f"the image {image!r} is not on the {engine}"
    except DockerException as exc:
        return f"the {engine} did not answer ({short_error(exc)})"
    return None


def require_image(engine: Engine, image: str) -> None:
    """Refuse to grade on an engine without the pod's image, saying how to get one."""
    try:
        engine.client.images.get(image)
    except ImageNotFound:
        raise BackendUnavailable(f"the image {image!r} is not on the {engine}. "
                                 f"{IMAGE_HELP}") from None


def short_error(exc: BaseException) -> str:
    """The last line of an engine's error, short enough for a one-line message."""
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking Docker SDK call, made in a worker thread."""
    return await trio.to_thread.run_sync(functools.partial(function, *args, **kwargs),
                                         abandon_on_cancel=True)


def run_labels(run_id: str, role: str) -> dict[str, str]:
    """The labels of a container or volume of grading run `run_id`, made by this process."""
    return {LABEL: "1", RUN_LABEL: run_id, OWNER_LABEL: _owner(), ROLE_LABEL: role}


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _labels(made: Container | Volume) -> dict[str, str]:
    """A container's or a volume's labels, also from a sparse listing (no inspection)."""
    return made.attrs.get("Labels") or {}


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


def remove_containers(containers: list[Container]) -> None:
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
    remove_containers(containers)
    volumes = [v for v in client.volumes.list(filters={"label": LABEL})
               if everything or _labels(v).get(RUN_LABEL) in runs]
    for volume in volumes:
        with suppress(NotFound):
            volume.remove(force=True)
    return len(containers), len(volumes)
