from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds of waiting on purpose "
                                       "(deselect with -m 'not slow')")
REFERENCE = REPO / "reference"


def compose_reference(target: Path, language: str, faulty: str | None = None) -> Path:
    """A submission folder: the correct programs of `language`, with one faulty program
    (from reference/<language>/faulty/<faulty>/) in place of its correct twin."""
    shutil.copytree(REFERENCE / language / "correct", target)
    if faulty:
        shutil.copytree(REFERENCE / language / "faulty" / faulty, target, dirs_exist_ok=True)
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


def docker_backend_or_skip():
    """The Docker backend for the tests. Without a daemon: skipped locally, a failure in
    CI (CI=true), where the Docker tests are required."""
    from grader.assignments import load_assignment
    from grader.pod.docker import DockerBackend, docker_unreachable_reason

    reason = docker_unreachable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Docker is required in CI: {reason}")
        pytest.skip(reason)
    return DockerBackend.for_assignment(load_assignment("echo"),
                                        os.environ.get("SOCKET_GRADER_IMAGE"))


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)],
                scope="module")
def backend(request):
    """Each backend in turn: the same tests must give the same verdicts on both."""
    if request.param == "docker":
        return docker_backend_or_skip()
    from grader.pod import LocalBackend

    return LocalBackend()
