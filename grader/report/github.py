"""GitHub Actions workflow commands: one annotation per check that lost points.

`grade` prints these when GITHUB_ACTIONS is set; GitHub shows them on the run's summary
page and on the commit. A failed check or a grader error is an `::error`; a partly
passed or inconclusive one a `::warning`. Skipped checks are left out: the check they
depend on already has its annotation. So are checks hidden from students: a student's CI
gets the student's view (results.student_view).
"""

from __future__ import annotations

from ..results import CheckResult, GradeReport, Status, student_view

LEVELS = {Status.FAIL: "error", Status.ERROR: "error", Status.PARTIAL: "warning",
          Status.INCONCLUSIVE: "warning"}


def annotations(report: GradeReport) -> str:
    report = student_view(report)
    lines = [_annotation(LEVELS[c.status], c) for c in report.checks if c.status in LEVELS]
    return "".join(line + "\n" for line in lines)


def _annotation(level: str, result: CheckResult) -> str:
    message = result.summary
    if result.status is Status.ERROR:
        message += " (a grader problem, not your code)"
    elif result.hint:
        message += f"\nNext step: {result.hint}"
    return f"::{level} title={escape_property(result.id)}::{escape_data(message)}"


def escape_data(text: str) -> str:
    """A workflow command's message: GitHub decodes %25, %0D and %0A."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, plus ':' and ','."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
