"""`pytest --grade DIR` runs nothing of the submission: no conftest.py, test file or pytest
setting of it, nor of another student's folder (grader/pytest_plugin/isolation.py); where
it cannot be sure, it refuses. Each attack is a student's, on the python server that
speaks UDP (30/100), run on the local backend.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import compose_reference
from .test_pytest_plugin import (
    ECHO_CHECKS,
    assert_same_as_grade,
    graded,
    junit_statuses,
    plugin_environment,
    run_pytest,
)

# A student's conftest.py: every item passes, the session exits 0; it leaves a note when
# pytest imports it, as does the student's own test when it runs.
FORCE_PASS = '''\
from pathlib import Path

import pytest

Path(__file__).with_name("conftest-imported").touch()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome, report.longrepr = "passed", None
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    session.exitstatus = 0
'''

OWN_TEST = '''\
from pathlib import Path


def test_own():
    Path(__file__).with_name("test-ran").touch()
'''


def hostile_repository(folder: Path) -> Path:
    """The python server that speaks UDP (30/100), with a conftest.py that makes every item
    pass at the top and in a subfolder, and a test of the student's own."""
    compose_reference(folder, "python", "udp-server")
    (folder / "conftest.py").write_text(FORCE_PASS)
    (folder / "tests").mkdir()
    (folder / "tests" / "conftest.py").write_text(FORCE_PASS)
    (folder / "tests" / "test_own.py").write_text(OWN_TEST)
    return folder


def notes_left(folder: Path) -> list[Path]:
    return sorted([*folder.rglob("conftest-imported"), *folder.rglob("test-ran")])


def test_a_submissions_conftest_and_tests_take_no_part(tmp_path):
    """`pytest --grade .` run inside the student's repository, as its CI would."""
    repository = hostile_repository(tmp_path / "repository")
    done = run_pytest(repository, "--grade", ".", "--grade-backend", "local",
                      "--junitxml", str(tmp_path / "out.xml"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert notes_left(tmp_path) == []
    statuses = junit_statuses(tmp_path / "out.xml")
    assert list(statuses) == ECHO_CHECKS  # the student's test_own is not collected
    assert_same_as_grade(statuses, graded(repository))
    assert "score 30/100" in done.stdout
    suite = ET.parse(tmp_path / "out.xml").getroot().find("testsuite")
    assert int(suite.get("failures")) >= 1


def test_grading_one_student_runs_nothing_of_another(tmp_path):
    """From a course folder: alice is graded; bob's conftest.py and test never run."""
    course = tmp_path / "course"
    compose_reference(course / "alice", "python", "udp-server")
    hostile_repository(course / "bob")
    done = run_pytest(course, "--grade", "alice", "--grade-backend", "local")
    assert done.returncode == 1, done.stdout + done.stderr
    assert notes_left(course) == []
    assert "score 30/100" in done.stdout and "test_own" not in done.stdout


SETTINGS = {
    "pytest.ini": "[pytest]\naddopts = --grade-fail-under 0\n",
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--grade-fail-under 0"\n',
    "tox.ini": "[pytest]\naddopts = --grade-fail-under 0\n",
    "setup.cfg": "[tool:pytest]\naddopts = --grade-fail-under 0\n",
}


@pytest.mark.parametrize("name", SETTINGS)
def test_pytest_settings_in_the_submission_are_refused(tmp_path, name):
    """The submission's addopts (here lowering the bar to 0 %) would change the grading."""
    compose_reference(tmp_path / "repository", "python", "udp-server")
    (tmp_path / "repository" / name).write_text(SETTINGS[name])
    done = run_pytest(tmp_path / "repository", "--grade", ".", "--grade-backend", "local")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert f"pytest read its settings from {tmp_path / 'repository' / name}, a file of " \
        "the submission" in done.stderr
    assert "pytest -c /dev/null --rootdir . --grade" in done.stderr  # what to run instead
    assert "socket-grader: echo" not in done.stdout  # refused before any grading


def test_python_m_pytest_inside_the_submission_is_refused(tmp_path):
    """`python -m pytest` puts the current folder first on the import path: a module of
    the student's (a `grader/` or `trio.py`) would be imported in place of ours."""
    repository = hostile_repository(tmp_path / "repository")
    done = run_pytest(repository, "--grade", ".", "--grade-backend", "local", python=())
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert f"{repository} is on Python's import path" in done.stderr
    assert notes_left(tmp_path) == []


def test_test_paths_are_refused(tmp_path):
    compose_reference(tmp_path / "submission", "python")
    (tmp_path / "test_mine.py").write_text(OWN_TEST)
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-backend", "local",
                      "test_mine.py")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "not the test paths given (test_mine.py)" in done.stderr
    assert notes_left(tmp_path) == []


def test_the_plugin_loaded_by_a_conftest_is_refused(tmp_path):
    """Loaded by a conftest.py's pytest_plugins, the plugin comes after pytest loaded the
    first conftest.py files: too late to keep the submission's out."""
    compose_reference(tmp_path / "submission", "python")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["grader.pytest_plugin"]\n')
    done = subprocess.run([sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider",
                           "--grade", "submission", "--grade-backend", "local"], cwd=tmp_path,
                          env={**plugin_environment(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "the plugin was loaded after pytest had loaded the first conftest.py" in done.stderr
