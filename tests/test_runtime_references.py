"""The references in the runtimes students use (Go, Node, Java), graded on the local
backend: each correct one written the way its runtime's tutorials do passes every check.

They show their runtime's defaults, which the C and Python references do not: a listener
on [::] that takes IPv4 clients as ::ffff:127.x.y.z, SO_REUSEADDR set by the runtime,
the runtime's own listen backlog, and a socket 'error' that is one client's loss. The
pod image holds none of these toolchains, so only the local backend grades them here.
Without a toolchain its references are skipped, except in CI (CI=true), where .ci/run
installs them and a missing one is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest
import trio

from grader import Status, grade, load_assignment, load_submission
from grader.pod import LocalBackend

from .conftest import compose_reference

# What each runtime's programs need on the PATH to be built and run.
TOOLCHAINS = {"go": ("go",), "node": ("node",), "java": ("javac", "java")}

# (runtime, faulty) -> the checks that must not pass, with their status.
EXPECTED = {
    ("go", None): {},
    ("node", None): {},
    ("java", None): {},
    # new ServerSocket(port): Java's default backlog of 50 cannot hold 100 at once.
    ("java", "default-backlog-server"): {"server-burst": "fail"},
}


def require_toolchain(runtime: str) -> None:
    missing = [tool for tool in TOOLCHAINS[runtime] if shutil.which(tool) is None]
    if not missing:
        return
    reason = (f"{', '.join(missing)} not installed: the {runtime} references need it "
              "(apt-get install golang-go default-jdk-headless nodejs)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required in CI (.ci/run installs it): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade each reference once (its build included); several tests read its report."""
    reports = {}

    def report(runtime: str, faulty: str | None = None):
        require_toolchain(runtime)
        if (runtime, faulty) not in reports:
            folder = compose_reference(tmp_path_factory.mktemp(runtime) / "submission",
                                       runtime, faulty)
            assignment = load_assignment("echo")
            reports[(runtime, faulty)] = trio.run(
                grade, load_submission(folder, assignment), assignment, LocalBackend())
        return reports[(runtime, faulty)]

    return report


@pytest.mark.parametrize(("runtime", "faulty"), list(EXPECTED),
                         ids=[f"{runtime}-{faulty or 'correct'}" for runtime, faulty in EXPECTED])
def test_runtime_reference_verdicts(runtime, faulty, graded):
    report = graded(runtime, faulty)
    assert all(build.exit_code == 0 for build in report.builds), report.builds
    not_passed = {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS}
    assert not_passed == EXPECTED[(runtime, faulty)], [
        (c.id, str(c.status), c.summary, c.grader_traceback) for c in report.checks
        if c.status is not Status.PASS]
    for result in report.checks:
        if result.status in (Status.FAIL, Status.PARTIAL):
            assert result.hint, f"{result.id} failed without telling the student what to do"


@pytest.mark.parametrize("runtime", list(TOOLCHAINS))
def test_dual_stack_listener_is_seen_holding_every_connection(runtime, graded):
    """Their listener is on [::] (IPv4 connections in tcp6, mapped): the socket table
    must still show every connection on the server's one port."""
    report = graded(runtime)
    concurrency = report.check("server-concurrency")
    clients = concurrency.evidence["connections"]
    assert concurrency.evidence["established_before_rounds"] == clients
    assert report.check("server-one-port").status is Status.PASS


def test_java_default_backlog_is_read_from_the_kernel(graded):
    burst = graded("java", "default-backlog-server").check("server-burst")
    assert burst.evidence["backlog"] == 50, burst.evidence
    assert "backlog is 50" in burst.summary
    assert graded("java").check("server-burst").evidence["backlog"] > 100
