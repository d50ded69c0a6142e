"""What a batch that graded students again changed: per student the score before and
after, and the checks whose status changed. The comparison is of each student's result
before this run (kept in their history, grader.batch.records) with the one this run
wrote; it becomes regrade.csv, a section of report.html and the line the CLI prints.

A student's grade went up or down by its points, as grades.csv has them. A result without
a report (nothing to grade, an archive refused) has no score, and counts as below every
score: a student whose error became a graded 0 went up.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass

from ..inert import inert
from ..report.common import csv_text
from .records import StudentResult

REGRADE_CSV = "regrade.csv"
ROWS_SHOWN = 200  # students listed on the page; regrade.csv has them all


@dataclass(frozen=True)
class CheckChange:
    check: str
    before: str  # a status (pass, fail, ...), or "none" when the result had no such check
    after: str

    def __str__(self) -> str:
        return f"{self.check}: {self.before}->{self.after}"


@dataclass(frozen=True)
class StudentChange:
    """One student graded again: their result before and after."""

    student: str
    before: StudentResult
    after: StudentResult
    checks: tuple[CheckChange, ...]  # in the order of the new result's checks

    @property
    def old_score(self) -> float | None:
        return _score(self.before)

    @property
    def new_score(self) -> float | None:
        return _score(self.after)

    @property
    def direction(self) -> str:
        """up, down or same: by points, an error below every score."""
        old, new = _rank(self.before), _rank(self.after)
        return "up" if new > old else "down" if new < old else "same"

    @property
    def changed(self) -> bool:
        """Did the grade change (its points, or graded/error)?"""
        return self.direction != "same"


@dataclass(frozen=True)
class Regrade:
    """The students a run graded again, that had a result before it."""

    students: tuple[StudentChange, ...]  # in student order
    first_time: tuple[str, ...] = ()  # graded by the same run, with no result before it

    @property
    def up(self) -> int:
        return sum(1 for s in self.students if s.direction == "up")

    @property
    def down(self) -> int:
        return sum(1 for s in self.students if s.direction == "down")

    @property
    def unchanged(self) -> int:
        return sum(1 for s in self.students if not s.changed)

    def describe(self) -> str:
        """One line: "12 students changed: 9 up, 3 down; 288 unchanged"."""
        changed = self.up + self.down
        line = (f"{changed} student{'' if changed == 1 else 's'} changed: {self.up} up, "
                f"{self.down} down; {self.unchanged} unchanged")
        if self.first_time:
            line += f"; {len(self.first_time)} graded for the first time"
        return line


def compare(before: Mapping[str, StudentResult], after: Mapping[str, StudentResult],
            first_time: tuple[str, ...] = ()) -> Regrade:
    """`before`: the results a run replaced; `after`: the results after it (every
    student's, or those it wrote); `first_time`: the students it graded that had none."""
    students = tuple(StudentChange(student, before[student], after[student],
                                   _check_changes(before[student], after[student]))
                     for student in sorted(before) if student in after)
    return Regrade(students, tuple(sorted(first_time)))


def _score(result: StudentResult) -> float | None:
    """As grades.csv has it: a report's score (a failed build's too), else none."""
    return None if result.report is None else result.report.score


def _rank(result: StudentResult) -> float:
    score = _score(result)
    return float("-inf") if score is None else score


def _check_changes(before: StudentResult, after: StudentResult) -> tuple[CheckChange, ...]:
    """Checks whose status differs; none when either result has no report (an error's
    reason says more than every check going from or to "none")."""
    if before.report is None or after.report is None:
        return ()
    old = {c.id: str(c.status) for c in before.report.checks}
    new = {c.id: str(c.status) for c in after.report.checks}
    order = list(new) + [check for check in old if check not in new]
    return tuple(CheckChange(check, old.get(check, "none"), new.get(check, "none"))
                 for check in order if old.get(check) != new.get(check))


def regrade_csv(regrade: Regrade) -> str:
    """regrade.csv: one row per student graded again."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "old_score", "new_score", "change", "old_status",
                     "new_status", "old_max_score", "new_max_score", "changed_checks",
                     "old_reason", "new_reason"])
    for item in regrade.students:
        writer.writerow([csv_text(item.student), _number(item.old_score),
                         _number(item.new_score), item.direction, item.before.status,
                         item.after.status, _number(_max(item.before)),
                         _number(_max(item.after)), "; ".join(map(str, item.checks)),
                         csv_text(item.before.reason), csv_text(item.after.reason)])
    return out.getvalue()


def _max(result: StudentResult) -> float | None:
    return None if result.report is None else result.report.max_score


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


REGRADE_STYLE = """
.up { color: #2f7d4f; } .down { color: #a3222b; }
td.checks { font-size: 13px; }
"""


def regrade_section(regrade: Regrade, *, limit: int = ROWS_SHOWN) -> str:
    """The "What changed since the last run" section of report.html: the students whose
    grade or whose checks' statuses changed."""
    e = _shown
    listed = [s for s in regrade.students if s.changed or s.checks]
    intro = (f"<p>{e(regrade.describe())}. Each student's earlier result is kept in "
             "<code>students/&lt;id&gt;/history/</code>; <code>regrade.csv</code> lists "
             "every student graded again.</p>")
    if not listed:
        body = '<p class="muted">No grade and no check changed.</p>'
    else:
        rows = "".join(_row(item) for item in listed[:limit])
        body = ("<table><tr><th>student</th><th class=num>before</th><th class=num>after"
                f"</th><th>checks that changed</th></tr>\n{rows}</table>\n")
        if len(listed) > limit:
            body += (f'<p class="muted">and {len(listed) - limit} more students: see '
                     "regrade.csv.</p>")
    return (f'<section id="regrade">\n<h2>What changed since the last run</h2>\n{intro}\n'
            f"{body}</section>\n")


def _row(item: StudentChange) -> str:
    e = _shown
    arrow = {"up": "▲ ", "down": "▼ ", "same": ""}[item.direction]
    checks = ", ".join(e(str(change)) for change in item.checks)
    if not checks and item.before.status != item.after.status:
        checks = e(item.after.reason or item.before.reason)
    return (f"<tr><td>{e(item.student)}</td><td class=num>{e(_shown_score(item.before))}"
            f'</td><td class="num {item.direction}">{arrow}{e(_shown_score(item.after))}'
            f'</td><td class="checks">{checks}</td></tr>\n')


def _shown_score(result: StudentResult) -> str:
    score = _score(result)
    return result.status if score is None else f"{score:g}/{_number(_max(result))}"


def _shown(text: str) -> str:
    return html.escape(inert(text))
