"""The http assignment: every reference gets exactly its verdicts on every backend.

Beside our own correct and faulty programs, real programs nobody here wrote: nginx must
pass every server check and curl every client check; `python3 -m http.server`, an
HTTP/1.0 server, must fail the persistent-connection checks and nothing about
concurrency (what else it fails is what it really does: its listen backlog is
socketserver's 5, and it answers a malformed request line without a status line).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import trio

from grader import Status, grade, load_assignment, load_submission

from .conftest import REPO

HTTP = REPO / "reference" / "http"
PERSISTENT = {"http-keep-alive": "fail", "http-pipelining": "fail"}

EXPECTED = {
    "python/correct": {},
    "c/correct": {},
    "python/faulty/iterative-server": {"server-concurrency": "fail",
                                       "server-one-port": "inconclusive",
                                       "server-same-ip": "fail", "http-parked": "fail"},
    "python/faulty/closes-after-response": PERSISTENT,
    "python/faulty/single-recv-server": {"http-pipelining": "fail",
                                         "http-slow-request": "fail"},
    "python/faulty/no-reuseaddr-server": {"server-restart": "fail"},
    "python/faulty/serves-dotdot-server": {"http-traversal": "fail"},
    "nginx": {},
    "curl-client": {},
    "python-http-server": {**PERSISTENT, "http-status": "partial", "server-burst": "fail"},
}
NOT_ABOUT_CONCURRENCY = ("server-concurrency", "server-one-port", "server-same-ip",
                         "http-parked")


def compose_http(target: Path, name: str) -> Path:
    """The correct program of the reference's language, with the reference over it."""
    language = "c" if name.startswith("c/") else "python"
    shutil.copytree(HTTP / language / "correct", target)
    if name != f"{language}/correct":
        shutil.copytree(HTTP / name, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="module")
def graded(tmp_path_factory, backend):
    reports = {}

    def report(name: str):
        if name not in reports:
            for tool in ("nginx", "curl"):
                if tool in name and backend.name == "local" and not shutil.which(tool):
                    if os.environ.get("CI", "").lower() == "true":
                        pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
                    pytest.skip(f"{tool} is not installed here (apt-get install {tool})")
            folder = compose_http(tmp_path_factory.mktemp("http") / "submission", name)
            assignment = load_assignment("http")
            reports[name] = trio.run(grade, load_submission(folder, assignment), assignment,
                                     backend)
        return reports[name]

    return report


@pytest.mark.parametrize("name", list(EXPECTED))
def test_http_reference_verdicts(name, graded):
    report = graded(name)
    not_passed = {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS}
    assert not_passed == EXPECTED[name], [(c.id, c.summary, c.grader_traceback)
                                          for c in report.checks]
    for result in report.checks:
        if result.status in (Status.FAIL, Status.PARTIAL):
            assert result.hint, f"{result.id} failed without telling the student what to do"


def test_python_http_server_shows_concurrency_and_fails_keep_alive(graded):
    report = graded("python-http-server")
    assert all(report.check(c).status is Status.PASS for c in NOT_ABOUT_CONCURRENCY)
    keep_alive = report.check("http-keep-alive")
    assert "closed the connection after 1 response" in keep_alive.summary
    assert report.check("server-burst").evidence["backlog"] == 5


def test_traversal_names_the_leak(graded):
    traversal = graded("python/faulty/serves-dotdot-server").check("http-traversal")
    assert traversal.evidence["leaked"] and "outside its document root" in traversal.summary
    assert "realpath" in traversal.hint


def test_the_port_is_the_quizs_443_in_a_pod(graded, backend):
    starts = graded("nginx").check("server-starts")
    if backend.sandboxed:
        assert starts.evidence["port"] == 443
    assert any(listener.endswith(f":{starts.evidence['port']}")
               for listener in starts.evidence["listeners"])


def test_a_server_without_reuseaddr_fails_only_the_restart_and_the_report_says_why(graded):
    """It cannot listen again while our earlier checks' connections sit in TIME_WAIT:
    server-restart grades that; a later check needing the server waits them out, so it is
    not failed for the same mistake, and the report says what the wait was."""
    report = graded("python/faulty/no-reuseaddr-server")
    assert report.check("end-to-end").status is Status.PASS
    waits = [note for note in report.notices if "SO_REUSEADDR" in note and "waited" in note]
    assert len(waits) == 1, report.notices
