"""The runner's rules: dependencies, build failures, grader bugs and deadlines."""

from __future__ import annotations

import dataclasses

import trio

from grader import Status, grade, load_assignment, load_submission
from grader.api import Failure, check, inconclusive, passed
from grader.loading.assignment import PlannedCheck
from grader.pod import LocalBackend

CLIENT = "import sys\nprint('client')\n"


@check("grader-bug", title="A check whose code is broken")
async def grader_bug(ctx):
    raise RuntimeError("a bug in the grader")


@check("after-bug", title="Depends on the broken one", depends_on=("grader-bug",))
async def after_bug(ctx):
    return passed("never reached")


@check("no-evidence", title="Finds no evidence")
async def no_evidence(ctx):
    return inconclusive("the control was missing")


def _deep_helper() -> None:
    raise Failure("the reply never came", hint="Answer on the connection.",
                  evidence={"seen": 0})


@check("fails-deep", title="Fails from inside a helper")
async def fails_deep(ctx):
    _deep_helper()
    return passed("never reached")


@check("reads-evidence", title="Reads the evidence of the failed one",
       uses=("fails-deep",))
async def reads_evidence(ctx):
    return passed("never reached")


@check("server-up", title="Starts the server", needs=("server",))
async def server_up(ctx):
    await ctx.server.start()
    return passed("started") if ctx.server.running else inconclusive("did not start")


@check("about-the-client", title="About the client only", needs=("client",))
async def about_the_client(ctx):
    return passed("alone") if not ctx.server.running else inconclusive("server running")


@check("slow", title="Never ends")
async def slow(ctx):
    await trio.sleep_forever()


async def _fail_connection(number: int) -> None:
    # No checkpoint before raising: each task fails before the nursery can cancel it.
    raise Failure(f"connection {number} got no reply", hint="Answer every connection.")


@check("fails-in-nursery", title="Fails from inside a nursery")
async def fails_in_nursery(ctx):
    async with trio.open_nursery() as nursery:
        for number in (1, 2):
            nursery.start_soon(_fail_connection, number)
    return passed("never reached")


@check("fails-in-nested-nurseries", title="Fails from inside nested nurseries")
async def fails_in_nested_nurseries(ctx):
    async def inner() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_fail_connection, 1)
            nursery.start_soon(_fail_connection, 1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(inner)
        nursery.start_soon(_fail_connection, 2)
    return passed("never reached")


@check("breaks-in-nursery", title="A bug beside a failure in a nursery")
async def breaks_in_nursery(ctx):
    async def typo() -> None:
        raise KeyError("minimun")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_fail_connection, 1)
        nursery.start_soon(typo)
    return passed("never reached")


def _assignment_with(*checks, check_timeout=30.0):
    echo = load_assignment("echo")
    planned = tuple(PlannedCheck(c, 10.0, {}) for c in checks)
    limits = dataclasses.replace(echo.limits, check_timeout=check_timeout)
    return dataclasses.replace(echo, checks=planned, limits=limits)


def _grade(folder, assignment):
    return trio.run(grade, load_submission(folder, assignment), assignment, LocalBackend())


def test_a_grader_bug_is_an_error_not_a_failure(write_submission):
    assignment = _assignment_with(grader_bug, after_bug)
    report = _grade(write_submission({"server.py": "", "client.py": CLIENT}), assignment)
    bug, after = report.checks
    assert bug.status is Status.ERROR and "RuntimeError: a bug in the grader" in bug.summary
    assert "Traceback" in bug.grader_traceback
    # Not run because of the grader: no loss either (issue 25), and no traceback of its own.
    assert after.status is Status.ERROR and "grader-bug" in after.summary
    assert after.grader_traceback == ""
    assert (report.score, report.max_score) == (0, 0)


def test_a_failure_raised_deep_in_a_helper_is_the_students_not_the_graders(
        write_submission):
    report = _grade(write_submission({"server.py": "", "client.py": CLIENT}),
                    _assignment_with(fails_deep, reads_evidence))
    failed, reader = report.checks
    assert failed.status is Status.FAIL and failed.grader_traceback == ""
    assert (failed.summary, failed.hint, dict(failed.evidence)) == (
        "the reply never came", "Answer on the connection.", {"seen": 0})
    # A check that only reads another's evidence is skipped when there is none to read.
    assert reader.status is Status.SKIPPED and "gathered no evidence" in reader.summary


def test_no_server_runs_during_a_check_about_the_client(write_submission):
    """Roles apart (issue 14): a server could otherwise do a client's networking."""
    server = ("import socket, sys, time\ns = socket.socket()\n"
              "s.bind(('0.0.0.0', int(sys.argv[1])))\ns.listen()\ntime.sleep(60)\n")
    report = _grade(write_submission({"server.py": server, "client.py": CLIENT}),
                    _assignment_with(server_up, about_the_client))
    assert [c.status for c in report.checks] == [Status.PASS, Status.PASS], [
        c.summary for c in report.checks]


def test_inconclusive_earns_nothing_and_shows_no_concept(write_submission):
    report = _grade(write_submission({"server.py": "", "client.py": CLIENT}),
                    _assignment_with(no_evidence))
    assert report.checks[0].status is Status.INCONCLUSIVE and report.checks[0].points == 0


def test_a_check_past_its_deadline_is_a_grader_error(write_submission):
    report = _grade(write_submission({"server.py": "", "client.py": CLIENT}),
                    _assignment_with(slow, check_timeout=0.5))
    assert report.checks[0].status is Status.ERROR
    assert "gave up" in report.checks[0].summary


def test_a_failed_build_fails_the_checks_of_that_program_only(write_submission):
    folder = write_submission({
        "grade.toml": '[server]\nbuild = "echo server.c:3: error: expected semicolon >&2; exit 3"\n'
                      'run = "./server {port}"\n[client]\nrun = "python3 client.py {host} '
                      '{port}"\n',
        "client.py": CLIENT})
    echo = load_assignment("echo")
    report = trio.run(grade, load_submission(folder, echo), echo, LocalBackend())
    (build,) = report.builds
    assert build.exit_code == 3 and "expected semicolon" in build.output
    server_checks = [c for c in report.checks if c.id.startswith("server-")]
    assert all(c.status is Status.FAIL and "did not build" in c.summary for c in server_checks)
    assert report.check("client-echo").status is Status.FAIL  # runs: the client prints junk
    assert "did not build" not in report.check("client-echo").summary


def test_a_failure_raised_in_a_nursery_is_the_checks_failure(write_submission):
    """Connections run at once in a nursery: their Failures arrive as an exception group,
    and are still the student's failure (the first, the others among its details)."""
    report = _grade(write_submission({"server.py": "", "client.py": CLIENT}),
                    _assignment_with(fails_in_nursery, fails_in_nested_nurseries))
    flat, nested = report.checks
    for result in (flat, nested):
        assert result.status is Status.FAIL, result.summary
        assert result.grader_traceback == "" and result.hint == "Answer every connection."
        # Either may fail first; the same failure twice is said once.
        (also,) = result.details
        assert {result.summary, also.removeprefix("also: ")} == {
            "connection 1 got no reply", "connection 2 got no reply"}


def test_a_bug_beside_a_failure_in_a_nursery_is_a_grader_error(write_submission):
    report = _grade(write_submission({"server.py": "", "client.py": CLIENT}),
                    _assignment_with(breaks_in_nursery))
    (result,) = report.checks
    assert result.status is Status.ERROR
    assert result.summary == "the grader could not run this check: KeyError: 'minimun'"
    # The whole group, both of its exceptions, is kept for the instructor.
    assert "KeyError: 'minimun'" in result.grader_traceback
    assert "Failure: connection 1 got no reply" in result.grader_traceback
