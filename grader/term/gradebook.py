"""`grade export gradebook`: a batch's grades as a file the LMS imports, one row per
student of the roster, in the roster's order.

- canvas: the layout of Canvas's own gradebook export, which its importer reads back:
  `Student, ID, SIS User ID, SIS Login ID, Section`, then one column per assignment
  titled `Name (assignment id)`, and under the header the "Points Possible" row. Canvas
  finds the student by ID, else SIS User ID, else SIS Login ID; the assignment by the id
  in parentheses, else by title, else it offers to create it with the points possible.
- moodle: for Moodle's CSV grade import, which maps one column to its users ("Map from"
  a column, "Map to" username, useridnumber or useremail) and each other column to a
  grade item, a new one, or nothing. The identifier columns come first.
- csv: a plain table for any other LMS: the roster's columns, score, max_score, status.

A cell is a number or empty; an empty cell is no grade (both LMSs show the import's
changes before applying them). Who gets one:

- graded: the score (a failed check cost what it costs);
- on the roster without a result (missing): empty, or 0 with `missing="zero"`;
- error (the grader could not grade: no report, a failed build, a check it could not
  run) or pending (the batch
  has not finished them): empty whatever `missing` says, and listed in `ungraded`, so
  the instructor looks at them rather than the LMS recording a 0 the student may not owe;
- results not on the roster: not in the file (there is no LMS account to give them to),
  listed in `unlisted`.

With `concepts`, one column per quiz concept: 1 shown, 0.5 partly shown, 0 not shown,
empty not tested (points possible 1).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..batch.records import StudentResult, load_result, stored_students, write_atomically
from ..concepts import Concept
from ..errors import GraderError
from ..report.common import csv_text, number
from ..results import ConceptStatus
from .roster import Roster, RosterEntry

FORMATS = ("canvas", "moodle", "csv")
MISSING = ("empty", "zero")

CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_IDS = ("canvas_id", "sis_user_id", "sis_login_id")
CANVAS_POINTS_POSSIBLE = "    Points Possible"  # as Canvas writes it, leading spaces too
CANVAS_TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z")  # Canvas's Assignment.title_and_id
MOODLE_IDS = {"username": "Username", "idnumber": "ID number", "email": "Email address"}
CSV_ROSTER_COLUMNS = ("name", "canvas_id", "sis_user_id", "sis_login_id", "section",
                      "username", "idnumber", "email")
CONCEPT_VALUES = {ConceptStatus.SHOWN: "1", ConceptStatus.PARTLY_SHOWN: "0.5",
                  ConceptStatus.NOT_SHOWN: "0", ConceptStatus.NOT_TESTED: ""}
LISTED = 8  # students named in a message before "and N more"


@dataclass(frozen=True)
class GradebookExport:
    """The file's text, and who did not get a score in it (for the command to say)."""

    format: str
    text: str
    rows: int  # students written
    graded: tuple[str, ...]
    missing: tuple[str, ...]  # on the roster, no result: empty cell or 0
    ungraded: tuple[tuple[str, str], ...]  # (student, why): error or pending, empty cell
    unlisted: tuple[str, ...]  # results not on the roster, not in the file
    notes: tuple[str, ...] = ()  # anything else the instructor should know

    def warnings(self) -> list[str]:
        """One line each, for a terminal."""
        lines = []
        if self.unlisted:
            lines.append(f"{len(self.unlisted)} submission(s) not on the roster, so not "
                         f"in the file: {listing(self.unlisted)}")
        if self.ungraded:
            lines.append(f"{len(self.ungraded)} student(s) left empty, not graded: "
                         + listing([f"{s} ({why})" for s, why in self.ungraded]))
        return lines + list(self.notes)


@dataclass(frozen=True)
class _Cells:
    """One student's cells after the identifiers: the score, then the concepts."""

    score: str
    concepts: tuple[str, ...]
    status: str  # graded, missing, error, pending
    reason: str = ""


def export_gradebook(results_dir: Path, roster: Roster, format: str, *,
                     missing: str = "empty", concepts: bool = False,
                     column: str | None = None) -> GradebookExport:
    """The gradebook of the batch in `results_dir` for the students of `roster`.

    `column` titles the grade column (for Canvas, `Echo (12345)` names its assignment
    12345); by default the assignment's name from the reports."""
    if format not in FORMATS:
        raise GraderError(f"unknown gradebook format {format!r}: choose one of "
                          f"{', '.join(FORMATS)}")
    if missing not in MISSING:
        raise GraderError(f"--missing must be one of {', '.join(MISSING)}, not {missing!r}")
    results = _load_results(results_dir)
    reports = [r.report for r in results.values() if r.report is not None]
    title = column or (reports[0].assignment if reports else "grade")
    # The concepts the class was graded with, as the reports carry them.
    catalogue = reports[0].catalogue if reports and concepts else ()
    maxima = sorted({r.max_score for r in reports if not r.left_out})
    notes = []
    if len(maxima) > 1:
        notes.append(f"the reports disagree on the maximum score ({', '.join(map(number, maxima))}"
                     "): some were graded before the points changed; regrade with --force")
    cells: dict[str, _Cells] = {}
    graded, absent, ungraded = [], [], []
    for entry in roster:
        result = results.get(entry.student_id)
        cells[entry.student_id] = _cells(result, missing, catalogue)
        status = cells[entry.student_id].status
        if status == "graded":
            graded.append(entry.student_id)
        elif status == "missing":
            absent.append(entry.student_id)
        else:
            ungraded.append((entry.student_id, cells[entry.student_id].reason))
    unlisted = tuple(sorted(set(results) - roster.student_ids()))
    points = number(maxima[-1]) if maxima else ""
    render = {"canvas": _canvas, "moodle": _moodle, "csv": _plain}[format]
    text = render(roster, cells, title, points, catalogue)
    return GradebookExport(format, text, len(roster), tuple(graded), tuple(absent),
                           tuple(ungraded), unlisted, tuple(notes))


def save_gradebook(export: GradebookExport, target: Path) -> Path:
    """Write the export's file (atomically: a complete file or none)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, export.text)
    except OSError as exc:
        raise GraderError(f"{target}: cannot write the gradebook: {exc.strerror}") from None
    return target


def listing(items: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _load_results(results_dir: Path) -> dict[str, StudentResult]:
    if not (results_dir / "students").is_dir():
        raise GraderError(f"{results_dir}: no batch results here (no students/ folder); "
                          "grade the class with `grade batch SUBMISSIONS --out "
                          f"{results_dir}` first")
    results = {}
    for student in stored_students(results_dir):
        # None: started but not complete (an interrupted batch): pending, not missing.
        results[student] = (load_result(results_dir, student)
                            or StudentResult(student, pending=True))
    return results


def _cells(result: StudentResult | None, missing: str,
           catalogue: tuple[Concept, ...]) -> _Cells:
    count = len(catalogue)
    if result is None:
        value = "0" if missing == "zero" else ""
        return _Cells(value, (value,) * count, "missing")
    if result.pending:
        return _Cells("", ("",) * count, "pending", "not graded yet: run the batch again")
    if result.status == "error" or result.report is None:
        return _Cells("", ("",) * count, "error", result.reason or "could not be graded")
    report = result.report
    if report.left_out:  # its maximum is lower: in a column of the full one, a loss
        return _Cells("", ("",) * count, "error", "the grader could not run "
                      f"{', '.join(c.id for c in report.left_out)}: regrade once fixed")
    shown = {c.id: c.status for c in report.concepts}
    shares = tuple(CONCEPT_VALUES[shown[c.id]] if c.id in shown else "" for c in catalogue)
    return _Cells(number(report.score), shares, "graded")


def _concept_headers(title: str, catalogue: tuple[Concept, ...]) -> list[str]:
    match = CANVAS_TITLE_AND_ID.match(title)
    base = match.group(1) if match else title
    return [f"{base}: {c.id} {c.title}" for c in catalogue]


def _writer() -> tuple[io.StringIO, Any]:
    out = io.StringIO()
    return out, csv.writer(out, lineterminator="\n")


def _lacking(roster: Roster, fields: tuple[str, ...]) -> list[RosterEntry]:
    return [entry for entry in roster if not any(entry.get(f) for f in fields)]


def _canvas(roster: Roster, cells: dict[str, _Cells], title: str, points: str,
            catalogue: tuple[Concept, ...]) -> str:
    lacking = _lacking(roster, CANVAS_IDS)
    if lacking:
        raise GraderError(
            f"{roster.path}: Canvas finds a student by canvas_id (its column ID), "
            "sis_user_id or sis_login_id; these rows have none: "
            + listing([f"line {e.line} ({e.student_id})" for e in lacking]))
    out, writer = _writer()
    headers = [title, *_concept_headers(title, catalogue)]
    writer.writerow([*CANVAS_STUDENT_COLUMNS, *map(csv_text, headers)])
    concept_points = ["1"] * (len(headers) - 1)
    writer.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", "", points, *concept_points])
    for entry in roster:
        row = cells[entry.student_id]
        writer.writerow([*(csv_text(entry.get(f)) for f in ("name", *CANVAS_IDS, "section")),
                         row.score, *row.concepts])
    return out.getvalue()


def _moodle(roster: Roster, cells: dict[str, _Cells], title: str, points: str,
            catalogue: tuple[Concept, ...]) -> str:
    ids = [f for f in MOODLE_IDS if roster.filled(f)]
    if not ids:
        given = [f for f in MOODLE_IDS if f in roster.columns]
        lacking = _lacking(roster, tuple(given)) if given else list(roster)
        raise GraderError(
            f"{roster.path}: Moodle's import maps one column to its users, so one of "
            "username, idnumber or email must be filled for every student"
            + (f"; lacking on: {listing([f'line {e.line} ({e.student_id})' for e in lacking])}"
               if given else "; the roster has none of these columns"))
    names = ["name"] if "name" in roster.columns else []
    out, writer = _writer()
    writer.writerow([*(MOODLE_IDS[f] for f in ids), *(["Full name"] if names else []),
                     *map(csv_text, [title, *_concept_headers(title, catalogue)])])
    for entry in roster:
        row = cells[entry.student_id]
        writer.writerow([*(csv_text(entry.get(f)) for f in (*ids, *names)), row.score,
                         *row.concepts])
    return out.getvalue()


def _plain(roster: Roster, cells: dict[str, _Cells], title: str, points: str,
           catalogue: tuple[Concept, ...]) -> str:
    fields = [f for f in CSV_ROSTER_COLUMNS if f in roster.columns]
    out, writer = _writer()
    writer.writerow(["student_id", *fields, "score", "max_score", "status", "reason",
                     *(c.id for c in catalogue)])
    for entry in roster:
        row = cells[entry.student_id]
        writer.writerow([csv_text(entry.student_id), *(csv_text(entry.get(f)) for f in fields),
                         row.score, points if row.score else "", row.status,
                         csv_text(row.reason), *row.concepts])
    return out.getvalue()
