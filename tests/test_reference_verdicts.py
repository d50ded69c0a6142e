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
    "server-concurrency", "server-one-port", "server-same-ip", "end-to-end", "server-restart")}
ITERATIVE = {"server-concurrency": "fail", "server-one-port": "skipped",
             "server-same-ip": "fail", "end-to-end": "fail"}

EXPECTED = {
    ("python", None): {},
    ("c", None): {},
    ("python", "iterative-server"): ITERATIVE,
    ("c", "iterative-server"): ITERATIVE,
    ("python", "no-reuseaddr-server"): {"server-restart": "fail"},
    ("c", "no-reuseaddr-server"): {"server-restart": "fail"},
    ("python", "udp-server"): {"server-starts": "fail", **SERVER_DOWN},
    ("python", "port-per-client-server"): {"server-one-port": "fail"},
    ("python", "keyed-by-ip-server"): {"server-same-ip": "fail"},
    ("python", "fixed-port-client"): {"client-ephemeral-ports": "fail",
                                      "client-reply-routing": "skipped"},
    ("python", "shared-reply-log-client"): {"client-reply-routing": "fail"},
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
        if result.status is Status.FAIL:
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
    assert result.evidence["established_between_rounds"] == clients
    assert result.evidence["source_ips"] == clients


def test_keyed_by_ip_server_shows_misrouted_replies(graded):
    result = graded("python", "keyed-by-ip-server").check("server-same-ip")
    assert result.evidence["answered"] < result.evidence["expected"]


def test_port_per_client_server_shows_new_listening_ports(graded):
    result = graded("python", "port-per-client-server").check("server-one-port")
    assert len(result.evidence["new_listening_ports"]) > 0
