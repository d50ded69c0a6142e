"""The submission contract and the assignment file: bad input gets a one-line error that
names the file and the key and says what to write; the command line exits 2."""

from __future__ import annotations

import os
import shutil

import pytest
import trio

from grader import InputError, Status, load_assignment, load_submission
from grader.assignments import BUNDLED
from grader.cli import main

SERVER = "print('server')\n"
CLIENT = "print('client')\n"


@pytest.fixture
def echo():
    return load_assignment("echo")


def test_defaults_pick_python_files(write_submission, echo):
    submission = load_submission(write_submission({"server.py": SERVER, "client.py": CLIENT}),
                                 echo)
    assert submission.program("server").run == "python3 server.py {port}"
    assert submission.program("client").run == "python3 client.py {host} {port}"
    assert submission.builds == []


def test_makefile_builds_once_for_both_roles(write_submission, echo):
    submission = load_submission(write_submission({"Makefile": "all:\n"}), echo)
    assert submission.program("server").run == "./server {port}"
    assert submission.builds == [("server", "make")]


def test_manifest_overrides_defaults(write_submission, echo):
    folder = write_submission({"grade.toml": '[server]\nbuild = "gcc -o s s.c"\n'
                               'run = "./s {port}"\n[client]\nrun = "./c {host} {port}"\n'})
    submission = load_submission(folder, echo)
    server = submission.program("server")
    assert (server.build, server.source) == ("gcc -o s s.c", "grade.toml")
    assert submission.program("client").run == "./c {host} {port}"


@pytest.mark.parametrize(("files", "message"), [
    ({}, "no server found"),
    ({"server.py": SERVER}, "no client found"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[server]\nrunn = 'x {port}'\n"},
     "server.run: missing"),
    ({"server.py": SERVER, "client.py": CLIENT,
      "grade.toml": "[server]\nrun = './s {port}'\nbiuld = 'make'\n"},
     "server.biuld: unknown key"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[server]\nrun = './s {prot}'\n"},
     "unknown placeholder {prot}"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[server]\nrun = './s 8080'\n"},
     "never passes {port}"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[client]\nrun = './c {port}'\n"},
     "never passes {host}"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[sever]\nrun = './s {port}'\n"},
     "sever: not a program of this assignment"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[server\nrun = 1\n"},
     "not valid TOML"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[server]\nrun = 5\n"},
     "server.run: expected a string"),
    ({"server.py": SERVER, "client.py": CLIENT, "grade.toml": "[server]\nrun = './s {port'\n"},
     "literal braces"),
    # A NUL byte cannot reach a program: a clean error, not a traceback (issue 14).
    ({"server.py": SERVER, "client.py": CLIENT,
      "grade.toml": '[server]\nrun = "./s\\u0000 {port}"\n'}, "a NUL byte"),
])
def test_submission_errors_say_what_and_where(write_submission, echo, files, message):
    folder = write_submission(files)
    with pytest.raises(InputError) as caught:
        load_submission(folder, echo)
    assert message in str(caught.value)
    assert str(folder) in str(caught.value)


@pytest.mark.parametrize(("make", "says"), [
    (lambda path: path.symlink_to("/dev/zero"), "a link"),
    (lambda path: os.mkfifo(path), "not a regular file"),
    (lambda path: path.write_text("# " + "x" * 70000 + "\n"), "larger than 64 KiB"),
], ids=["link-to-dev-zero", "fifo", "huge"])
def test_a_manifest_is_read_only_when_it_is_a_small_regular_file(write_submission, echo,
                                                                  make, says):
    """A grade.toml that is a link to /dev/zero or a pipe would hang or flood whoever
    reads it (issue 14): refused at once, naming the file."""
    folder = write_submission({"server.py": SERVER, "client.py": CLIENT})
    make(folder / "grade.toml")
    with pytest.raises(InputError) as caught:
        load_submission(folder, echo)
    assert says in str(caught.value) and "grade.toml" in str(caught.value)


def test_missing_folder_and_file_instead_of_folder(tmp_path, echo):
    with pytest.raises(InputError, match="no such folder"):
        load_submission(tmp_path / "nowhere", echo)
    (tmp_path / "server.py").write_text(SERVER)
    with pytest.raises(InputError, match="not a folder"):
        load_submission(tmp_path / "server.py", echo)


def test_cli_reports_input_errors_in_one_line_with_status_2(write_submission, capsys):
    folder = write_submission({"server.py": SERVER, "client.py": CLIENT,
                               "grade.toml": "[server]\nrun = './s {prot}'\n"})
    assert main([str(folder), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grade: error: ") and "grade.toml" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def own_assignment(tmp_path):
    """An instructor's copy of the echo assignment, to break in each test."""
    folder = tmp_path / "my-echo"
    shutil.copytree(BUNDLED / "echo", folder)
    return folder / "assignment.toml"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("[checks.server-starts]", "[checks.server-stars]", "checks.server-stars: no such check"),
    ("clients = 500", "clients = 'many'", "checks.server-concurrency.clients: expected a whole"),
    ("clients = 500", "cleints = 500", "checks.server-concurrency.cleints: unknown key"),
    ("points = 2\n", "\n", "missing checks.server-starts.points"),
    ("start_timeout = 10.0", "start_timout = 10.0", "limits.start_timout: unknown key"),
    ('name = "echo"', 'nmae = "echo"', "missing name"),
])
def test_assignment_errors_say_what_and_where(own_assignment, old, new, message):
    text = own_assignment.read_text()
    assert old in text
    own_assignment.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError) as caught:
        load_assignment(str(own_assignment.parent))
    assert message in str(caught.value)
    assert str(own_assignment) in str(caught.value)


def test_assignment_dependency_order_is_checked(own_assignment):
    text = own_assignment.read_text()
    moved = text.replace("[checks.server-one-port]\npoints = 5\n", "")
    own_assignment.write_text(moved.replace("[checks.server-starts]",
                                            "[checks.server-one-port]\npoints = 5\n\n"
                                            "[checks.server-starts]"))
    with pytest.raises(InputError, match="depends on 'server-concurrency'"):
        load_assignment(str(own_assignment.parent))


def test_unknown_assignment_name_lists_the_bundled_ones():
    with pytest.raises(InputError, match="bundled: echo"):
        load_assignment("ehco")


def test_instructor_assignment_by_path(own_assignment):
    text = own_assignment.read_text().replace("clients = 500", "clients = 40")
    own_assignment.write_text(text)
    assignment = load_assignment(str(own_assignment.parent))
    params = {p.check.id: p.params for p in assignment.checks}
    assert params["server-concurrency"]["clients"] == 40


# The instructor's contract (issue 25): a mistake in an assignment, or a protocol whose
# lines happen to look alike, never becomes the student's fail or a lost point.

def _routing(expected_by_copy, printed_by_copy):
    """client-reply-routing judging copies that each sent their marker and printed
    `printed_by_copy` (their replies, one per line)."""
    from types import SimpleNamespace

    from grader.checks.client import client_reply_routing
    from grader.pod.base import Completed
    from grader.protocols.base import ClientJob

    jobs = [ClientJob(expected=tuple(expected), marker=f"copy {i} hello".encode())
            for i, expected in enumerate(expected_by_copy)]
    runs = [(job, Completed("client", 0, "".join(f"{line}\n" for line in printed).encode(),
                            b"", 0.1))
            for job, printed in zip(jobs, printed_by_copy, strict=True)]
    ctx = SimpleNamespace(carried={"client-ephemeral-ports": {
        "runs": runs, "received": [job.marker + b"\n" for job in jobs]}})
    return trio.run(client_reply_routing.run, ctx)


def test_routing_matches_whole_lines_not_substrings():
    """"7" is inside "17": a copy printing its own "17" printed nothing of copy 1's."""
    expected = [["7"], ["17"], ["170"]]
    outcome = _routing(expected, expected)
    assert outcome.status is Status.PASS, outcome.summary


def test_routing_ignores_lines_several_copies_expect():
    """A line every copy expects ("OK") says nothing about where a reply went."""
    expected = [["OK", "one"], ["OK", "two"], ["OK", "three"]]
    outcome = _routing(expected, expected)
    assert outcome.status is Status.PASS, outcome.summary


def test_routing_still_catches_a_reply_meant_for_another_copy():
    expected = [["OK", "7"], ["OK", "17"]]
    outcome = _routing(expected, [["OK", "7", "17"], ["OK", "17"]])
    assert outcome.status is Status.FAIL and "meant for another client" in outcome.summary
    assert outcome.evidence["copies"][0]["from"] == [2]


def _empty_marker_echo():
    from grader.protocols.base import ClientJob
    from grader.protocols.echo import EchoProtocol

    class NoMarker(EchoProtocol):
        name = "no-marker"

        def client_job(self, index):
            return ClientJob(stdin=b"x\n", expected=(f"line {index}",))

    return NoMarker


def test_an_empty_client_marker_is_the_instructors_error(write_submission):
    """With no marker every copy would count as connected: the check cannot judge, and
    says whose mistake it is instead of passing (or failing) the student."""
    import dataclasses

    from grader import grade
    from grader.checks.client import client_ephemeral_ports, client_reply_routing
    from grader.loading.assignment import PlannedCheck
    from grader.pod import LocalBackend

    echo = load_assignment("echo")
    assignment = dataclasses.replace(
        echo, protocol=_empty_marker_echo(),
        checks=(PlannedCheck(client_ephemeral_ports, 5.0, dict(client_ephemeral_ports.params)),
                PlannedCheck(client_reply_routing, 5.0, {})))
    folder = write_submission({"server.py": SERVER, "client.py": CLIENT})
    report = trio.run(grade, load_submission(folder, assignment), assignment, LocalBackend())
    ports, routing = report.checks
    assert ports.status is Status.ERROR, ports.summary
    assert "no-marker protocol" in ports.summary and "empty marker" in ports.summary
    # The check that reads its evidence is not run either, and is no loss either.
    assert routing.status is Status.ERROR and "client-ephemeral-ports" in routing.summary
    assert (report.score, report.max_score) == (0, 0)


TINY_ASSIGNMENT = """\
name = "tiny"
title = "Tiny"
protocol = "echo"

[roles.server]
placeholders = ["port"]
defaults = [{ when = ["server.py"], run = "python3 server.py {port}" }]

[roles.client]
placeholders = ["host", "port"]
defaults = [{ when = ["client.py"], run = "python3 client.py {host} {port}" }]

[checks.tiny-good]
points = 8

[checks.tiny-broken]
points = 2
"""

TINY_CHECKS = """\
from grader.api import check, passed


@check("tiny-good", title="Passes", concepts=("Q1",))
async def tiny_good(ctx):
    return passed("fine")


@check("tiny-broken", title="Broken by its author", concepts=("Q2",))
async def tiny_broken(ctx):
    settings = {"minimum": 1}
    return passed(str(settings["minimun"]))
"""


def test_a_grader_error_is_never_the_students_loss(tmp_path, write_submission, capsys):
    """The check the instructor's typo broke is left out of the maximum, the exit status
    says "grader problem" (3), and the terminal shows where in checks.py it broke."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "assignment.toml").write_text(TINY_ASSIGNMENT)
    (folder / "checks.py").write_text(TINY_CHECKS)
    submission = write_submission({"server.py": SERVER, "client.py": CLIENT})
    status = main([str(submission), "--assignment", str(folder), "--backend", "local"])
    out = capsys.readouterr().out
    assert status == 3, out
    assert "score 8/8 · 1 check could not be run by the grader (left out of the maximum)" \
        in out
    frame = f'File "{folder / "checks.py"}", line 12:'
    assert frame in out
    after = out.split(frame, 1)[1].splitlines()
    assert after[1].strip() == 'return passed(str(settings["minimun"]))'
    assert after[2].strip() == "KeyError: 'minimun'"
