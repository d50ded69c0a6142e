"""Gradescope's autograder results.json (`grade --gradescope FILE`).

The format is Gradescope's "Autograder Specifications": a top-level score, execution
time, output and visibility, and one test per check with its own score, maximum, status
("passed" only when the check passed), output and tags (the check's quiz concepts).
The top-level output is the same per-concept picture the terminal prints, in plain text.

It is declared "text" (output_format). Gradescope renders the top-level output as
"simple_format" by default, that is as HTML, through a sanitiser whose allowed elements it
does not document ("Output String Formatting" in the specifications); so a program's
output quoted in it (`File "<stdin>"`, `vector<int>`) would be read as tags, and the
report page (`--html`: inline SVG and a style element, neither documented as allowed) is
not carried there.

Each test carries its check's `visibility`, so Gradescope shows it to the student when
the assignment says (a hidden test never, after_due_date / after_published once those
have passed) and the instructor always. The top-level output, which every student sees,
is the terminal's conclusion, the student's view (results.student_view): no hidden
check's verdict in it. The
top-level score is the whole score, hidden checks' points included: Gradescope's grade,
which it shows students as the tests' visibility allows; extra_data (stored, not shown
to students) is the instructor's, as the JSON report is.

Above the conclusion, the builds as the terminal prints them: a build that failed with
its output (a compiler's errors), which the checks it stopped point to. `grade` writes a
results.json also when it cannot grade (`not_graded`: score 0, the reason shown) and
when it crashes (`grader_crashed`: score 0, the traceback in extra_data only), so
Gradescope never shows its bare "autograder failed".
"""

from __future__ import annotations

import json

from ..results import CheckResult, GradeReport, Status
from . import terminal
from .common import feedback_text

FORMAT = {"output_format": "text", "visibility": "visible", "stdout_visibility": "hidden"}
CRASH_TEXT = ("The autograder hit an internal problem and could not grade your submission. "
              "This is not a verdict on your code: your course staff can see what happened "
              "and will look into it.")


def render(report: GradeReport) -> str:
    blocks = [terminal.plain_builds(report.builds),
              terminal.conclusion(report, terminal.Style(colour=False))]
    results = {
        "score": report.score,
        "execution_time": round(report.duration),
        "output": "\n\n".join(filter(None, blocks)) + "\n",
        **FORMAT,
        "extra_data": {
            "assignment": report.assignment,
            "backend": report.backend,
            "max_score": report.max_score,
            "concepts": {c.id: str(c.status) for c in report.concepts},
            "notices": list(report.notices),
            "grader_tracebacks": {c.id: c.grader_traceback for c in report.checks
                                  if c.grader_traceback},
        },
        "tests": [_test(number, result) for number, result in enumerate(report.checks, 1)],
    }
    return _dump(results)


def not_graded(reason: str) -> str:
    """results.json for a submission the grader could not grade (no server found, a bad
    grade.toml): score 0, and the reason, which the student can act on."""
    return _dump({"score": 0, "output": f"Your submission could not be graded:\n{reason}\n",
                  **FORMAT, "tests": []})


def grader_crashed(grader_traceback: str) -> str:
    """results.json for a grading the grader itself broke off: score 0, a note that says
    so, and the traceback where only the instructor sees it."""
    return _dump({"score": 0, "output": CRASH_TEXT + "\n", **FORMAT,
                  "extra_data": {"grader_traceback": grader_traceback}, "tests": []})


def _dump(results: dict) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def _test(number: int, result: CheckResult) -> dict:
    return {
        "name": f"{result.id}: {result.title}",
        "number": str(number),
        "score": result.points,
        "max_score": result.counted_max_points,
        "status": "passed" if result.status is Status.PASS else "failed",
        "output": feedback_text(result),
        "output_format": "text",
        "tags": list(result.concepts),
        "visibility": str(result.visibility),
    }
