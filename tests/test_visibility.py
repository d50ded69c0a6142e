"""Visibility per check: a check the assignment hides from students shows nothing of its
result in any student-facing output, and everything in the instructor's.

One grading through `grade` (every file format, GitHub's summary and annotations, the
live terminal), one batch (feedback.md and feedback.html, grades.csv) and one `pytest
--grade` run, all on the local backend, of a server without SO_REUSEADDR against a copy
of the echo assignment that hides server-restart (it fails, with evidence) and shows
server-lifecycle only after the due date. Every text of those two checks' results must be
missing from what a student sees, and present in `--json`; the same renderers with the
checks made visible show them, so the search would find a leak."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import html
import io
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader import (
    CheckResult,
    GradeReport,
    InputError,
    Status,
    Visibility,
    load_assignment,
    student_view,
)
from grader.cli import main
from grader.report import github, gradescope, junit, markdown, terminal
from grader.report import html as html_page

from .conftest import REPO, compose_reference
from .test_pytest_plugin import plugin_environment

HIDDEN = ("server-lifecycle", "server-restart")
PLAN = """
[checks.server-starts]
points = 2

[checks.server-lifecycle]
points = 7
visibility = "after_due_date"

[checks.server-restart]
points = 18
visibility = "hidden"
"""


def _assignment(folder: Path, plan: str = PLAN) -> Path:
    """A copy of the echo assignment with `plan` as its checks."""
    shutil.copytree(REPO / "assignments" / "echo", folder)
    toml = folder / "assignment.toml"
    text = toml.read_text()
    toml.write_text(text[:text.index("[checks.")] + plan)
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Every output of one grading, one batch and one pytest run."""
    base = tmp_path_factory.mktemp("visibility")
    assignment = _assignment(base / "echo-hidden")
    submission = compose_reference(base / "submissions" / "dave", "python",
                                   "no-reuseaddr-server")
    files = {name: base / f"report.{name}" for name in
             ("json", "junit", "gradescope", "markdown", "html")}
    summary = base / "step-summary.md"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("GITHUB_ACTIONS", "true")
        patch.setenv("GITHUB_STEP_SUMMARY", str(summary))
        status = main([str(submission), "--assignment", str(assignment), "--backend", "local",
                       *(f"--{name}={path}" for name, path in files.items())])
        batch_status = main(["batch", str(submission.parent), "--out", str(base / "results"),
                             "--backend", "local", "--assignment", str(assignment),
                             "--jobs", "1"])
    assert batch_status == 0
    plugin = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "grader.pytest_plugin", "-p", "no:cacheprovider",
         "-rA", "--grade", str(submission), "--grade-assignment", str(assignment),
         "--grade-backend", "local", "--junitxml", str(base / "pytest.xml")],
        cwd=base, capture_output=True, text=True, timeout=240,
        env={**plugin_environment(), "GITHUB_ACTIONS": "true",
             "GITHUB_STEP_SUMMARY": str(base / "pytest-summary.md")})
    report = GradeReport.from_json(json.loads(files["json"].read_text()))
    return {"status": status, "printed": printed.getvalue(), "files": files,
            "summary": summary, "results": base / "results", "report": report,
            "plugin": plugin, "base": base}


def _texts(value: object) -> list[str]:
    """Every string in a result's evidence, however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _texts(item)]
    return []


def _plain(text: str) -> str:
    """Text as a reader sees it, whatever format it came in: HTML and XML entities
    decoded, Markdown's escapes and GitHub's %-encoding undone, no whitespace at all (the
    terminal wraps lines, Markdown joins them), and every number a # (the batch and the
    pytest run are gradings of their own: other ports, other counts)."""
    text = html.unescape(text)
    text = re.sub(r"\\(.)", r"\1", text)
    for encoded, character in (("%0A", "\n"), ("%0D", "\r"), ("%3A", ":"), ("%2C", ","),
                               ("%25", "%")):
        text = text.replace(encoded, character)
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text))


def _secrets(report: GradeReport) -> dict[str, str]:
    """The summary, hint, details and evidence of the hidden checks' results (each line,
    each string), leaving out what a visible check's result says too (a port number)."""
    shown = " ".join(text for c in report.checks if c.id not in HIDDEN
                     for text in (c.summary, c.hint, *c.details, *_texts(dict(c.evidence))))
    found = {}
    for result in (report.check(check_id) for check_id in HIDDEN):
        parts = [("summary", result.summary), ("hint", result.hint),
                 *(("details", line) for text in result.details for line in text.split("\n")),
                 *(("evidence", text) for text in _texts(dict(result.evidence)))]
        for kind, text in parts:
            if len(text.strip()) >= 8 and _plain(text) not in _plain(shown):
                found[text.strip()] = f"{result.id} {kind}"
    return found


def _leaks(output: str, secrets: dict[str, str]) -> list[str]:
    plain = _plain(output)
    return [f"{where}: {text!r}" for text, where in secrets.items() if _plain(text) in plain]


def _gradescope_for_students(text: str) -> str:
    """What results.json shows a student: the top-level output and the visible tests
    (extra_data is stored for the instructor, not shown)."""
    data = json.loads(text)
    tests = [f"{t['name']}\n{t['output']}" for t in data["tests"]
             if t["visibility"] == "visible"]
    return "\n".join([data["output"], *tests])


def _student_outputs(run) -> dict[str, str]:
    files = run["files"]
    feedback = run["results"] / "students" / "dave"
    plugin = run["plugin"]
    return {
        "terminal (grade, live, with GitHub annotations)": run["printed"],
        "markdown": files["markdown"].read_text(),
        "GitHub step summary": run["summary"].read_text(),
        "junit": files["junit"].read_text(),
        "html": files["html"].read_text(),
        "gradescope (what students see)": _gradescope_for_students(
            files["gradescope"].read_text()),
        "batch feedback.md": (feedback / "feedback.md").read_text(),
        "batch feedback.html": (feedback / "feedback.html").read_text(),
        "pytest --grade output": plugin.stdout + plugin.stderr,
        "pytest --grade junit": (run["base"] / "pytest.xml").read_text(),
        "pytest --grade step summary": (run["base"] / "pytest-summary.md").read_text(),
    }


def test_the_hidden_check_failed_with_evidence(run):
    report = run["report"]
    restart = report.check("server-restart")
    assert restart.status is Status.FAIL and restart.visibility is Visibility.HIDDEN
    assert restart.evidence["restart_listening"] is False and restart.hint and restart.details
    assert report.check("server-lifecycle").visibility is Visibility.AFTER_DUE_DATE
    assert report.check("server-starts").status is Status.PASS
    assert len(_secrets(report)) >= 8, _secrets(report)


def test_no_student_facing_output_shows_a_hidden_checks_result(run):
    secrets = _secrets(run["report"])
    leaks = {name: found for name, output in _student_outputs(run).items()
             if (found := _leaks(output, secrets))}
    assert not leaks


def test_student_outputs_say_the_check_is_hidden_and_count_only_visible_points(run):
    outputs = _student_outputs(run)
    for name in ("terminal (grade, live, with GitHub annotations)", "markdown", "html",
                 "batch feedback.md", "batch feedback.html", "GitHub step summary"):
        text = _plain(outputs[name])
        assert _plain("hidden from students: 18 points") in text, name
        assert _plain("hidden until the due date: 7 points") in text, name
        assert _plain("score 2/2") in text, name
        assert _plain("25 points in 2 hidden checks not shown") in text, name
    assert "::error" not in run["printed"]  # the failed check is hidden: no annotation
    assert run["status"] == 0  # the visible score is full: a failing status would tell
    suite = ET.fromstring(outputs["junit"]).find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (properties["score"], properties["max_score"]) == ("2", "2")
    assert properties["hidden_points"] == "25" and properties["concept.Q2"] == "not tested"
    skipped = {c.get("name"): c.find("skipped").get("message") for c in suite.iter("testcase")
               if c.find("skipped") is not None}
    assert skipped == {"server-lifecycle": "hidden until the due date: 7 points",
                       "server-restart": "hidden from students: 18 points"}
    plugin = run["plugin"]
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr
    assert "SKIPPED" in plugin.stdout and "hidden from students: 18 points" in plugin.stdout


def test_the_concept_picture_does_not_tell_of_a_hidden_check(run):
    """Q2 rests on the two hidden checks: to a student it is "not tested", whatever they
    found ("partly shown": one passed, one failed)."""
    assert {c.id: str(c.status) for c in run["report"].concepts}["Q2"] == "partly shown"
    for name, output in _student_outputs(run).items():
        assert "partly shown" not in output, name
    page = run["files"]["html"].read_text()
    assert "No picture: server-restart is hidden from students" in page
    assert "No picture: server-lifecycle is hidden until the due date" in page
    assert "<svg" in page  # the visible checks' pictures are drawn


def test_gradescope_carries_each_tests_visibility_and_the_whole_score(run):
    data = json.loads(run["files"]["gradescope"].read_text())
    tests = {t["name"].split(":")[0]: t for t in data["tests"]}
    assert {name: t["visibility"] for name, t in tests.items()} == {
        "server-starts": "visible", "server-lifecycle": "after_due_date",
        "server-restart": "hidden"}
    restart = run["report"].check("server-restart")
    assert restart.summary in tests["server-restart"]["output"]  # for the instructor
    assert data["score"] == run["report"].score == 9  # Gradescope's grade: everything
    assert data["extra_data"]["concepts"]["Q2"] == "partly shown"  # the instructor's
    assert "score 2/2 · 25 points in 2 hidden checks not shown" in data["output"]


def test_the_instructor_outputs_show_everything(run):
    secrets = _secrets(run["report"])
    for output in (run["files"]["json"].read_text(),
                   (run["results"] / "students" / "dave" / "report.json").read_text()):
        assert len(_leaks(output, secrets)) == len(secrets)
    with open(run["results"] / "grades.csv", newline="") as stream:
        row = next(csv.DictReader(stream))
    assert (row["score"], row["max_score"]) == ("9", "27")
    assert (row["server-restart"], row["server-lifecycle"]) == ("0", "7")


def test_the_same_renderers_show_a_visible_checks_result(run):
    """The search above finds a leak: with the checks visible, each renderer shows them."""
    shown = dataclasses.replace(run["report"], checks=tuple(
        dataclasses.replace(c, visibility=Visibility.VISIBLE) for c in run["report"].checks))
    summary = run["report"].check("server-restart").summary
    renders = {"terminal": terminal.render(shown), "markdown": markdown.render(shown),
               "junit": junit.render(shown), "html": html_page.render(shown),
               "github": github.annotations(shown),
               "gradescope": _gradescope_for_students(gradescope.render(shown))}
    for name, output in renders.items():
        assert _leaks(output, {summary: "summary"}), name
    assert len(_leaks(html_page.render(shown), _secrets(run["report"]))) >= 8


def test_the_student_view_round_trips_and_applies_once():
    def result(check_id: str, visibility: Visibility) -> CheckResult:
        return CheckResult(check_id, check_id.title(), Status.FAIL, 0, 5, ("Q2",),
                           f"SECRET summary of {check_id}", {"stderr": "SECRET"},
                           visibility=visibility)

    report = GradeReport("echo", "s/", "local", (
        result("server-starts", Visibility.VISIBLE),
        result("server-lifecycle", Visibility.AFTER_PUBLISHED),
        result("server-restart", Visibility.HIDDEN)))
    assert GradeReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    view = student_view(report)
    assert [c.id for c in view.checks] == ["server-starts"]
    assert [(w.id, w.visibility) for w in view.withheld] == [
        ("server-lifecycle", Visibility.AFTER_PUBLISHED), ("server-restart", Visibility.HIDDEN)]
    assert (view.score, view.max_score, view.withheld_points) == (0, 5, 10)
    assert student_view(view) == view
    assert GradeReport.from_json(json.loads(json.dumps(view.to_json()))) == view
    assert [w.id for w in student_view(report, published=True).withheld] == ["server-restart"]
    older = report.to_json()
    for check in older["checks"]:
        del check["visibility"]  # a report stored before checks had a visibility
    assert {c.visibility for c in GradeReport.from_json(older).checks} == {Visibility.VISIBLE}


# --- the plan: a bad visibility is refused, saying what it may be ----------------------

def _error(folder: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_assignment(str(folder))
    return str(caught.value)


def test_a_bad_visibility_is_refused_naming_file_check_and_allowed_values(tmp_path, capsys):
    folder = _assignment(tmp_path / "bad", PLAN.replace('"hidden"', '"secret"'))
    message = _error(folder)
    assert str(folder / "assignment.toml") in message
    assert "checks.server-restart.visibility: 'secret' is not a visibility" in message
    assert "allowed: visible, after_due_date, after_published, hidden" in message
    assert main([str(tmp_path), "--assignment", str(folder), "--backend", "local"]) == 2
    assert "'secret' is not a visibility" in capsys.readouterr().err
    wrong_type = _assignment(tmp_path / "number", PLAN.replace('"hidden"', "1"))
    assert "checks.server-restart.visibility: expected a string, got 1" in _error(wrong_type)


def test_a_visible_check_may_not_depend_on_a_hidden_one(tmp_path):
    """Its skip would tell students whether the hidden one passed."""
    plan = PLAN.replace("points = 2\n", 'points = 2\nvisibility = "after_published"\n', 1)
    message = _error(_assignment(tmp_path / "leaky", plan))
    assert ("checks.server-lifecycle: its visibility is 'after_due_date' but it depends on "
            "'server-starts', whose visibility is 'after_published'") in message
    assert load_assignment(str(_assignment(tmp_path / "fine", PLAN))).checks[2].visibility \
        is Visibility.HIDDEN
