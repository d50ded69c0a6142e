"""Every faulty reference program fails exactly the checks it should; correct ones pass all.

This is how we know the grader tells right from wrong: each faulty program makes one
realistic mistake (see the comment at its top), and the expected verdicts below are the
checks that mistake must cost it. Every other check must pass.
"""

from __future__ import annotations

import pytest
import trio

from grader import Status, grade, load_assignment, load_submission

from .conftest import compose_reference

SERVER_DOWN = {check: "skipped" for check in (
    "server-concurrency", "server-one-port", "server-same-ip", "server-burst",
    "server-lifecycle", "end-to-end", "server-restart")}
# A one-client-at-a-time server: it never holds connections open while others wait, so
# where its connections live cannot be seen (one-port is inconclusive, not a pass).
ITERATIVE = {"server-concurrency": "fail", "server-one-port": "inconclusive",
             "server-same-ip": "fail", "end-to-end": "fail"}

EXPECTED = {
    ("python", None): {},
    ("c", None): {},
    # Correct, listening dual-stack on [::] as Go, Java and Node do by default: its
    # IPv4 connections are in tcp6 as ::ffff:127.x.y.z, and must count as they are.
    ("python", "dual-stack-server"): {},
    # Correct, its server started after a setup step (`setup && server`): the step's end
    # is not the server's (its container's single-child chain once led there).
    ("python", "setup-then-server"): {},
    ("python", "iterative-server"): ITERATIVE,
    ("c", "iterative-server"): ITERATIVE,
    ("python", "no-reuseaddr-server"): {"server-restart": "fail"},
    ("c", "no-reuseaddr-server"): {"server-restart": "fail"},
    ("python", "udp-server"): {"server-starts": "fail", **SERVER_DOWN},
    ("python", "port-per-client-server"): {"server-one-port": "fail"},
    ("python", "keyed-by-ip-server"): {"server-same-ip": "fail"},
    # Only one copy can hold the fixed port at a time: replies could not cross.
    ("python", "fixed-port-client"): {"client-ephemeral-ports": "fail",
                                      "client-reply-routing": "inconclusive"},
    ("python", "shared-reply-log-client"): {"client-reply-routing": "fail"},
    # Serve every connection at once (Q1, Q3), but listen(fd, 5) drops part of a burst.
    ("python", "small-backlog-server"): {"server-burst": "fail"},
    ("c", "small-backlog-server"): {"server-burst": "fail"},
    # Never closes after the client's end of stream: CLOSE_WAIT, and a client reading
    # until the end of stream (the student's own) waits forever.
    ("python", "never-closes-server"): {"server-lifecycle": "fail", "end-to-end": "fail"},
    # Two mistakes at once: the output one must not hide the quiz one (Q4, Q5).
    ("python", "prefix-fixed-port-client"): {"client-echo": "fail",
                                             "client-ephemeral-ports": "fail",
                                             "client-reply-routing": "inconclusive",
                                             "end-to-end": "skipped"},
    ("python", "missing-server-command"): {"server-starts": "fail", **SERVER_DOWN},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, backend):
    """Grade each reference once per backend; several tests read the same report."""
    reports = {}

    def report(language, faulty=None):
        if (language, faulty) not in reports:
            folder = compose_reference(tmp_path_factory.mktemp("ref") / "submission",
                                       language, faulty)
            assignment = load_assignment("echo")
            reports[(language, faulty)] = trio.run(
                grade, load_submission(folder, assignment), assignment, backend)
        return reports[(language, faulty)]

    return report


@pytest.mark.parametrize(("language", "faulty"), list(EXPECTED),
                         ids=[f"{lang}-{faulty or 'correct'}" for lang, faulty in EXPECTED])
def test_reference_verdicts(language, faulty, graded):
    report = graded(language, faulty)
    not_passed = {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS}
    assert not_passed == EXPECTED[(language, faulty)], [
        (c.id, c.summary, c.grader_traceback) for c in report.checks]
    for result in report.checks:
        if result.status in (Status.FAIL, Status.PARTIAL):
            assert result.hint, f"{result.id} failed without telling the student what to do"
        if result.status is Status.SKIPPED:
            assert "needs " in result.summary
    assert report.score == sum(c.max_points for c in report.checks
                               if c.status is Status.PASS)


def test_restart_failure_shows_the_time_wait_evidence_and_the_bind_error(graded):
    result = graded("c", "no-reuseaddr-server").check("server-restart")
    assert result.evidence["time_wait_on_port"] > 0
    assert "Address already in use" in result.evidence["restart_stderr"]
    assert any("TIME_WAIT" in line for line in result.details)
    assert "SO_REUSEADDR" in result.hint


def test_restart_pass_rests_on_time_wait_sockets(graded):
    result = graded("python").check("server-restart")
    assert result.evidence["time_wait_on_port"] > 0


def test_udp_server_is_told_about_tcp(graded):
    result = graded("python", "udp-server").check("server-starts")
    assert "UDP" in result.summary and result.evidence["udp_bound"]


def test_iterative_server_is_named_as_such(graded):
    result = graded("python", "iterative-server").check("server-concurrency")
    assert "one reply per connection" in result.summary
    assert result.evidence["answered_per_round"][1] == 0


def test_fixed_port_client_evidence_shows_the_repeated_port(graded):
    result = graded("python", "fixed-port-client").check("client-ephemeral-ports")
    assert result.evidence["distinct_ports"] < result.evidence["clients"]
    assert 23456 in result.evidence["ports"]


def test_correct_server_holds_every_connection_at_once(graded):
    result = graded("python").check("server-concurrency")
    clients = result.evidence["connections"]
    assert result.evidence["served_while_all_open"] == clients
    assert result.evidence["established_before_rounds"] == clients
    assert result.evidence["accepted_while_all_open"] == clients
    assert result.evidence["source_ips"] == clients


def test_keyed_by_ip_server_shows_misrouted_replies(graded):
    result = graded("python", "keyed-by-ip-server").check("server-same-ip")
    assert result.evidence["answered"] < result.evidence["expected"]


def test_port_per_client_server_shows_new_listening_ports(graded):
    result = graded("python", "port-per-client-server").check("server-one-port")
    assert len(result.evidence["new_listening_ports"]) > 0


def test_small_backlog_is_named_and_concurrency_still_shown(graded):
    for language in ("python", "c"):
        report = graded(language, "small-backlog-server")
        burst = report.check("server-burst")
        assert burst.evidence["backlog"] == 5 and burst.evidence["accept_queue_holds"] == 6
        assert "backlog is 5" in burst.summary
        assert "SOMAXCONN" in burst.hint and "request_queue_size" in burst.hint
        concurrency = report.check("server-concurrency")
        assert concurrency.evidence["served_while_all_open"] == concurrency.evidence[
            "connections"]
        assert concurrency.evidence["pacing"]["backlog"] == 5


def test_never_closing_server_shows_close_wait(graded):
    report = graded("python", "never-closes-server")
    lifecycle = report.check("server-lifecycle")
    assert lifecycle.evidence["closed_by_server"] == 0
    assert lifecycle.evidence["server_sockets_left_count"] == lifecycle.evidence["answered"]
    assert all("CLOSE_WAIT" in line for line in lifecycle.evidence["server_sockets_left"])
    assert "recv() returns 0" in lifecycle.hint
    end_to_end = report.check("end-to-end")
    assert "server-lifecycle" in end_to_end.hint
    # Client and server each wait on the other, idle: the run ends then, and says so.
    assert "all 12 lines came back, but the conversation never ended: your client sat idle " \
        "with your server for 3 s" in end_to_end.summary, end_to_end.summary


def test_correct_server_closes_and_the_clients_keep_time_wait(graded):
    lifecycle = graded("python").check("server-lifecycle")
    assert lifecycle.evidence["server_sockets_left_count"] == 0
    assert lifecycle.evidence["client_ends_in_time_wait"] == lifecycle.evidence["answered"]


def test_output_mistake_does_not_hide_the_fixed_port(graded):
    report = graded("python", "prefix-fixed-port-client")
    # Alone in a fresh pod it shows the prefix; on the local backend, within a minute of
    # an earlier grading, its port is still in TIME_WAIT and it cannot connect at all.
    echo = report.check("client-echo").summary
    assert "text added" in echo or "Address already in use" in echo, echo
    ports = report.check("client-ephemeral-ports")
    assert "fixed source port" in ports.summary
    assert "bind()" in ports.hint


def test_missing_server_command_is_named(graded):
    starts = graded("python", "missing-server-command").check("server-starts")
    assert starts.evidence["exit_code"] == 127
    assert "not found" in starts.summary
    assert "missing" in starts.hint or "path" in starts.hint
    assert "first command-line argument" not in starts.hint


@pytest.mark.slow
def test_verdicts_hold_when_graded_two_at_a_time(tmp_path, backend):
    """Beside another grading (as `grade batch --jobs 2` runs them on two cores), the
    references whose old verdicts depended on timing get their verdicts every time."""
    kinds = [("python", "small-backlog-server"), ("c", "small-backlog-server"),
             ("python", None), ("c", None)]
    assignment = load_assignment("echo")

    async def grade_all() -> list:
        reports: list = [None] * len(kinds)

        async def one(index: int) -> None:
            language, faulty = kinds[index]
            folder = compose_reference(tmp_path / f"s{index}", language, faulty)
            reports[index] = await grade(load_submission(folder, assignment), assignment,
                                         backend)

        for pair in (range(0, 2), range(2, 4)):
            async with trio.open_nursery() as nursery:
                for index in pair:
                    nursery.start_soon(one, index)
        return reports

    for report, kind in zip(trio.run(grade_all), kinds, strict=True):
        not_passed = {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS}
        assert not_passed == EXPECTED[kind], (kind, [(c.id, c.summary, c.details)
                                                     for c in report.checks
                                                     if c.status is not Status.PASS])
