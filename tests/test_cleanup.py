"""Ctrl-C in the middle of a grading stops every program and removes every pod."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grader.pod import reaping

from .conftest import REPO, engine_backend_or_skip, engine_params, interrupt


def _interrupt_grading(folder: Path, backend: str, started,
                       *options: str) -> subprocess.CompletedProcess:
    """Start `grade`, wait until `started(pid)` says the student's server runs, press Ctrl-C."""
    return interrupt([sys.executable, "-m", "grader", str(folder), "--backend", backend,
                      *options], REPO, started, 60)


def test_ctrl_c_on_local_backend_leaves_no_process_or_folder(reference_submission):
    folder = reference_submission("python")
    note = folder.parent / "server-note"
    server = (folder / "server.py").read_text()
    (folder / "server.py").write_text(
        f"import os, pathlib\npathlib.Path({str(note)!r}).write_text("
        f"f'{{os.getpid()}} {{os.getcwd()}}')\n" + server)
    done = _interrupt_grading(folder, "local", lambda _: note.exists())
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr
    pid, workdir = note.read_text().split()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
        f"/proc/{pid}/status").read_text().lower()
    assert not Path(workdir).exists()


@pytest.mark.parametrize("kind", engine_params())
def test_ctrl_c_on_an_engine_leaves_no_container_or_volume(reference_submission, kind):
    backend = engine_backend_or_skip(kind)
    client = backend.connect().client

    def owned_by(pid: int) -> dict:
        return {"label": f"org.socket-grader.owner={socket.gethostname()}:{pid}"}

    def server_running(pid: int) -> bool:
        return any(c.labels.get("org.socket-grader.role") == "server"
                   for c in client.containers.list(filters=owned_by(pid)))

    done = _interrupt_grading(reference_submission("python"), backend.name, server_running,
                              "--engine-url", backend.engine_url)
    assert done.returncode == 130, done.stderr
    grader_pid = done.args
    assert client.containers.list(all=True, filters=owned_by(grader_pid)) == []
    assert client.volumes.list(filters=owned_by(grader_pid)) == []


def _own_session_child() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "30"], start_new_session=True)


def test_only_children_the_grader_did_not_start_count_as_escapees(monkeypatch):
    """A child of ours in a session of its own is an escapee (a daemon adopted by the
    subreaper) unless we started it: two pods of one process must not take each other's
    programs for escapees, even while one is being started and its pid is not yet known
    (a teardown once killed the other pod's server as it restarted: exit status 0)."""
    monkeypatch.setattr(reaping, "START_WAIT", 0.2)
    escaped, started, starting = (_own_session_child() for _ in range(3))
    try:
        reaping.SPAWNS.started(started.pid)
        assert escaped.pid in reaping.adopted() and started.pid not in reaping.adopted()
        with reaping.SPAWNS.starting():  # `starting` exists; its start is under way
            assert reaping.adopted() == []
        reaping.SPAWNS.started(starting.pid)
        assert set(reaping.adopted()) & {started.pid, starting.pid} == set()
    finally:
        for child in (escaped, started, starting):
            reaping.SPAWNS.ended(child.pid)
            child.kill()
            child.wait()
