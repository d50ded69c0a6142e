"""`grade export gradebook`: a batch's results as the files Canvas and Moodle import.

The class is a results folder written with real GradeReport objects. The expected files
in tests/data/gradebook/ follow the layouts the LMSs document and their importers read
(Canvas: its gradebook export/import, app/models/gradebook_importer.rb; Moodle: its CSV
grade import, grade/import/csv); the conformance tests below check the rules those
importers apply, independently of the fixtures.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from grader import load_assignment
from grader.batch.records import StudentResult, save_result, student_folder
from grader.cli import main
from grader.errors import GraderError, InputError
from grader.report.common import csv_text
from grader.results import BuildResult, CheckResult, GradeReport, Status
from grader.term import export_gradebook, load_roster

DATA = Path(__file__).parent / "data" / "gradebook"
ROSTER = DATA / "roster.csv"
PLANNED = load_assignment("echo").checks
CONCEPT_IDS = [item.id for item in load_assignment("echo").concepts]


def _report(student: str, statuses: dict[str, Status] | None = None,
            builds: tuple[BuildResult, ...] = ()) -> GradeReport:
    """A report of the echo assignment: every check passes unless `statuses` says."""
    checks = []
    for planned in PLANNED:
        status = (statuses or {}).get(planned.check.id, Status.PASS)
        earned = {Status.PASS: planned.points, Status.PARTIAL: planned.points / 2}
        checks.append(CheckResult(planned.check.id, planned.check.title, status,
                                  earned.get(status, 0.0), planned.points,
                                  planned.check.concepts, f"{planned.check.id}: {status}"))
    return GradeReport("echo", f"submissions/{student}", "docker", tuple(checks),
                       builds=builds)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """alice 82 (Q2 partly shown), bob 100, carol could not be graded, dave never submitted,
    erin's build failed, frank's grading did not finish, mallory 90 (Q1 and Q3 partly
    shown), zed graded but not on the roster."""
    out = tmp_path / "results"
    save_result(out, StudentResult("alice", _report("alice", {"server-restart": Status.FAIL})))
    save_result(out, StudentResult("bob", _report("bob")))
    save_result(out, StudentResult("carol", error="no server found: no server.py, no "
                                   "Makefile, no grade.toml"))
    failed = BuildResult("server", "make", 2, 0.4, "server.c:3: error")
    save_result(out, StudentResult("erin", _report("erin", {c.check.id: Status.SKIPPED
                                                             for c in PLANNED},
                                                    builds=(failed,))))
    student_folder(out, "frank").mkdir(parents=True)  # started, never completed
    save_result(out, StudentResult("mallory", _report(
        "mallory", {"server-concurrency": Status.PARTIAL})))
    save_result(out, StudentResult("zed", _report("zed")))
    return out


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- the files, against the fixtures ----------------------------------------------------

def test_canvas_file_matches_the_documented_layout(results):
    export = export_gradebook(results, load_roster(ROSTER), "canvas", concepts=True,
                              column="Echo (12345)")
    assert export.text == (DATA / "canvas-expected.csv").read_text()


def test_moodle_file_matches_the_fixture(results):
    export = export_gradebook(results, load_roster(ROSTER), "moodle", missing="zero")
    assert export.text == (DATA / "moodle-expected.csv").read_text()


def test_who_is_graded_missing_ungraded_or_unlisted(results):
    export = export_gradebook(results, load_roster(ROSTER), "csv")
    assert export.graded == ("alice", "bob", "mallory")
    assert export.missing == ("dave",)
    assert [student for student, _ in export.ungraded] == ["carol", "erin", "frank"]
    reasons = dict(export.ungraded)
    assert "no server found" in reasons["carol"]
    assert "server build `make` exited with status 2" in reasons["erin"]
    assert "not graded yet" in reasons["frank"]
    assert export.unlisted == ("zed",)
    warnings = "\n".join(export.warnings())
    assert "zed" in warnings and "carol" in warnings and "frank" in warnings


def test_missing_zero_never_turns_an_error_into_a_zero(results):
    rows = _rows(export_gradebook(results, load_roster(ROSTER), "csv", missing="zero",
                                  concepts=True).text)
    header, body = rows[0], {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert header[-len(CONCEPT_IDS):] == CONCEPT_IDS
    assert (body["dave"]["score"], body["dave"]["status"], body["dave"]["Q1"]) == (
        "0", "missing", "0")
    for student in ("carol", "erin", "frank"):
        assert body[student]["score"] == "" and body[student]["Q1"] == ""
    assert body["erin"]["status"] == "error" and body["frank"]["status"] == "pending"
    restart = next(p.points for p in PLANNED if p.check.id == "server-restart")
    assert (body["alice"]["score"], body["alice"]["max_score"]) == (f"{100 - restart:g}", "100")
    # Q2 is partly shown: the restart failed, closing connections (lifecycle) passed.
    assert [body["alice"][q] for q in ("Q1", "Q2", "Q3", "Q4", "Q5")] == [
        "1", "0.5", "1", "1", "1"]
    assert [body["mallory"][q] for q in ("Q1", "Q3")] == ["0.5", "0.5"]


# --- what the LMS importers require (from their code), independent of the fixtures -------

CANVAS_TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z")  # Assignment.title_and_id


def test_canvas_file_is_what_canvas_reads_back(results):
    rows = _rows(export_gradebook(results, load_roster(ROSTER), "canvas",
                                  column="Echo (12345)").text)
    header, points, students = rows[0], rows[1], rows[2:]
    # GradebookImporter#header?: "Student", "ID", then SIS User ID and SIS Login ID, and
    # "Section" as the last student column; then one column per assignment.
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert CANVAS_TITLE_AND_ID.match(header[5]).groups() == ("Echo", "12345")
    # The second row is read as points possible when its first cell says so.
    assert "Points Possible" in points[0] and points[5] == "100"
    assert all(len(row) == len(header) for row in rows)
    # Each student is found by ID, SIS User ID or SIS Login ID; cells numbers or empty.
    assert all(row[1] or row[2] or row[3] for row in students)
    assert all(re.fullmatch(r"\d+(\.\d+)?|", row[5]) for row in students)
    assert [row[1] for row in students] == ["1001", "1002", "1003", "1004", "1005", "1006",
                                            "1007"]


def test_moodle_file_is_what_moodle_reads(results):
    rows = _rows(export_gradebook(results, load_roster(ROSTER), "moodle", concepts=True).text)
    header, students = rows[0], rows[1:]
    # The "Map from" column comes first; a row with an empty one would give its grades
    # to the student above (load_data.php keeps the previous user), so none is empty.
    assert header[:3] == ["Username", "ID number", "Email address"]
    assert all(row[0] and row[1] and row[2] for row in students)
    # A grade cell is a number, or empty/"-" for no grade; anything else aborts the import.
    grades = [cell for row in students for cell in row[4:]]
    assert all(re.fullmatch(r"\d+(\.\d+)?|", cell) for cell in grades)
    assert header[3:5] == ["Full name", "echo"]
    assert [h.split(" ")[1] for h in header[5:]] == CONCEPT_IDS


# --- the roster ---------------------------------------------------------------------------

def test_roster_columns_are_matched_loosely_and_lms_exports_work(tmp_path):
    roster = tmp_path / "canvas-export.csv"
    roster.write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Echo (12345),Student ID\n"
        "    Points Possible,,,,,100,\n"
        '"Liddell, Alice",1001,S-1001,aliddell,Section 1,,alice\n')
    loaded = load_roster(roster)
    assert [e.student_id for e in loaded] == ["alice"]
    entry = loaded.entries[0]
    assert (entry.get("name"), entry.get("canvas_id"), entry.get("sis_login_id")) == (
        "Liddell, Alice", "1001", "aliddell")
    multiline = tmp_path / "notes.csv"
    multiline.write_text('student_id,name,notes\nalice,Alice,"two\nlines"\nbob,,\n'
                         ',Nobody,\n')
    with pytest.raises(InputError, match="line 5: no student_id"):
        load_roster(multiline)
    moodle = tmp_path / "moodle.csv"
    moodle.write_text("First name,Last name,Email address,student-id\nAlice,Liddell,"
                      "alice@example.edu,alice\n")
    entry = load_roster(moodle).entries[0]
    assert (entry.get("name"), entry.get("email")) == ("Alice Liddell", "alice@example.edu")


@pytest.mark.parametrize(("text", "message"), [
    ("name,email\nAlice,a@x\n", "no student_id column"),
    ("student_id,name\nalice,A\nalice,B\n", "line 3: student_id 'alice' is already on line 2"),
    ("student_id,name\n,Nobody\n", "line 2: no student_id"),
])
def test_a_bad_roster_says_where(tmp_path, text, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        load_roster(roster)


def test_each_lms_says_which_identifier_it_lacks(results, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email\nalice,Alice,alice@example.edu\nbob,Bob,\n")
    with pytest.raises(GraderError, match=r"Canvas finds a student by canvas_id.*line 2"):
        export_gradebook(results, load_roster(roster), "canvas")
    with pytest.raises(GraderError, match=r"one of username, idnumber or email.*line 3 \(bob\)"):
        export_gradebook(results, load_roster(roster), "moodle")
    assert export_gradebook(results, load_roster(roster), "csv").rows == 2


def test_no_results_folder_is_a_clear_error(tmp_path):
    with pytest.raises(GraderError, match="grade batch"):
        export_gradebook(tmp_path, load_roster(ROSTER), "canvas")


# --- spreadsheet injection -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx"])
def test_a_cell_that_would_start_a_formula_is_neutralised(text):
    assert csv_text(text) == "'" + text
    assert csv_text("Liddell, Alice") == "Liddell, Alice"


@pytest.mark.parametrize("text", [" =1+1", "  +1", "\u3000-2", "\xa0@SUM(A1)",
                                  "\ufeff=1+1", "\u200b =1+1", "\uff1d1+1", " \uff0b1",
                                  "\uff0d2", "\uff20SUM(A1)", "\ufe661+1", "\n=1+1"])
def test_a_formula_behind_blanks_or_in_fullwidth_signs_is_neutralised(text):
    # Some spreadsheets drop leading blanks, or read a fullwidth sign as its ASCII form.
    assert csv_text(text) == "'" + text


@pytest.mark.parametrize("text", ["Alice", " Alice", "\uff21lice", "a=b", "1-2", "\u00e9", ""])
def test_a_cell_that_starts_no_formula_is_left_as_it_is(text):
    assert csv_text(text) == text


def test_a_control_character_is_shown_escaped_and_starts_no_formula():
    # Inert text: a carriage return is written as \x0d, which starts no formula.
    assert csv_text("\rx") == "\\x0dx"


def test_no_exported_text_cell_starts_a_formula(results):
    for format in ("canvas", "moodle", "csv"):
        rows = _rows(export_gradebook(results, load_roster(ROSTER), format).text)
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], format
        assert "'=HYPERLINK(\"http://evil.example/?\",\"click\")" in cells, format


def test_grades_csv_uses_the_same_neutralising(results):
    from grader.batch.outputs import gradebook

    text = gradebook(load_assignment("echo"), [
        StudentResult("=cmd|' /C calc'!A0", _report("x")),
        StudentResult("@bob", error="-folder is empty"),
        StudentResult(" \uff1dcmd|' /C calc'!A0", error="x")])
    cells = [cell for row in _rows(text) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'@bob" in cells and "'-folder is empty" in cells
    assert "' \uff1dcmd|' /C calc'!A0" in cells


# --- the command ---------------------------------------------------------------------------

def test_command_writes_the_file_and_lists_who_is_not_in_it(results, tmp_path, capsys):
    target = tmp_path / "out" / "canvas.csv"
    status = main(["export", "gradebook", str(results), "--format", "canvas", "--roster",
                   str(ROSTER), "--out", str(target), "--column", "Echo (12345)",
                   "--concepts"])
    captured = capsys.readouterr()
    assert status == 0
    assert target.read_text() == (DATA / "canvas-expected.csv").read_text()
    assert "7 students of the roster, 3 graded, 1 without a submission (empty), " \
           "3 not graded (empty)" in captured.out
    assert "warning: 1 submission(s) not on the roster, so not in the file: zed" \
        in captured.err
    assert "carol (no server found" in captured.err


def test_command_errors_exit_2_with_one_line(results, tmp_path, capsys):
    status = main(["export", "gradebook", str(results), "--format", "moodle", "--roster",
                   str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.csv")])
    assert status == 2
    assert "no such roster file" in capsys.readouterr().err


def test_export_help_teaches_both_platforms(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    assert "gradescope" in text and "gradebook" in text and "student_id" in text
    assert "--missing zero" in text
