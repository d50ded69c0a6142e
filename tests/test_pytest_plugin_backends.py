"""`pytest --grade DIR` on every backend, Ctrl-C in the middle of it, and the installed
entry point (the plugin itself: test_pytest_plugin.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import compose_reference, engine_backend_or_skip, engine_params, interrupt
from .test_pytest_plugin import (
    ECHO_CHECKS,
    assert_server_gone,
    note_server_pid,
    plugin_environment,
    require_installed_plugin,
    run_pytest,
)

# On every backend; Ctrl-C leaves nothing behind ---------------------------------------

def test_correct_reference_passes_every_item_on_every_backend(tmp_path, backend):
    compose_reference(tmp_path / "submission", "python")
    engine = ("--grade-engine-url", backend.engine_url) if backend.name != "local" else ()
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-backend", backend.name,
                      *engine, "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(ECHO_CHECKS)} passed" in done.stdout and "score 100/100" in done.stdout


def _interrupt(cwd: Path, started, *args: str) -> subprocess.CompletedProcess:
    """Start pytest --grade, press Ctrl-C once `started(pid)` says the server runs."""
    return interrupt([sys.executable, "-m", "pytest", "-p", "grader.pytest_plugin", "-p",
                      "no:cacheprovider", "--grade", "submission", *args], cwd, started, 90,
                     env=plugin_environment())


def test_ctrl_c_on_local_backend_leaves_no_process_or_folder(tmp_path):
    note = note_server_pid(compose_reference(tmp_path / "submission", "python"))
    done = _interrupt(tmp_path, lambda _: note.exists(), "--grade-backend", "local")
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout + done.stderr
    assert "KeyboardInterrupt" in done.stdout
    assert "stopped (interrupted): no score; its pod was torn down" in done.stdout
    assert_server_gone(note)


@pytest.mark.parametrize("kind", engine_params())
def test_ctrl_c_on_an_engine_leaves_no_container_or_volume(tmp_path, kind):
    backend = engine_backend_or_skip(kind)
    client = backend.connect().client
    compose_reference(tmp_path / "submission", "python")

    def owned_by(pid: int) -> dict:
        return {"label": f"org.socket-grader.owner={socket.gethostname()}:{pid}"}

    def server_running(pid: int) -> bool:
        return any(c.labels.get("org.socket-grader.role") == "server"
                   for c in client.containers.list(filters=owned_by(pid)))

    done = _interrupt(tmp_path, server_running, "--grade-backend", backend.name,
                      "--grade-engine-url", backend.engine_url)
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout + done.stderr
    assert client.containers.list(all=True, filters=owned_by(done.args)) == []
    assert client.volumes.list(filters=owned_by(done.args)) == []


# The entry point -------------------------------------------------------------------------

def test_the_installed_entry_point_loads_the_plugin(tmp_path):
    """`pip install` registers the plugin (pytest11): `pytest --grade` with no -p."""
    require_installed_plugin()
    compose_reference(tmp_path / "submission", "python")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--grade", "submission", "--grade-backend", "local",
                           "--collect-only", "-q"], cwd=tmp_path, env=plugin_environment(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "echo::Q1::server-starts"


@pytest.mark.docker
def test_a_grading_that_cannot_run_is_an_error_on_each_item_said_once(tmp_path):
    backend = engine_backend_or_skip("docker")
    compose_reference(tmp_path / "submission", "python")
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-backend", "docker",
                      "--grade-engine-url", backend.engine_url, "--grade-image",
                      "socket-grader/no-such-image:1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{len(ECHO_CHECKS)} errors" in done.stdout
    # Said in full by the first item only: in its error, its line of the short summary
    # (-rA), and the session's footer; every other item says "as said above".
    assert done.stdout.count("'socket-grader/no-such-image:1' is not on") == 3
    assert "the grading ended before server-restart: as said above" in done.stdout
    assert "During handling" not in done.stdout
