"""Podman as a backend of its own: chosen by `auto` when no Docker daemon answers, told
apart from Docker, cleaned up after a grader killed outright, and usable by an
unprivileged user (rootless), and giving the references' verdicts: a sample of them here
(the whole matrix runs on the local backend and Docker, through the same engine code as
Podman's), the sandbox, cleanup and hostile tests on every engine."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import pytest
import trio

from grader import grade, load_assignment, load_submission
from grader.cli import main
from grader.pod import podman
from grader.pod.engine import OWNER_LABEL

from .conftest import (
    REPO,
    ROOTLESS_PODMAN_VARIABLE,
    compose_reference,
    engine_backend_or_skip,
    engine_params,
)
from .test_reference_verdicts import EXPECTED

pytestmark = pytest.mark.podman

ROOTLESS_USER_VARIABLE = "SOCKET_GRADER_ROOTLESS_USER"


def test_auto_takes_podman_when_no_docker_daemon_answers(reference_submission, monkeypatch,
                                                        capsys, tmp_path):
    podman = engine_backend_or_skip("podman")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("CONTAINER_HOST", podman.engine_url)
    report = tmp_path / "report.json"
    folder = str(reference_submission("python"))
    assert main([folder, "--clients", "20", "--quiet", "--json", str(report)]) == 0
    notice = capsys.readouterr().err
    assert "no Docker daemon answered at unix:///nonexistent/docker.sock" in notice
    assert f"grading with Podman {podman.connect().version}" in notice
    assert json.loads(report.read_text())["backend"] == "podman"


def test_docker_backend_pointed_at_podman_names_the_engine(reference_submission, monkeypatch,
                                                           capsys):
    podman = engine_backend_or_skip("podman")
    monkeypatch.setenv("DOCKER_HOST", podman.engine_url)
    assert main([str(reference_submission("python")), "--backend", "docker"]) == 2
    err = capsys.readouterr().err
    assert f"the engine at {podman.engine_url} is Podman" in err
    assert "use --backend podman" in err


@pytest.mark.parametrize("kind", engine_params(("podman", "podman-rootless")))
def test_a_grader_killed_outright_leaves_nothing_after_the_next_grading(
        reference_submission, kind):
    """SIGKILL gives the grader no chance to tear its pod down; the next grading on the
    same engine removes what it left (`grade cleanup` does too: test_docker_cleanup.py)."""
    backend = engine_backend_or_skip(kind)
    client = backend.connect().client
    folder = reference_submission("python")

    def owned_by(pid: int) -> dict:
        return {"label": f"{OWNER_LABEL}={socket.gethostname()}:{pid}"}

    grading = subprocess.Popen(
        [sys.executable, "-m", "grader", str(folder), "--backend", "podman",
         "--engine-url", backend.engine_url, "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                c.labels.get("org.socket-grader.role") == "server"
                for c in client.containers.list(filters=owned_by(grading.pid))):
            time.sleep(0.1)
        grading.send_signal(signal.SIGKILL)
        grading.wait(10)
    finally:
        grading.kill()
    assert client.containers.list(all=True, filters=owned_by(grading.pid)), \
        "the killed grader left nothing: the test did not kill it mid-grading"

    assignment = load_assignment("echo")
    assignment = assignment.with_params("server-concurrency", clients=20)
    trio.run(grade, load_submission(folder, assignment), assignment, backend)
    assert client.containers.list(all=True, filters=owned_by(grading.pid)) == []
    assert client.volumes.list(filters=owned_by(grading.pid)) == []
    client.close()


def test_rootless_grading_as_the_unprivileged_user(tmp_path):
    """The README's rootless setup, end to end: the grader run by the user who runs the
    Podman service finds it at $XDG_RUNTIME_DIR/podman/podman.sock by itself."""
    backend = engine_backend_or_skip("podman-rootless")
    user = os.environ.get(ROOTLESS_USER_VARIABLE)
    if not user or os.geteuid() != 0:
        pytest.skip(f"needs root and {ROOTLESS_USER_VARIABLE} (the user whose service "
                    f"{ROOTLESS_PODMAN_VARIABLE} names; .ci/run sets both)")
    account = pwd.getpwnam(user)
    runtime_dir = f"/run/user/{account.pw_uid}"
    assert backend.engine_url == f"unix://{runtime_dir}/podman/podman.sock"
    as_user = ["runuser", "-u", user, "--", "env", "-u", "DOCKER_HOST", "-u",
               "CONTAINER_HOST", f"HOME={account.pw_dir}", f"XDG_RUNTIME_DIR={runtime_dir}",
               f"PYTHONPATH={REPO}"]
    usable = subprocess.run([*as_user, sys.executable, "-c", "import grader.cli"],
                            capture_output=True, text=True, cwd="/")
    if usable.returncode != 0:
        pytest.skip(f"{user} cannot run this interpreter with the grader "
                    f"({sys.executable}): {usable.stderr.strip()[-200:]}")
    shared = Path(tempfile.mkdtemp(prefix="sg-rootless-"))
    try:
        shared.chmod(0o755)
        shutil.copytree(REPO / "reference" / "echo" / "python" / "correct", shared / "submission")
        done = subprocess.run(
            [*as_user, sys.executable, "-m", "grader", str(shared / "submission"),
             "--backend", "podman", "--clients", "50", "--quiet"],
            capture_output=True, text=True, cwd="/", timeout=240)
    finally:
        shutil.rmtree(shared)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "score 100/100" in done.stdout


# One of each kind of verdict: all pass, a server fault, a client fault, a fault that
# leaves a check inconclusive; and a server started after a setup step, which Podman's
# two inits put at another depth of the container's processes than Docker's one.
SAMPLE = [("python", None), ("c", "no-reuseaddr-server"), ("python", "fixed-port-client"),
          ("python", "iterative-server"), ("python", "setup-then-server")]


@pytest.mark.parametrize("kind", engine_params(("podman", "podman-rootless")))
def test_podman_gives_the_references_their_verdicts(kind, tmp_path):
    backend = engine_backend_or_skip(kind)
    assignment = load_assignment("echo")
    for language, faulty in SAMPLE:
        folder = compose_reference(tmp_path / f"{language}-{faulty}", language, faulty)
        report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
        not_passed = {c.id: str(c.status) for c in report.checks if c.status.value != "pass"}
        assert not_passed == EXPECTED[(language, faulty)], (faulty, [
            (c.id, c.summary, c.grader_traceback) for c in report.checks])


def test_a_pod_whose_seccomp_profile_the_service_cannot_open_is_never_made(
        reference_submission, monkeypatch):
    """Podman's Docker API takes the pod's seccomp profile as a path the service opens
    (grader/pod/podman.py): where it cannot, the grading stops with the engine's reason,
    never runs the containers under Podman's default profile (nested user namespaces), and
    leaves nothing behind."""
    backend = engine_backend_or_skip("podman")
    monkeypatch.setattr(podman, "SECCOMP_PROFILE", Path("/nonexistent/profile.json"))
    assignment = load_assignment("echo")
    submission = load_submission(reference_submission("python"), assignment)
    with pytest.raises(ExceptionGroup) as raised:  # the engine's error, from a nursery
        trio.run(grade, submission, assignment, backend)
    assert raised.group_contains(docker.errors.APIError, match="opening seccomp profile failed")
    client = backend.connect().client
    owned = {"label": f"{OWNER_LABEL}={socket.gethostname()}:{os.getpid()}"}
    assert client.containers.list(all=True, filters=owned) == []
    assert client.volumes.list(filters=owned) == []
    client.close()
