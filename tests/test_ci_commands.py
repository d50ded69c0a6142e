"""`grade init-ci`, and one in-process `grade` run writing every file format at once
(plus GitHub's step summary and annotations). `grade export gradescope`:
test_gradescope_export.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from grader.cli import main

from .conftest import REPO, compose_reference
from .test_pytest_plugin import require_installed_plugin

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
    # From the runner's temporary folder, with no configuration file of the repository's.
    assert steps["Grade"]["working-directory"] == "${{ runner.temp }}"
    assert grade.split()[:6] == ["pytest", "-c", "/dev/null", "--rootdir", ".", "--grade"]
    for option in ('--grade "$GITHUB_WORKSPACE"', "--grade-assignment echo",
                   "--grade-backend docker", '--grade-fail-under "$FAIL_UNDER"',
                   '--junitxml "$GITHUB_WORKSPACE/grade-results.xml"'):
        assert option in grade
    assert "continue-on-error" not in steps["Grade"] and "if" not in steps["Grade"]
    assert steps["Upload the JUnit report"]["with"]["path"] == "grade-results.xml"


# A student's pytest.ini turns the plugin off; their conftest.py answers --grade and makes
# every test pass; it leaves a note when imported, as their own test does when it runs.
STUDENT_PYTEST_INI = "[pytest]\naddopts = -p no:grader.pytest_plugin\n"
STUDENT_CONFTEST = '''\
from pathlib import Path

import pytest

Path(__file__).with_name("conftest-imported").touch()


def pytest_addoption(parser):
    for name in ("--grade", "--grade-assignment", "--grade-backend", "--grade-fail-under"):
        parser.addoption(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome, report.longrepr = "passed", None
    return report
'''
STUDENT_TEST = '''\
from pathlib import Path


def test_own():
    Path(__file__).with_name("test-ran").touch()
'''


def test_init_ci_pytest_step_grades_a_repository_without_its_pytest_files(tmp_path):
    """The workflow's own command, on the local backend here, run as GitHub runs it: the
    repository's pytest.ini, conftest.py and tests take no part."""
    require_installed_plugin()  # the workflow's `pytest` finds the plugin by its entry point
    repository = compose_reference(tmp_path / "repository", "python", "udp-server")  # 30/100
    (repository / "pytest.ini").write_text(STUDENT_PYTEST_INI)
    (repository / "conftest.py").write_text(STUDENT_CONFTEST)
    (repository / "tests").mkdir()
    (repository / "tests" / "test_own.py").write_text(STUDENT_TEST)
    assert main(["init-ci", "--dir", str(repository), "--runner", "pytest"]) == 0
    step = _steps(yaml.safe_load((repository / WORKFLOW).read_text()))["Grade"]
    assert step["working-directory"] == "${{ runner.temp }}"
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    done = subprocess.run(
        ["bash", "-c", step["run"].replace("--grade-backend docker", "--grade-backend local")],
        cwd=runner_temp, capture_output=True, text=True, timeout=240,
        env={**os.environ, "FAIL_UNDER": "100", "GITHUB_WORKSPACE": str(repository),
             "RUNNER_TEMP": str(runner_temp), "PYTHONPATH": str(REPO),
             "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "score 30/100" in done.stdout
    assert not (repository / "conftest-imported").exists()
    assert not (repository / "tests" / "test-ran").exists()
    suite = ET.parse(repository / "grade-results.xml").getroot().find("testsuite")
    assert int(suite.get("failures")) >= 1
    assert "test_own" not in [case.get("name") for case in suite.iter("testcase")]


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
