"""`grade init-ci`, `grade export gradescope`, and one in-process `grade` run writing
every file format at once (plus GitHub's step summary and annotations)."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.cli import main
from grader.integrations.gradescope_zip import STUDENT_USER
from grader.pod.reaping import processes_of

from .conftest import REPO, compose_reference

WORKFLOW = Path(".github/workflows/grade.yml")


def _steps(workflow: dict) -> dict[str, dict]:
    return {step["name"]: step for step in workflow["jobs"]["grade"]["steps"]}


# init-ci --------------------------------------------------------------------------------

def test_init_ci_writes_a_valid_workflow(tmp_path, capsys):
    assert main(["init-ci", "--dir", str(tmp_path)]) == 0
    assert str(tmp_path / WORKFLOW) in capsys.readouterr().out
    text = (tmp_path / WORKFLOW).read_text()
    workflow = yaml.safe_load(text)
    assert set(workflow["on"]) >= {"push", "pull_request"}
    assert workflow["env"]["GRADER_GIT_URL"] == "https://github.com/YOUR-COURSE/socket-grader.git"
    assert "CHANGE ME" in text  # the placeholder is marked as one
    assert workflow["jobs"]["grade"]["runs-on"] == "ubuntu-latest"

    steps = _steps(workflow)
    assert list(steps) == ["Check out the submission", "Set up Python", "Install the grader",
                           "Pull the pod image", "Grade", "Upload the JUnit report"]
    assert steps["Check out the submission"]["uses"].startswith("actions/checkout@")
    assert steps["Set up Python"]["uses"].startswith("actions/setup-python@")
    assert float(steps["Set up Python"]["with"]["python-version"]) >= 3.11
    install = steps["Install the grader"]["run"]
    assert "pip install" in install and "git+$GRADER_GIT_URL@$GRADER_REF" in install
    assert " -e " in install  # editable: the bundled assignments stay beside the package
    assert "$SOCKET_GRADER_IMAGE" in steps["Pull the pod image"]["run"]

    grade = steps["Grade"]
    assert grade["run"].split()[:2] == ["grade", "."]
    for option in ("--backend docker", "--junit grade-results.xml", "--assignment echo",
                   '--fail-under "$FAIL_UNDER"'):
        assert option in grade["run"]
    assert "continue-on-error" not in grade  # the job's status is grade's exit status
    assert "if" not in grade

    upload = steps["Upload the JUnit report"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "grade-results.xml"
    assert upload["if"] == "always()"  # the report is kept when grading failed too


def test_init_ci_refuses_to_overwrite_without_force(tmp_path, capsys):
    target = tmp_path / WORKFLOW
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    assert main(["init-ci", "--dir", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text() == "mine\n"
    assert main(["init-ci", "--dir", str(tmp_path), "--force"]) == 0
    assert yaml.safe_load(target.read_text())["name"] == "grade"


def test_init_ci_needs_a_bundled_assignment(tmp_path, capsys):
    assert main(["init-ci", "--dir", str(tmp_path), "--assignment", "no-such"]) == 2
    assert "bundled assignment" in capsys.readouterr().err
    assert not (tmp_path / WORKFLOW).exists()
    assert main(["init-ci", "--dir", str(tmp_path / "missing")]) == 2


def test_init_ci_runner_pytest_grades_with_pytest_grade(tmp_path):
    assert main(["init-ci", "--dir", str(tmp_path), "--runner", "pytest"]) == 0
    workflow = yaml.safe_load((tmp_path / WORKFLOW).read_text())
    steps = _steps(workflow)
    assert list(steps) == ["Check out the submission", "Set up Python", "Install the grader",
                           "Install pytest", "Pull the pod image", "Grade",
                           "Upload the JUnit report"]
    assert "pip install" in steps["Install pytest"]["run"]
    grade = steps["Grade"]["run"]
    assert grade.split()[:3] == ["pytest", "--grade", "."]
    for option in ("--grade-assignment echo", "--grade-backend docker",
                   '--grade-fail-under "$FAIL_UNDER"', "--junitxml grade-results.xml"):
        assert option in grade
    assert "continue-on-error" not in steps["Grade"] and "if" not in steps["Grade"]
    assert steps["Upload the JUnit report"]["with"]["path"] == "grade-results.xml"


def test_init_ci_pytest_step_grades_a_repository(tmp_path):
    """The workflow's own command, on the local backend here: one test per check, and
    the repository's own tests after them."""
    repository = compose_reference(tmp_path / "repository", "python")
    assert main(["init-ci", "--dir", str(repository), "--runner", "pytest"]) == 0
    command = _steps(yaml.safe_load((repository / WORKFLOW).read_text()))["Grade"]["run"]
    command = command.replace("--grade-backend docker", "--grade-backend local")
    (repository / "tests").mkdir()
    (repository / "tests" / "test_own.py").write_text(
        "def test_own(submission):\n    assert (submission.path / 'server.py').exists()\n")
    done = subprocess.run(
        ["bash", "-c", command.replace("pytest", f"{sys.executable} -m pytest -p "
                                       "grader.pytest_plugin", 1)],
        cwd=repository, capture_output=True, text=True, timeout=240,
        env={**os.environ, "FAIL_UNDER": "100", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 passed" in done.stdout and "score 100/100" in done.stdout
    cases = ET.parse(repository / "grade-results.xml").getroot().iter("testcase")
    assert [case.get("name") for case in cases][-1] == "test_own"


# export gradescope ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    target = tmp_path_factory.mktemp("export") / "out" / "autograder.zip"
    assert main(["export", "gradescope", "--assignment", "echo", "--out", str(target)]) == 0
    return target


def test_export_zip_members(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        infos = {info.filename: info for info in archive.infolist()}
    assert names[:2] == ["setup.sh", "run_autograder"]  # at the zip's root, as required
    for member in ("socket-grader/pyproject.toml", "socket-grader/README.md",
                   "socket-grader/grader/__init__.py", "socket-grader/grader/cli.py",
                   "socket-grader/grader/report/gradescope.py",
                   "socket-grader/assignments/echo/assignment.toml",
                   "assignment/assignment.toml"):
        assert member in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("tests/", "reference/", "socket-grader/tests"))]
    for script in ("setup.sh", "run_autograder"):
        mode = infos[script].external_attr >> 16
        assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, oct(mode)
    assert (infos["socket-grader/grader/cli.py"].external_attr >> 16) & 0o111 == 0


def test_export_scripts_are_valid_bash(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
    run = (tmp_path / "run_autograder").read_text()
    assert run.startswith("#!/usr/bin/env bash\n")
    for part in ("--backend local", '--assignment "$ASSIGNMENT"',
                 '--gradescope "$RESULTS"', "RESULTS=/autograder/results/results.json",
                 "/autograder/submission", "FAIL_UNDER=0"):
        assert part in run
    setup = (tmp_path / "setup.sh").read_text()
    for part in ("apt-get install", "gcc", "make", "python3",
                 "pip install -e /autograder/source/socket-grader"):
        assert part in setup


def test_export_bundles_an_instructors_own_assignment(tmp_path, monkeypatch):
    own = tmp_path / "my-course" / "echo-v2"
    own.mkdir(parents=True)
    echo = Path(__file__).parents[1] / "assignments" / "echo"
    toml = (echo / "assignment.toml").read_text()
    (own / "assignment.toml").write_text(toml.replace('name = "echo"', 'name = "echo-v2"'))
    (own / "checks.py").write_text((echo / "checks.py").read_text())  # its own checks
    (own / "README.md").write_text("handout\n")
    monkeypatch.chdir(tmp_path)  # the default --out is in the current folder
    assert main(["export", "gradescope", "--assignment", str(own)]) == 0
    with zipfile.ZipFile(tmp_path / "gradescope-echo-v2.zip") as archive:
        assert archive.read("assignment/README.md") == b"handout\n"
        assert b'name = "echo-v2"' in archive.read("assignment/assignment.toml")
        assert b"client_echo" in archive.read("assignment/checks.py")


@pytest.fixture
def student_user():
    """The user run_autograder runs the student's programs as (setup.sh makes it)."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root on Gradescope; these tests need root")
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", STUDENT_USER], capture_output=True, check=False)
    return STUDENT_USER


def _simulated_autograder(root: Path, autograder_zip: Path) -> Path:
    """Gradescope's layout under `root`, with the zip's run_autograder pointed at it and
    a `grade` that runs the grader bundled in the zip (setup.sh needs the network)."""
    source = root / "autograder" / "source"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(source)
    (root / "autograder" / "results").mkdir()
    venv = root / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "grade").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        PYTHONPATH={source / 'socket-grader'} exec {sys.executable} -m grader "$@"
        """))
    (venv / "grade").chmod(0o755)
    (venv / "python").symlink_to(sys.executable)
    script = (source / "run_autograder").read_text()
    script = script.replace("/autograder", str(root / "autograder"))
    script = script.replace("/opt/socket-grader", str(root / "venv"))
    (root / "run_autograder").write_text(script)
    return root / "run_autograder"


def test_run_autograder_reports_a_low_score_without_failing(autograder_zip, tmp_path,
                                                            student_user):
    run = _simulated_autograder(tmp_path, autograder_zip)
    compose_reference(tmp_path / "autograder" / "submission", "python", "no-reuseaddr-server")
    done = subprocess.run(["bash", str(run)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "autograder/results/results.json").read_text())
    failed = [t["name"] for t in results["tests"] if t["status"] == "failed"]
    assert failed == ["server-restart: Restarts at once despite TIME_WAIT"]
    assert 0 < results["score"] < 100
    assert not processes_of(pwd.getpwnam(student_user).pw_uid)  # nothing of theirs left


def test_run_autograder_runs_the_students_programs_as_their_own_user(
        autograder_zip, tmp_path, student_user):
    """On Gradescope the student's programs could otherwise rewrite results.json after
    the grader wrote it (issue 14): they run as an unprivileged user, which can neither
    write the results nor outlive the grading."""
    run = _simulated_autograder(tmp_path, autograder_zip)
    submission = compose_reference(tmp_path / "autograder" / "submission", "python")
    results = tmp_path / "autograder" / "results" / "results.json"
    forger = (f"import os, sys, time\nopen('/tmp/sg-forger-{os.getpid()}', 'w')"
              f".write(str(os.getuid()))\nif os.fork() == 0:\n    os.setsid()\n"
              f"    for _ in range(200):\n        try:\n            open({str(results)!r}, 'w')"
              f".write('{{\"score\": 100}}')\n        except OSError:\n            pass\n"
              "        time.sleep(0.05)\n    os._exit(0)\n")
    server = (submission / "server.py").read_text()
    (submission / "server.py").write_text(forger + server)
    done = subprocess.run(["bash", str(run)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)  # a forger that survived would have written by now
    data = json.loads(results.read_text())
    assert data["score"] == 100 and data["tests"], data  # ours, not the forger's
    uid = pwd.getpwnam(student_user).pw_uid
    marker = Path(f"/tmp/sg-forger-{os.getpid()}")  # the server's own record of its user
    try:
        assert marker.read_text() == str(uid)
    finally:
        marker.unlink(missing_ok=True)
    assert not processes_of(uid)


def test_run_autograder_explains_an_ungradable_submission(autograder_zip, tmp_path,
                                                          student_user):
    run = _simulated_autograder(tmp_path, autograder_zip)
    (tmp_path / "autograder" / "submission").mkdir()
    (tmp_path / "autograder" / "submission" / "notes.txt").write_text("hi\n")
    done = subprocess.run(["bash", str(run)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "autograder/results/results.json").read_text())
    assert results["score"] == 0
    assert "no server found" in results["output"]


# one run, every format ------------------------------------------------------------------

def test_one_run_writes_every_format_with_the_same_scores(tmp_path, monkeypatch, capsys):
    submission = compose_reference(tmp_path / "submission", "python")
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = {name: tmp_path / "reports" / name for name in ("a.json", "b.xml", "c.json", "d.md")}
    status = main([str(submission), "--backend", "local", "--json", str(out["a.json"]),
                   "--junit", str(out["b.xml"]), "--gradescope", str(out["c.json"]),
                   "--markdown", str(out["d.md"])])
    assert status == 0
    assert "::error" not in capsys.readouterr().out  # every check passed

    report = json.loads(out["a.json"].read_text())
    assert report["score"] == report["max_score"] == 100
    scores = {c["id"]: (c["points"], c["max_points"]) for c in report["checks"]}

    suite = ET.parse(out["b.xml"]).getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert float(properties["score"]) == report["score"]
    assert float(properties["max_score"]) == report["max_score"]
    assert [c.get("name") for c in suite.iter("testcase")] == list(scores)
    assert suite.get("failures") == suite.get("errors") == suite.get("skipped") == "0"

    results = json.loads(out["c.json"].read_text())
    assert results["score"] == report["score"]
    assert {t["name"].split(":")[0]: (t["score"], t["max_score"])
            for t in results["tests"]} == scores

    text = out["d.md"].read_text()
    assert f"## echo: {report['score']:g}/{report['max_score']:g}" in text
    for check_id, (got, most) in scores.items():
        assert f"| `{check_id}` | {got:g}/{most:g} |" in text
    assert summary.read_text() == "earlier step\n" + text  # appended, not replaced


def test_annotations_for_a_failing_run(tmp_path, monkeypatch, capsys):
    submission = compose_reference(tmp_path / "submission", "python", "no-reuseaddr-server")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main([str(submission), "--backend", "local", "--quiet"]) == 1
    annotations = [line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("::")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error title=server-restart::")
    assert "\n" not in annotations[0] and "%0A" in annotations[0]
