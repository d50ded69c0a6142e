"""The command line, run in process: exit statuses, files written, help that teaches."""

from __future__ import annotations

import json

import pytest

from grader import load_assignment
from grader.cli import main

from .conftest import docker_backend_or_skip


def test_correct_submission_exits_0_and_writes_json(reference_submission, tmp_path, capsys):
    report_file = tmp_path / "out" / "report.json"
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
