"""Regrades that show what changed: a batch run again (`--force` after the instructor
changed points, `--only` for a grade inquiry) keeps every earlier result in the
student's history, writes regrade.csv and a section of report.html, and the CLI prints
one line saying whose grade went up or down. Local backend, a class of three."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from grader.batch import StudentResult
from grader.batch.records import keep_previous, load_history, save_result
from grader.batch.regrade import compare, regrade_section
from grader.cli import main

from .conftest import REFERENCE, REPO, compose_reference


class _captured:
    """What main() prints on stdout and stderr."""

    def __enter__(self) -> tuple[io.StringIO, io.StringIO]:
        self.saved = sys.stdout, sys.stderr
        self.out, self.err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr = self.out, self.err
        return self.out, self.err

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self.saved


def _batch(submissions: Path, out: Path, assignment: Path, *extra: str) -> tuple[int, str, str]:
    with _captured() as (stdout, stderr):
        status = main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                       "--jobs", "2", "--assignment", str(assignment), "--no-similarity",
                       *extra])
    return status, stdout.getvalue(), stderr.getvalue()


def _set_points(assignment: Path, points: dict[str, int]) -> None:
    plan = assignment / "assignment.toml"
    text = plan.read_text()
    for check, value in points.items():
        text, found = re.subn(rf"(\[checks\.{check}\]\npoints = )\d+", rf"\g<1>{value}", text)
        assert found == 1, check
    plan.write_text(text)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """alice: correct; bob: a server without SO_REUSEADDR (fails server-restart, 18
    points); carol: nothing to grade. Graded once with a copy of the echo assignment."""
    base = tmp_path_factory.mktemp("regrade")
    submissions = base / "submissions"
    compose_reference(submissions / "alice", "python")
    compose_reference(submissions / "bob", "python", "no-reuseaddr-server")
    (submissions / "carol").mkdir()
    (submissions / "carol" / "notes.txt").write_text("no code yet")
    assignment = base / "echo"
    shutil.copytree(REPO / "assignments" / "echo", assignment)
    out = base / "results"
    status, printed, _ = _batch(submissions, out, assignment)
    assert status == 0, printed
    return submissions, assignment, out, printed


def _copy(first_run, tmp_path: Path) -> tuple[Path, Path, Path]:
    submissions, assignment, out, _ = first_run
    copies = (tmp_path / "submissions", tmp_path / "echo", tmp_path / "results")
    for source, target in zip((submissions, assignment, out), copies, strict=True):
        shutil.copytree(source, target)  # times kept: a result's history is named by them
    return copies


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as stream:
        return {row["student"]: row for row in csv.DictReader(stream)}


def _markers(out: Path) -> dict[str, bytes]:
    return {folder.name: next(p.read_bytes() for p in (folder / "report.json",
                                                       folder / "error.json") if p.exists())
            for folder in (out / "students").iterdir()}


def test_a_first_run_has_nothing_to_compare_with(first_run):
    _, _, out, printed = first_run
    assert "regrade:" not in printed and not (out / "regrade.csv").exists()
    assert "What changed since the last run" not in (out / "report.html").read_text()
    assert not any((out / "students" / s / "history").exists()
                   for s in ("alice", "bob", "carol"))
    grades = _rows(out / "grades.csv")
    assert (grades["alice"]["score"], grades["bob"]["score"]) == ("100", "82")
    assert grades["carol"]["status"] == "error"


def test_force_after_a_points_change_keeps_history_and_says_what_changed(first_run,
                                                                        tmp_path):
    submissions, assignment, out = _copy(first_run, tmp_path)
    before = _markers(out)
    # server-restart (which bob fails) is worth more, server-concurrency (which both
    # pass) less: alice 100 -> 102, bob 82 -> 72.
    _set_points(assignment, {"server-restart": 30, "server-concurrency": 10})
    status, printed, _ = _batch(submissions, out, assignment, "--force")
    assert status == 0, printed
    assert "regrade: 2 students changed: 1 up, 1 down; 1 unchanged" in printed

    rows = _rows(out / "regrade.csv")
    assert list(rows) == ["alice", "bob", "carol"]
    assert [rows["alice"][k] for k in ("old_score", "new_score", "change", "old_max_score",
                                       "new_max_score")] == ["100", "102", "up", "100", "102"]
    assert [rows["bob"][k] for k in ("old_score", "new_score", "change")] == ["82", "72",
                                                                            "down"]
    assert rows["bob"]["changed_checks"] == ""  # the same verdicts, other points
    assert (rows["carol"]["old_status"], rows["carol"]["new_status"],
            rows["carol"]["change"]) == ("error", "error", "same")
    assert _rows(out / "grades.csv")["alice"]["score"] == "102"

    # Every earlier result is kept whole, as it was, beside the new one.
    for student, marker in before.items():
        [earlier] = load_history(out, student)
        kept = out / "students" / student / "history" / earlier.written
        name = "error.json" if student == "carol" else "report.json"
        assert (kept / name).read_bytes() == marker
        assert (kept / "feedback.md").exists() and (kept / "feedback.html").exists()
    assert load_history(out, "alice")[0].result.report.score == 100
    assert all(_markers(out)[s] != before[s] for s in ("alice", "bob"))  # graded anew

    page = (out / "report.html").read_text()
    start = page.index('<section id="regrade">')
    section = page[start:page.index("</section>", start)]
    assert "What changed since the last run" in section
    assert "2 students changed: 1 up, 1 down; 1 unchanged" in section
    assert "alice" in section and "82/100" in section and "72/102" in section
    assert "carol" not in section  # listed in regrade.csv, not among the changes

    # A second regrade adds a second earlier result, oldest first.
    status, printed, _ = _batch(submissions, out, assignment, "--force", "--only", "bob")
    assert status == 0 and "0 students changed: 0 up, 0 down; 1 unchanged" in printed
    assert [e.result.report.max_score for e in load_history(out, "bob")] == [100, 102]


def test_only_regrades_those_students_and_leaves_the_others_untouched(first_run, tmp_path):
    submissions, assignment, out = _copy(first_run, tmp_path)
    before = _markers(out)
    stamps = {s: (out / "students" / s).stat().st_mtime_ns for s in before}
    # bob's grade inquiry: he had handed in the fixed server after all.
    shutil.copy(REFERENCE / "python" / "correct" / "server.py", submissions / "bob")
    status, printed, _ = _batch(submissions, out, assignment, "--only", "bob")
    assert status == 0, printed
    assert "grading 1 student" in printed
    assert "regrade: 1 student changed: 1 up, 0 down; 0 unchanged" in printed
    after = _markers(out)
    assert after["bob"] != before["bob"]
    for student in ("alice", "carol"):
        assert after[student] == before[student]
        assert (out / "students" / student).stat().st_mtime_ns == stamps[student]
        assert not (out / "students" / student / "history").exists()
    rows = _rows(out / "regrade.csv")
    assert list(rows) == ["bob"]
    assert (rows["bob"]["old_score"], rows["bob"]["new_score"]) == ("82", "100")
    assert rows["bob"]["changed_checks"] == "server-restart: fail->pass"
    assert "server-restart: fail-&gt;pass" in (out / "report.html").read_text()


def test_only_with_an_unknown_student_names_it_and_grades_no_one(first_run, tmp_path):
    submissions, assignment, out = _copy(first_run, tmp_path)
    before = _markers(out)
    status, printed, errors = _batch(submissions, out, assignment, "--only", "bob,zed",
                                     "--only", "al ice")
    assert status == 2
    assert "'zed'" in errors and "'al ice'" in errors and "'bob'" not in errors
    assert "students: alice, bob, carol" in errors
    assert "grading" not in printed and _markers(out) == before
    assert not (out / "regrade.csv").exists()
    status, _, errors = _batch(submissions, out, assignment, "--only", ",")
    assert status == 2 and "name at least one student" in errors


# --- the history and the comparison, without grading -------------------------------------

def _report(score_of: dict[str, str]):
    """A GradeReport with one check per entry, passing or failing (10 points each)."""
    from grader import GradeReport
    from grader.results import CheckResult, Status

    checks = tuple(CheckResult(id=check, title=check, status=Status(status),
                               points=10.0 if status == "pass" else 0.0, max_points=10.0,
                               concepts=(), summary=status)
                   for check, status in score_of.items())
    return GradeReport(assignment="echo", submission="x", backend="local", checks=checks)


def test_keeping_the_same_result_twice_keeps_it_once(tmp_path):
    save_result(tmp_path, StudentResult("ann", error="no server found"))
    folder = tmp_path / "students" / "ann"
    first = keep_previous(folder)
    assert first is not None and keep_previous(folder) == first  # killed, then run again
    save_result(tmp_path, StudentResult("ann", _report({"a": "pass"})))
    save_result(tmp_path, StudentResult("ann", _report({"a": "fail"})))
    history = load_history(tmp_path, "ann")
    assert [e.result.status for e in history] == ["error", "graded"]
    assert history[1].result.report.score == 10
    assert [e.written for e in history] == sorted(e.written for e in history)
    assert json.loads((folder / "report.json").read_text())["checks"][0]["status"] == "fail"


def test_compare_counts_an_error_below_every_score():
    before = {"ann": StudentResult("ann", error="no server found"),
              "ben": StudentResult("ben", _report({"a": "pass", "b": "pass"})),
              "cid": StudentResult("cid", _report({"a": "pass", "b": "fail"})),
              "dee": StudentResult("dee", _report({"a": "pass"}))}
    after = {"ann": StudentResult("ann", _report({"a": "fail"})),
             "ben": StudentResult("ben", error="the grader crashed"),
             "cid": StudentResult("cid", _report({"a": "fail", "b": "pass"})),
             "dee": StudentResult("dee", _report({"a": "pass"})),
             "eve": StudentResult("eve", _report({"a": "pass"}))}
    regrade = compare(before, after, ("eve",))
    assert {s.student: s.direction for s in regrade.students} == {
        "ann": "up", "ben": "down", "cid": "same", "dee": "same"}
    cid = regrade.students[2]
    assert [str(c) for c in cid.checks] == ["a: pass->fail", "b: fail->pass"]
    assert regrade.describe() == ("2 students changed: 1 up, 1 down; 2 unchanged; 1 graded "
                                  "for the first time")
    section = regrade_section(regrade)
    assert "cid" in section and "dee" not in section  # same score, but checks changed
    assert "a: pass-&gt;fail" in section and "the grader crashed" in section


def test_the_section_escapes_what_students_chose():
    before = {"<b>x</b>": StudentResult("<b>x</b>", error="<script>")}
    after = {"<b>x</b>": StudentResult("<b>x</b>", _report({"a": "pass"}))}
    section = regrade_section(compare(before, after))
    assert "<b>x" not in section and "<script>" not in section
    assert "&lt;b&gt;x&lt;/b&gt;" in section
