"""`pytest --grade DIR`: the grader as a pytest plugin (grader/pytest_plugin/).

Each test runs pytest in a subprocess, in a folder of its own, with the plugin named
explicitly (`-p grader.pytest_plugin`; the entry point an installed grader uses is tested
in test_pytest_plugin_backends.py, with Ctrl-C and the container backends), and compares
what pytest reports with what the runner (`grade`) gives the same submission.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import trio
import xmlschema

from grader.assignments import load_assignment
from grader.grading.runner import grade
from grader.loading.submission import load_submission
from grader.pod import LocalBackend
from grader.results import GradeReport, Status

from .conftest import REPO, compose_reference

EXPECTED_ITEM = {Status.PASS: "passed", Status.FAIL: "failed", Status.PARTIAL: "failed",
                 Status.ERROR: "error", Status.SKIPPED: "skipped",
                 Status.INCONCLUSIVE: "skipped"}
ECHO_CHECKS = [planned.check.id for planned in load_assignment("echo").checks]

# An instructor's own tests for the echo assignment, in its folder's tests/.
INSTRUCTOR_TESTS = '''\
from grader.api import CheckContext, require_server


async def test_each_connection_gets_its_own_lines(check_context: CheckContext):
    """Two connections from one IP, two rounds: every line comes back on its own."""
    await require_server(check_context)
    async with check_context.connections(2, sources=["127.0.0.1"], timeout=5.0) as group:
        for turn in (1, 2):  # by round 2 the server has surely accepted both
            lines = [f"PING {turn}.{n}\\n".encode() for n in (1, 2)]
            replies = await group.exchange(lines, until=b"\\n", timeout=3.0)
            assert [reply.data for reply in replies] == lines


async def test_the_plan_ran_first(check_results, pod):
    assert list(check_results) == CHECKS
    assert pod.host


def test_the_submission_is_the_graded_one(submission):
    assert (submission.path / "server.py").is_file()
'''


def run_pytest(cwd: Path, *args: str, timeout: float = 240,
               python: tuple[str, ...] = ("-P",)) -> subprocess.CompletedProcess:
    """pytest in `cwd`; `-P` keeps `cwd` off Python's import path, as the `pytest` command
    does (`python -m pytest` alone puts it first)."""
    return subprocess.run(
        [sys.executable, *python, "-m", "pytest", "-p", "grader.pytest_plugin", "-p",
         "no:cacheprovider", "-rA", *args], cwd=cwd, env=plugin_environment(),
        capture_output=True, text=True, timeout=timeout)


def require_installed_plugin() -> None:
    """Skip (fail in CI) unless `pip install` registered the plugin here (pytest11), as
    `pytest --grade` with no -p needs."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        points = distribution("socket-grader").entry_points
    except PackageNotFoundError:
        points = ()
    if not any(p.group == "pytest11" and p.value == "grader.pytest_plugin" for p in points):
        reason = "socket-grader is not installed from this checkout (pip install -e .)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def plugin_environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}


def junit_statuses(path: Path) -> dict[str, tuple[str, str]]:
    """testcase name -> (passed|failed|error|skipped, the message)."""
    statuses = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        child = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        statuses[case.get("name")] = ((child.tag if child.tag != "failure" else "failed")
                                      if child is not None else "passed",
                                      "" if child is None else child.get("message", ""))
    return statuses


def section(out: str, title: str) -> str:
    """The text of a failure's or an error's section in pytest's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("_") and title in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:3] in ("___", "===")),
               len(lines))
    return "\n".join(lines[start + 1:end])


def graded(folder: Path, assignment: str = "echo") -> GradeReport:
    plan = load_assignment(assignment)
    return trio.run(grade, load_submission(folder, plan), plan, LocalBackend())


def assert_same_as_grade(statuses: dict[str, tuple[str, str]], report: GradeReport) -> None:
    """Item by item, pytest's outcome is what `grade` gave the check."""
    for result in report.checks:
        outcome, message = statuses[result.id]
        assert outcome == EXPECTED_ITEM[result.status], (result.id, result.status, message)
        if result.status is Status.INCONCLUSIVE:
            assert message.startswith("inconclusive: ")


def echo_with_tests(folder: Path) -> Path:
    """The echo assignment with an instructor's tests/ folder."""
    target = load_assignment("echo").path
    copy = folder / "echo-course"
    copy.mkdir()
    for name in ("assignment.toml", "checks.py", "README.md"):
        (copy / name).write_text((target / name).read_text())
    (copy / "tests").mkdir()
    (copy / "tests" / "test_echo_course.py").write_text(
        f"CHECKS = {ECHO_CHECKS!r}\n\n" + INSTRUCTOR_TESTS)
    return copy


# The references: every item as grade has it ----------------------------------------------

def test_correct_reference_passes_every_item_and_the_instructors_tests(tmp_path):
    submission = compose_reference(tmp_path / "submission", "python")
    course = echo_with_tests(tmp_path)
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-assignment", str(course),
                      "--grade-backend", "local", "--junitxml", "out.xml", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = junit_statuses(tmp_path / "out.xml")
    assert list(statuses) == [*ECHO_CHECKS, "test_each_connection_gets_its_own_lines",
                              "test_the_plan_ran_first", "test_the_submission_is_the_graded_one"]
    assert {outcome for outcome, _ in statuses.values()} == {"passed"}
    assert_same_as_grade(statuses, graded(submission))
    # In plan order, named ASSIGNMENT::CONCEPT::CHECK, the score in the summary.
    lines = [line.split()[0] for line in done.stdout.splitlines() if " PASSED" in line]
    assert lines[:3] == ["echo::Q1::server-starts", "echo::Q1::server-concurrency",
                         "echo::Q1::server-one-port"]
    assert "socket-grader: echo: score 100/100" in done.stdout
    assert "--grade-fail-under 100: reached" in done.stdout


def test_faulty_reference_fails_exactly_the_checks_grade_fails(tmp_path):
    submission = compose_reference(tmp_path / "submission", "python", "no-reuseaddr-server")
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-backend", "local",
                      "--junitxml", "out.xml")
    assert done.returncode == 1, done.stdout + done.stderr
    statuses = junit_statuses(tmp_path / "out.xml")
    report = graded(submission)
    assert_same_as_grade(statuses, report)
    assert [n for n, (outcome, _) in statuses.items() if outcome == "failed"] == \
        [c.id for c in report.checks if c.status is not Status.PASS] == ["server-restart"]
    # The failure's text is the student's feedback, not a Python traceback of ours.
    failure = section(done.stdout, " server-restart: ")
    assert "FAIL server-restart (0/18)" in failure and "SO_REUSEADDR" in failure
    assert "Traceback" not in failure and "grader/" not in failure
    assert "score 82/100" in done.stdout and "--grade-fail-under 100: not reached" in done.stdout
    # JUnit: valid for CI readers (xunit2, pytest's default), the score on the suite.
    xmlschema.XMLSchema(REPO / "tests" / "data" / "junit.xsd").validate(tmp_path / "out.xml")
    suite = ET.parse(tmp_path / "out.xml").getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["score"] == "82" and properties["max_score"] == "100"
    assert properties["points.server-restart"] == "0/18"
    assert {c.get("classname") for c in suite.iter("testcase")} >= {"echo.Q1", "echo.Q2",
                                                                    "echo.other"}


def test_an_instructors_test_fails_on_a_faulty_reference(tmp_path):
    compose_reference(tmp_path / "submission", "python", "keyed-by-ip-server")
    course = echo_with_tests(tmp_path)
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-assignment", str(course),
                      "--grade-backend", "local", "--junitxml", "out.xml")
    assert done.returncode == 1, done.stdout + done.stderr
    statuses = junit_statuses(tmp_path / "out.xml")
    assert [name for name, (outcome, _) in statuses.items() if outcome != "passed"] == [
        "server-same-ip", "test_each_connection_gets_its_own_lines"]
    # pytest's own assertion message (which connection got both lines: the server's race)
    assert "AssertionError: assert [b'" in done.stdout
    assert "1 other test(s) failed" in done.stdout


def note_server_pid(folder: Path) -> Path:
    """Make the submission's server write its pid and folder to a note when it starts."""
    note = folder.parent / "server-note"
    server = (folder / "server.py").read_text()
    (folder / "server.py").write_text(
        f"import os, pathlib\npathlib.Path({str(note)!r}).write_text("
        f"f'{{os.getpid()}} {{os.getcwd()}}')\n" + server)
    return note


def assert_server_gone(note: Path) -> None:
    pid, workdir = note.read_text().split()
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text().lower()
    assert not Path(workdir).exists()


# -k and -x -------------------------------------------------------------------------------

def test_k_reports_the_selected_checks_of_the_whole_grading(tmp_path):
    """Deselected checks are graded all the same; the exit status is then pytest's."""
    compose_reference(tmp_path / "submission", "python", "no-reuseaddr-server")
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-backend", "local",
                      "-k", "Q3 or server-starts", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    reported = [line.split()[0] for line in done.stdout.splitlines() if " PASSED" in line
                and "::" in line.split()[0]]
    # server-concurrency shows Q1 and Q3: -k matches every concept of a check.
    assert reported == ["echo::Q1::server-starts", "echo::Q1::server-concurrency"]
    assert "2 passed, 9 deselected" in done.stdout
    assert "score 82/100" in done.stdout  # the whole plan ran: server-restart failed
    assert "9 of 11 checks deselected (graded all the same)" in done.stdout


def test_x_stops_at_the_first_failed_item_and_cancels_the_grading(tmp_path):
    folder = compose_reference(tmp_path / "submission", "python", "udp-server")
    note = note_server_pid(folder)
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-backend", "local", "-x")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed in" in done.stdout and "passed" not in done.stdout.split("summary")[-1]
    assert "stopped (stopping after 1 failures): no score" in done.stdout
    assert_server_gone(note)


# Outcomes, points and the exit status, on a small assignment of every kind of result ----

TINY_CHECKS = '''\
from grader.api import check, inconclusive, passed, scored


@check("half-right", title="Half right", depends_on=("server-starts",))
async def half_right(ctx):
    """Does half of it."""
    return scored(0.5, "half of the lines came back", hint="Send back every line.")


@check("grader-bug", title="A grader bug")
async def grader_bug(ctx):
    """Breaks."""
    raise RuntimeError("a bug in the grader")


@check("not-sure", title="Not sure")
async def not_sure(ctx):
    """Cannot tell."""
    return inconclusive("no evidence either way")


@check("after-bug", title="After the bug", depends_on=("grader-bug",))
async def after_bug(ctx):
    """Never runs."""
    return passed("ran")
'''

TINY_TESTS = '''\
from grader.api import failed


async def test_returns_a_failed_outcome(check_context):
    return failed("the banner is missing", hint="Print a banner first.")
'''


@pytest.fixture
def tiny(tmp_path):
    """A small assignment (2 + 10 + 2 + 1 + 1 points) and the correct submission."""
    folder = tmp_path / "tiny"
    (folder / "tests").mkdir(parents=True)
    echo = (load_assignment("echo").path / "assignment.toml").read_text()
    roles = echo[echo.index("[roles.server]"):echo.index("[limits]")]
    (folder / "assignment.toml").write_text(
        f'name = "tiny"\ntitle = "Tiny"\nprotocol = "echo"\n\n{roles}'
        + "".join(f"[checks.{name}]\npoints = {points}\n\n" for name, points in
                  (("server-starts", 2), ("half-right", 10), ("grader-bug", 2),
                   ("not-sure", 1), ("after-bug", 1))))
    (folder / "checks.py").write_text(TINY_CHECKS)
    (folder / "tests" / "test_tiny.py").write_text(TINY_TESTS)
    compose_reference(tmp_path / "submission", "python")
    return folder


def test_every_status_maps_to_what_pytest_users_expect(tmp_path, tiny):
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-assignment", str(tiny),
                      "--grade-backend", "local", "--junitxml", "out.xml",
                      "-o", "junit_family=xunit1")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    statuses = junit_statuses(tmp_path / "out.xml")
    assert_same_as_grade(statuses, graded(tmp_path / "submission", str(tiny)))
    assert statuses["server-starts"][0] == "passed"
    assert statuses["half-right"] == ("failed", "half of the lines came back")
    assert statuses["grader-bug"][0] == "error"  # pytest's ERROR: the grader broke
    assert statuses["not-sure"] == ("skipped", "inconclusive: no evidence either way")
    # Not run because the grader could not run what it needs: not the student's loss.
    assert statuses["after-bug"][0] == "error" and "needs grader-bug" in \
        statuses["after-bug"][1]
    assert "2 failed, 1 passed, 1 skipped, 2 errors" in out  # one failed: the instructor's
    # partial: the student's feedback, no traceback; error: the grader's traceback.
    partial = section(out, " half-right: Half right ")
    assert "PARTIAL half-right (5/10)" in partial and "Next step: Send back every line." in partial
    assert "Traceback" not in partial
    error = section(out, "ERROR at setup of grader-bug")
    assert "RuntimeError: a bug in the grader" in error and "Grader traceback" in error
    # An instructor's test that returns a failed Outcome fails with that feedback.
    assert "FAIL: the banner is missing" in out and "Next step: Print a banner first." in out
    # Points on each testcase where the JUnit family has them (xunit1, legacy).
    case = next(c for c in ET.parse(tmp_path / "out.xml").getroot().iter("testcase")
                if c.get("name") == "half-right")
    assert {p.get("name"): p.get("value") for p in case.iter("property")} == {
        "points": "5", "max_points": "10", "status": "partial", "concepts": ""}


def test_grade_fail_under_sets_the_exit_status_as_grade_does(tmp_path, tiny):
    """7 of 13 points: 53.8 % (the 3 points of the two checks the grader could not run
    are left out of the maximum). A failed instructor test (no points) still fails it."""
    base = ("--grade", "submission", "--grade-assignment", str(tiny), "--grade-backend",
            "local")
    below = run_pytest(tmp_path, *base, "--grade-fail-under", "60", "-k", "not test_tiny")
    assert below.returncode == 1, below.stdout + below.stderr
    assert "--grade-fail-under 60: not reached" in below.stdout
    reached = run_pytest(tmp_path, *base, "--grade-fail-under", "50", "-k", "not test_tiny")
    assert reached.returncode == 0, reached.stdout + reached.stderr
    assert "1 failed, 1 passed, 1 skipped, 1 deselected, 2 errors" in reached.stdout
    assert "score 7/13" in reached.stdout and "--grade-fail-under 50: reached" in reached.stdout
    with_tests = run_pytest(tmp_path, *base, "--grade-fail-under", "50")
    assert with_tests.returncode == 1, with_tests.stdout + with_tests.stderr
    assert "reached; 1 other test(s) failed" in with_tests.stdout


def test_pytest_trio_mode_leaves_the_pods_tests_to_the_plugin(tmp_path, tiny):
    """In pytest-trio's trio_mode, a test asking for the pod still runs in the grading's
    trio run (in pytest-trio's own run it could not reach the probe); other async tests
    stay pytest-trio's."""
    pytest.importorskip("pytest_trio")
    (tiny / "tests" / "test_trio.py").write_text(
        "import pytest\nimport trio\nfrom grader.api import probe as messages\n\n\n"
        "async def test_in_the_pod(probe):\n"
        "    assert (await probe.call(messages.Hello())).port_range\n\n\n"
        "@pytest.mark.trio\nasync def test_marked_in_the_pod(check_context):\n"
        "    assert (await check_context.probe.call(messages.Hello())).port_range\n\n\n"
        "async def test_pytest_trios_own(nursery):\n    await trio.sleep(0)\n")
    done = run_pytest(tmp_path, "--grade", "submission", "--grade-assignment", str(tiny),
                      "--grade-backend", "local", "-o", "trio_mode=true", "-k", "test_trio")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_bad_input_is_a_usage_error_naming_it(tmp_path):
    done = run_pytest(tmp_path, "--grade", "no-such-folder", "--grade-backend", "local")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "socket-grader: no-such-folder: no such folder" in done.stderr


def test_without_grade_the_plugin_is_inert_and_its_fixtures_skip(tmp_path):
    (tmp_path / "test_mine.py").write_text(
        "def test_plain():\n    pass\n\n\nasync def test_needs_a_pod(check_context):\n"
        "    pass\n")
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout and "run pytest --grade DIR" in done.stdout
    assert "socket-grader:" not in done.stdout
