"""Sandbox backends. The choice is made here, once; everything after uses the Pod interface."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import BackendUnavailable
from .base import Backend, Completed, Pod, Program
from .local import LocalBackend

if TYPE_CHECKING:
    from ..loading.assignment import Assignment

# Every backend, by name: "module:class", imported only when chosen (the container
# engines need the docker SDK).
REGISTRY = {
    "docker": "grader.pod.docker:DockerBackend",
    "podman": "grader.pod.podman:PodmanBackend",
    "local": "grader.pod.local:LocalBackend",
}
# The backends that run containers through an engine's API: what `auto` tries, in this
# order, before it falls back to local; what `grade cleanup` cleans.
ENGINES = ("docker", "podman")
BACKENDS = ("auto", *REGISTRY)


def backend_class(name: str) -> type[Backend]:
    if name not in REGISTRY:
        raise BackendUnavailable(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    module, _, attribute = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def make_backend(name: str, assignment: Assignment, image: str | None = None,
                 engine_url: str | None = None, run_as: str | None = None) -> Backend:
    """The backend called `name` (not auto) with the assignment's settings."""
    if engine_url and name not in ENGINES:
        raise BackendUnavailable(f"--engine-url is the address of a container engine "
                                 f"({', '.join(ENGINES)}); the {name} backend has none")
    if run_as and name != "local":
        raise BackendUnavailable("--run-as is for the local backend (in a pod, the "
                                 "programs already run as a user of the pod's own)")
    return backend_class(name).for_assignment(assignment, image, engine_url, run_as)


def choose_backend(name: str, assignment: Assignment, image: str | None = None,
                   engine_url: str | None = None, run_as: str | None = None,
                   ) -> tuple[Backend, str | None]:
    """The backend called `name`, and a notice for the user when `auto` passed over one.

    `auto` takes the first engine of ENGINES that answers and has the pod's image, and
    else the local backend; its notice says what it passed over and why."""
    if name != "auto" or run_as:
        backend = make_backend(name if name != "auto" else "local", assignment, image,
                               engine_url, run_as)
        # A missing image is reported when the pod opens, naming it.
        reason = backend.unavailable_reason(image=False)
        if reason is not None:
            raise BackendUnavailable(f"{reason}. {backend.advice}".rstrip(". "))
        return backend, None
    reasons = []
    for engine in ENGINES:
        backend = make_backend(engine, assignment, image, engine_url)
        reason = backend.unavailable_reason()
        if reason is None:
            return backend, (f"{'; '.join(reasons)}: grading with {backend.describe()}"
                             if reasons else None)
        reasons.append(reason)
    from .engine import IMAGE_HELP

    advice = f" ({IMAGE_HELP})" if any("image" in r for r in reasons) else ""
    return (LocalBackend(assignment.limits.output_cap),
            f"{'; '.join(reasons)}{advice}: grading with the local backend, which does NOT "
            "sandbox the programs")


__all__ = ["BACKENDS", "ENGINES", "REGISTRY", "Backend", "Completed", "LocalBackend", "Pod",
           "Program", "backend_class", "choose_backend", "make_backend"]
