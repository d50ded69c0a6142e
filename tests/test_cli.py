"""The command line, run in process: exit statuses, files written, help that teaches."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest

from grader import cli, load_assignment
from grader.cli import main
from grader.report import terminal

from .conftest import compose_reference, docker_backend_or_skip


def test_correct_submission_exits_0_and_writes_json(reference_submission, tmp_path, capsys):
    report_file = tmp_path / "report.json"
    assert main([str(reference_submission("python")), "--backend", "local", "--json",
                 str(report_file), "--clients", "60"]) == 0
    out = capsys.readouterr().out
    assert "score 100/100" in out and "local backend (not sandboxed" in out
    data = json.loads(report_file.read_text())
    assert data["score"] == data["max_score"] == 100
    concurrency = next(c for c in data["checks"] if c["id"] == "server-concurrency")
    assert concurrency["evidence"]["connections"] == 60


def test_fail_under_sets_the_exit_status(reference_submission, capsys):
    folder = str(reference_submission("python", "no-reuseaddr-server"))
    assert main([folder, "--backend", "local", "--clients", "40"]) == 1
    out = capsys.readouterr().out
    assert "Q2 · TIME_WAIT and SO_REUSEADDR" in out and "Address already in use" in out
    restart = next(p.points for p in load_assignment("echo").checks
                   if p.check.id == "server-restart")
    assert main([folder, "--backend", "local", "--clients", "40", "--fail-under", "80",
                 "--quiet"]) == 0
    assert capsys.readouterr().out.strip().startswith(f"score {100 - restart:g}/100")


def test_concepts_command(capsys):
    assert main(["concepts"]) == 0
    page = capsys.readouterr().out
    assert all(f"Q{n} · " in page for n in range(1, 6))
    assert main(["concepts", "q2"]) == 0
    assert "SO_REUSEADDR" in capsys.readouterr().out
    assert main(["concepts", "Q9"]) == 2


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "exit status" in text and "--backend" in text and "grade concepts" in text


def test_unusable_docker_names_the_socket_and_suggests_local(reference_submission,
                                                             monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main([str(reference_submission("python")), "--backend", "docker"]) == 2
    err = capsys.readouterr().err
    assert "unix:///nonexistent/docker.sock" in err and "--backend local" in err


def test_auto_falls_back_to_local_with_a_notice(reference_submission, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("CONTAINER_HOST", "unix:///nonexistent/podman.sock")
    main([str(reference_submission("python")), "--clients", "20", "--quiet"])
    assert "does NOT sandbox" in capsys.readouterr().err


@pytest.mark.docker
def test_missing_image_auto_falls_back_docker_refuses(reference_submission, monkeypatch,
                                                      capsys):
    docker_backend_or_skip()
    monkeypatch.setenv("SOCKET_GRADER_IMAGE", "socket-grader/no-such-image:never")
    folder = str(reference_submission("python"))
    assert main([folder, "--clients", "20", "--quiet"]) == 0
    notice = capsys.readouterr().err
    assert "socket-grader/no-such-image:never" in notice and "does NOT sandbox" in notice
    assert main([folder, "--backend", "docker"]) == 2
    err = capsys.readouterr().err
    assert "socket-grader/no-such-image:never" in err and "docker pull" in err


# Conventions of command lines -----------------------------------------------------------

def _must_not_grade(args):
    raise AssertionError("graded although the arguments were bad")


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"grade (socket-grader) {metadata.version('socket-grader')}\n"


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("environ", "tty", "colour"), [
    ({}, True, True),
    ({}, False, False),
    ({"NO_COLOR": ""}, True, True),  # no-color.org: only a non-empty value counts
    ({"NO_COLOR": "1"}, True, False),
    ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": ""}, False, False),
    ({"TERM": "dumb"}, True, False),
    ({"TERM": "dumb", "FORCE_COLOR": "1"}, False, True),
])
def test_colour_follows_no_color_force_color_and_term(environ, tty, colour, monkeypatch):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert terminal.wants_colour(_Stream(tty)) is colour


@pytest.mark.parametrize("value", ["150", "-1", "nan", "half"])
def test_fail_under_is_a_percentage(value, reference_submission, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_grade", _must_not_grade)
    with pytest.raises(SystemExit) as exited:
        main([str(reference_submission("python")), "--fail-under", value])
    assert exited.value.code == 2
    assert "--fail-under" in capsys.readouterr().err


def test_bad_report_paths_stop_before_grading(reference_submission, tmp_path, monkeypatch,
                                              capsys):
    monkeypatch.setattr(cli, "_grade", _must_not_grade)
    folder = str(reference_submission("python"))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    for option, target in [("--junit", a_file / "report.xml"),
                           ("--json", a_file / "no-such-folder" / "report.json"),
                           ("--markdown", tmp_path)]:
        with pytest.raises(SystemExit) as exited:
            main([folder, option, str(target)])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert f"{option} {target}: cannot write the report there" in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_a_folder_without_write_permission_stops_before_grading(reference_submission,
                                                                tmp_path, monkeypatch,
                                                                capsys):
    monkeypatch.setattr(cli, "_grade", _must_not_grade)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(SystemExit) as exited:
        main([str(reference_submission("python")), "--html", str(locked / "r.html")])
    assert exited.value.code == 2
    assert f"no permission to write in {locked}" in capsys.readouterr().err


def test_only_one_report_goes_to_stdout(reference_submission, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_grade", _must_not_grade)
    with pytest.raises(SystemExit) as exited:
        main([str(reference_submission("python")), "--json", "-", "--junit", "-"])
    assert exited.value.code == 2
    assert "--json and --junit both ask for stdout (-)" in capsys.readouterr().err


def test_a_report_on_stdout_moves_the_terminal_report_to_stderr(reference_submission,
                                                                monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    folder = str(reference_submission("python", "no-reuseaddr-server"))
    assert main([folder, "--backend", "local", "--clients", "20", "--junit", "-"]) == 1
    captured = capsys.readouterr()
    root = ET.fromstring(captured.out.encode())  # stdout holds the report alone
    assert root.find("testsuite/testcase[@name='server-restart']/failure") is not None
    assert "Q2 · TIME_WAIT and SO_REUSEADDR" in captured.err
    assert "::error" in captured.err and "::error" not in captured.out
    assert not Path("-").exists()


def test_a_folder_named_like_a_command(tmp_path, monkeypatch, capsys):
    compose_reference(tmp_path / "concepts", "python", None)
    monkeypatch.chdir(tmp_path)
    assert main(["concepts"]) == 0  # still the command, with a notice saying how to grade
    captured = capsys.readouterr()
    assert "Q2 · " in captured.out and "`grade ./concepts`" in captured.err
    assert main(["./concepts", "--backend", "local", "--clients", "20", "--quiet"]) == 0
    assert capsys.readouterr().out.strip().startswith("score 100/100")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "grade ./concepts" in capsys.readouterr().out


def test_version_without_the_installed_package(monkeypatch, capsys):
    """Gradescope's export runs grader/ without installing it: grading must not crash."""
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert "not installed" in capsys.readouterr().out
