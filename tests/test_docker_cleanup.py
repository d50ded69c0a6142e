"""`grade cleanup` removes what crashed runs left in Docker or Podman, and only that."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

from grader.cli import main
from grader.pod.engine import LABEL, OWNER_LABEL, RUN_LABEL

from .conftest import engine_backend_or_skip, engine_params


def _leftover(client, image, owner_pid):
    labels = {LABEL: "1", RUN_LABEL: f"sg-test-{owner_pid}",
              OWNER_LABEL: f"{socket.gethostname()}:{owner_pid}"}
    return client.containers.create(image, ["sleep", "1"], labels=labels,
                                    network_mode="none")


@pytest.mark.parametrize("kind", engine_params())
def test_cleanup_removes_runs_whose_grader_is_gone(capsys, monkeypatch, kind):
    """Every pod's opening also sweeps this host's leftovers, and other test workers open
    pods meanwhile: the leftovers here belong to a host of their own, so only this
    cleanup may remove them."""
    backend = engine_backend_or_skip(kind)
    import docker

    own_host = f"sg-cleanup-test-{os.getpid()}"
    monkeypatch.setattr(socket, "gethostname", lambda: own_host)
    client = backend.connect().client
    dead_pid = 4_000_000  # above the kernel's pid_max: no such process
    dead = _leftover(client, backend.image, dead_pid)
    alive = _leftover(client, backend.image, os.getpid())
    try:
        assert main(["cleanup", "--backend", backend.name,
                     "--engine-url", backend.engine_url]) == 0
        assert "removed 1 container(s)" in capsys.readouterr().out
        # sparse: other test workers remove their own containers between listing and inspecting
        names = {c.id for c in client.containers.list(all=True, sparse=True,
                                                      filters={"label": LABEL})}
        assert dead.id not in names and alive.id in names
    finally:
        for container in (dead, alive):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_cleanup_tolerates_containers_that_vanish_while_it_works():
    """Another grading's teardown may remove a container between our listing and our
    removal (issue 14 saw a batch worker crash on it): the listing does not inspect each
    container, and one already gone is simply passed over."""
    from docker.errors import NotFound

    from grader.pod.engine import remove_leftovers

    class Vanished:
        def __init__(self) -> None:
            self.attrs = {"Labels": {LABEL: "1", RUN_LABEL: "sg-gone",
                                     OWNER_LABEL: "nowhere:1"}}

        def remove(self, force: bool = False) -> None:
            raise NotFound("removed by another grading in between")

    class Containers:
        def list(self, all: bool = False, sparse: bool = False, filters=None):
            if not sparse:  # inspecting each one is where a vanished one breaks listing
                raise NotFound("No such container: inspected after it was removed")
            return [Vanished()]

    class Volumes:
        def list(self, filters=None):
            return []

    class Client:
        containers, volumes = Containers(), Volumes()

    assert remove_leftovers(Client(), everything=True) == (1, 0)
