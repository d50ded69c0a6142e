"""The submission contract and the assignment file: bad input gets a one-line error that
names the file and the key and says what to write; the command line exits 2."""

from __future__ import annotations

import os
import shutil

import pytest

from grader import InputError, load_assignment, load_submission
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
