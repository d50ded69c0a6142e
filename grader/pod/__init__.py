"""Sandbox backends. The choice is made here, once; everything after uses the Pod interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BackendUnavailable
from .base import Backend, Completed, Pod, Program
from .local import LocalBackend

if TYPE_CHECKING:
    from ..loading.assignment import Assignment

BACKENDS = ("auto", "docker", "local")


def choose_backend(name: str, assignment: Assignment, image: str | None = None,
                   ) -> tuple[Backend, str | None]:
    """The backend called `name`, and a notice for the user when `auto` fell back to local."""
    if name == "local":
        return LocalBackend(assignment.limits.output_cap), None
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    from .docker import IMAGE_HELP, DockerBackend, docker_unreachable_reason

    docker_backend = DockerBackend.for_assignment(assignment, image)
    if name == "docker":
        reason = docker_unreachable_reason()
        if reason is not None:
            raise BackendUnavailable(f"{reason}. Start Docker, set DOCKER_HOST, or grade "
                                     "with --backend local (not sandboxed)")
        return docker_backend, None  # a missing image is reported when the pod opens
    reason = docker_unreachable_reason(docker_backend.image)
    if reason is None:
        return docker_backend, None
    advice = f" ({IMAGE_HELP})" if "image" in reason else ""
    return (LocalBackend(assignment.limits.output_cap),
            f"{reason}{advice}: grading with the local backend, which does NOT sandbox "
            "the programs")


__all__ = ["BACKENDS", "Backend", "Completed", "LocalBackend", "Pod", "Program",
           "choose_backend"]
