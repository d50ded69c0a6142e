"""socket-grader as a pytest plugin: `pytest --grade DIR`.

Installed with the package (the `pytest11` entry point) and inert without `--grade`.
With it, the session holds one pytest item per check of the assignment's plan, in plan
order (items.py), all reported from ONE grading: `grade()`, the runner `grade DIR` uses,
in a background thread (background.py), in one pod, with the same deadlines and the
same results. The instructor's tests (the assignment folder's `tests/`) run in the same
pod after the plan's checks. Nothing of the submission takes part: no conftest.py, test
file or pytest setting of it (isolation.py). session.py says how `-k`, `-x`, Ctrl-C and
the exit status behave.
"""

from __future__ import annotations

import os

import pytest

from ..loading.assignment import Assignment
from ..pod import BACKENDS
from .fixtures import (
    GRADING,
    call_in_pod,
    check_context,
    check_results,
    pod,
    probe,
    runs_in_pod,
    submission,
)
from .isolation import INSTRUCTOR_TESTS, confine, instructor_tests

ASSIGNMENT = pytest.StashKey[Assignment]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socket-grader", "grading a TCP socket submission (socket-grader)")
    group.addoption("--grade", metavar="DIR", default=None,
                    help="grade the submission in DIR: one test item per check of the "
                    "assignment's plan, all run in one pod")
    group.addoption("--grade-assignment", metavar="NAME|PATH", default="echo",
                    help="a bundled assignment or the folder of your own (default: echo); "
                    f"the tests in its {INSTRUCTOR_TESTS}/ folder run too, in the same pod")
    group.addoption("--grade-backend", choices=BACKENDS, default="auto",
                    help="where the programs run, as grade --backend (default: auto)")
    group.addoption("--grade-image", metavar="IMAGE", default=None,
                    help="container image for the pod (default: the assignment's, or "
                    "$SOCKET_GRADER_IMAGE)")
    group.addoption("--grade-engine-url", metavar="URL", default=None,
                    help="the container engine's API address, as grade --engine-url")
    group.addoption("--grade-fail-under", metavar="PERCENT", type=float, default=100.0,
                    help="exit status 0 when the score is at least PERCENT of the maximum, "
                    "as grade --fail-under (default: 100)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before pytest loads any conftest.py: the assignment, and the submission kept out."""
    namespace = early_config.known_args_namespace
    folder = getattr(namespace, "grade", None)
    if folder is None:
        return
    from ..assignments import load_assignment
    from ..errors import GraderError

    try:
        assignment = load_assignment(namespace.grade_assignment)
    except GraderError as exc:
        raise pytest.UsageError(f"socket-grader: {exc}") from None
    submission = (early_config.invocation_params.dir / folder).resolve()
    confine(early_config, submission, assignment.path)
    early_config.stash[ASSIGNMENT] = assignment


def pytest_configure(config: pytest.Config) -> None:
    folder = config.getoption("grade", None)
    if folder is None:
        return
    from ..errors import GraderError
    from ..loading.submission import load_submission
    from ..pod import choose_backend
    from .background import BackgroundGrading
    from .session import GradingSession

    if ASSIGNMENT not in config.stash:  # loaded after pytest's start: too late to confine
        raise pytest.UsageError("socket-grader: the plugin was loaded after pytest had "
                                "loaded the first conftest.py files (by a pytest_plugins "
                                "variable?): install the grader, or name the plugin with "
                                "-p grader.pytest_plugin")
    assignment = config.stash[ASSIGNMENT]
    image = config.getoption("grade_image") or os.environ.get("SOCKET_GRADER_IMAGE")
    try:
        graded = load_submission(folder, assignment)
        backend, notice = choose_backend(config.getoption("grade_backend"), assignment,
                                         image, config.getoption("grade_engine_url"))
    except GraderError as exc:
        raise pytest.UsageError(f"socket-grader: {exc}") from None
    grading = BackgroundGrading(graded, assignment, backend)
    config.stash[GRADING] = grading
    config.pluginmanager.register(
        GradingSession(config, grading, config.getoption("grade_fail_under"), notice),
        "socket-grader-session")
    # Collected: the assignment's tests only, never the current folder or testpaths.
    tests = instructor_tests(assignment.path)
    config.args = [str(tests)] if tests else []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that runs in the pod is not pytest-trio's to run, even in its trio_mode:
    a trio object works only in the trio run that made it (tried: the probe's answer,
    read in the grading's run, cannot wake a task of another run; trio asserts, and
    the grading breaks). Its own `trio` mark is dropped; a module's or class's is an
    error at setup."""
    if GRADING not in config.stash:
        return
    for item in items:
        if runs_in_pod(item):
            item.own_markers[:] = [mark for mark in item.own_markers if mark.name != "trio"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if runs_in_pod(item) and item.get_closest_marker("trio") is not None:
        pytest.fail("a test that asks for the grading's fixtures runs in the grading's own "
                    "trio run, in its pod: remove the trio mark of its module or class "
                    "(pytest-trio would run it in another trio run, where the pod cannot "
                    "work)", pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """An async test asking for the grading's fixtures runs in the grading's trio run."""
    if not runs_in_pod(pyfuncitem):
        return None
    call_in_pod(pyfuncitem)
    return True


__all__ = ["check_context", "check_results", "pod", "probe", "submission"]
