"""A check the grader could not run is left out of the maximum (issue 25), and what
leaves the grader keeps it so: the batch's LMS gradebook never records the lower score
against the full maximum."""

from __future__ import annotations

from pathlib import Path

from grader.batch.records import StudentResult, save_result
from grader.results import CheckResult, GradeReport, Status
from grader.term import export_gradebook, load_roster

ROSTER = Path(__file__).parent / "data" / "gradebook" / "roster.csv"


def _report(student: str, restart: Status) -> GradeReport:
    checks = (CheckResult("server-starts", "Starts", Status.PASS, 8.0, 8.0, ("Q1",), "ok"),
              CheckResult("server-restart", "Restarts", restart, 0.0, 2.0, ("Q2",), "?"))
    return GradeReport("echo", f"submissions/{student}", "docker", checks)


def test_the_gradebook_leaves_a_student_with_a_grader_error_ungraded(tmp_path):
    out = tmp_path / "results"
    save_result(out, StudentResult("alice", _report("alice", Status.ERROR)))
    save_result(out, StudentResult("bob", _report("bob", Status.FAIL)))
    export = export_gradebook(out, load_roster(ROSTER), "csv")
    assert export.graded == ("bob",)
    (student, reason), = export.ungraded
    assert student == "alice" and "could not run server-restart" in reason
    # Alice's lower maximum is no disagreement about the points.
    assert export.notes == ()
