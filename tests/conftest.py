from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds of waiting on purpose "
                                       "(deselect with -m 'not slow')")
    config.addinivalue_line("markers", "podman: needs a reachable Podman service (skipped "
                                       "without one, required when CI=true)")
REFERENCE = REPO / "reference" / "echo"  # the echo assignment's references


def wait_for(condition: Callable[[], object], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; one last look then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def interrupt(command: list[str], cwd: Path, started: Callable[[int], object],
              timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `command`, press Ctrl-C once `started(pid)` says the student's server runs, and
    return what it printed; `args` is its pid (what it left carries it)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: started(process.pid), timeout), "the server never started"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.pid, process.returncode, out, err)


def compose_reference(target: Path, language: str, faulty: str | None = None) -> Path:
    """A submission folder: the correct programs of `language`, with one program in place
    of its correct twin: a faulty one (reference/echo/<language>/faulty/<faulty>/), or a
    correct one written another way (reference/echo/<language>/variants/<faulty>/)."""
    shutil.copytree(REFERENCE / language / "correct", target)
    if faulty:
        kind = "variants" if (REFERENCE / language / "variants" / faulty).is_dir() else "faulty"
        shutil.copytree(REFERENCE / language / kind / faulty, target, dirs_exist_ok=True)
    return target


@pytest.fixture
def reference_submission(tmp_path):
    def make(language: str, faulty: str | None = None) -> Path:
        return compose_reference(tmp_path / f"{language}-{faulty or 'correct'}", language,
                                 faulty)

    return make


@pytest.fixture
def write_submission(tmp_path):
    """A submission folder with the given files (name -> text)."""

    def make(files: dict[str, str], name: str = "submission") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for file_name, text in files.items():
            (folder / file_name).write_text(text)
        return folder

    return make


# The container-engine backends the tests run on: docker and podman (rootful) at their
# usual addresses, and podman-rootless at the address in ROOTLESS_PODMAN_VARIABLE: a
# Podman service run by an unprivileged user (.ci/run sets one up and exports it).
ENGINE_KINDS = ("docker", "podman", "podman-rootless")
ROOTLESS_PODMAN_VARIABLE = "SOCKET_GRADER_ROOTLESS_PODMAN"


def engine_backend_or_skip(kind: str = "docker", assignment=None):
    """The backend of engine `kind` for the tests (with `assignment`'s settings, else the
    echo assignment's). Without its engine: skipped locally, a failure in CI (CI=true),
    where these tests are required. The rootless one is required only once configured."""
    from grader.assignments import load_assignment
    from grader.pod import make_backend

    url = None
    if kind == "podman-rootless":
        url = os.environ.get(ROOTLESS_PODMAN_VARIABLE)
        if not url:
            pytest.skip(f"no rootless Podman service configured: set "
                        f"{ROOTLESS_PODMAN_VARIABLE} to its socket, e.g. unix:///run/user/"
                        "UID/podman/podman.sock (.ci/run sets one up; README, Backends)")
    backend = make_backend(kind.removesuffix("-rootless"), assignment or load_assignment("echo"),
                           os.environ.get("SOCKET_GRADER_IMAGE"), url)
    reason = backend.unavailable_reason()
    if reason is None and kind == "podman-rootless" and not _rootless(backend):
        reason = f"the Podman service at {url} runs as root, not rootless"
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{kind} is required in CI: {reason}")
        pytest.skip(reason)
    return backend


def _rootless(backend) -> bool:
    engine = backend.connect()
    engine.client.close()
    return engine.rootless


def skip_without_limit(backend, limit: str) -> None:
    """Skip a test that needs the engine to apply `limit` ("memory", "pids", "cpu"),
    where it cannot (rootless on cgroup v1), saying so; the report's notice is tested
    instead (test_docker_sandbox.py)."""
    engine = backend.connect()
    engine.client.close()
    if limit in engine.missing_limits:
        pytest.skip(f"{engine} cannot apply a {limit} limit here (cgroup "
                    f"v{engine.cgroup_version}, no controller delegated to it)")


def docker_backend_or_skip():
    """The Docker backend for the tests (see engine_backend_or_skip)."""
    return engine_backend_or_skip("docker")


def engine_params(kinds=ENGINE_KINDS):
    """pytest params for each engine kind, marked with its marker (docker, podman)."""
    return [pytest.param(kind, marks=getattr(pytest.mark, kind.split("-")[0]), id=kind)
            for kind in kinds]


# The full verdict matrix runs on the local backend and on Docker. Podman is driven
# through the same engine code (grader/pod/docker.py): its own tests (test_podman.py)
# grade a sample of the references on it, rootful and rootless, against the same
# expectations, and the sandbox, cleanup and hostile tests run on every engine.
VERDICT_BACKENDS = ("local", *engine_params(("docker",)))


@pytest.fixture(params=VERDICT_BACKENDS, scope="module")
def backend(request):
    """Each backend in turn: the same tests must give the same verdicts on all."""
    if request.param == "local":
        from grader.pod import LocalBackend

        return LocalBackend()
    return engine_backend_or_skip(request.param)
