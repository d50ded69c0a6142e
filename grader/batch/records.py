"""Each student's stored result in RESULTS_DIR/students/<id>/, written atomically.

A student is complete when `report.json` (the GradeReport as `to_json` gives it) or
`error.json` (the student could not be graded, and why) exists: that file is written
last, after the feedback files (`feedback.md`, and `feedback.html`, the report as a page
with its pictures), each through a temporary file in the same folder and `os.replace`, so
a batch killed at any moment leaves either a complete result or none.

A result is never overwritten: when a student is graded again (`--force`, `--only`), the
complete result they had is first copied into students/<id>/history/<when>/ (its marker
and feedback as they were), <when> being the time that result was written (UTC, to the
microsecond), so the folders sort in the order the results were made and keeping the
same result twice (a batch killed between keeping and replacing) keeps it once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import GraderError, InputError
from ..report import html, markdown
from ..results import GradeReport, Status

REPORT = "report.json"
ERROR = "error.json"
PARTIAL_PREFIX = ".partial-"

FEEDBACK = "feedback.md"
FEEDBACK_PAGE = "feedback.html"
HISTORY = "history"


REASON_LIMIT = 500  # characters of a reason kept: it may quote what a student chose


def reason(exc: GraderError) -> str:
    """Why a student could not be graded, as their record says it: for an InputError, the
    file's own name, not our copy's path; cut short at REASON_LIMIT characters."""
    if isinstance(exc, InputError):
        text = f"{exc.path.name}: {exc.message}" if exc.path.name else exc.message
    else:
        text = str(exc)
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + "..."


@dataclass(frozen=True)
class StudentResult:
    """One student's outcome: a report, or an error with its reason (or still pending)."""

    student: str
    report: GradeReport | None = None
    error: str = ""  # why there is no report
    details: str = ""  # e.g. the end of a crashed grading's stderr
    pending: bool = False  # discovered but not graded yet (an interrupted batch)

    @property
    def status(self) -> str:
        """graded, error (no report, or a build that failed) or pending."""
        if self.pending:
            return "pending"
        return "error" if self.reason else "graded"

    @property
    def reason(self) -> str:
        if self.error:
            return self.error
        if self.report is not None:
            failed = [b for b in self.report.builds if not b.ok]
            if failed:
                build = failed[0]
                how = ("did not finish in time" if build.exit_code is None
                       else f"exited with status {build.exit_code}")
                return f"{build.role} build `{build.command}` {how}"
        return ""

    @property
    def not_passed(self) -> int:
        """Checks that did not pass and were not merely skipped."""
        if self.report is None:
            return 0
        return sum(1 for c in self.report.checks
                   if c.status not in (Status.PASS, Status.SKIPPED))


def student_folder(results_dir: Path, student: str) -> Path:
    return results_dir / "students" / student


def load_result(results_dir: Path, student: str) -> StudentResult | None:
    """The complete result stored for `student`, or None."""
    return read_result(student_folder(results_dir, student), student)


def read_result(folder: Path, student: str) -> StudentResult | None:
    """The complete result in `folder` (a student's, or one of its history), or None."""
    try:
        if (folder / REPORT).exists():
            data = json.loads((folder / REPORT).read_text(encoding="utf-8"))
            return StudentResult(student, GradeReport.from_json(data))
        if (folder / ERROR).exists():
            data = json.loads((folder / ERROR).read_text(encoding="utf-8"))
            return StudentResult(student, error=data["reason"], details=data.get("details", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: treated as not complete, so it is graded again
    return None


def stored_students(results_dir: Path) -> list[str]:
    folder = results_dir / "students"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def save_result(results_dir: Path, result: StudentResult) -> None:
    """Keep the student's previous result in their history, then write the feedback, and
    the marker (report.json or error.json) last."""
    folder = student_folder(results_dir, result.student)
    folder.mkdir(parents=True, exist_ok=True)
    keep_previous(folder)
    # An older marker goes first: a kill between here and the new marker leaves the
    # student incomplete (graded again next run), never with two answers.
    for name in (REPORT, ERROR):
        if (folder / name).exists():
            (folder / name).unlink()
    if result.report is not None:
        write_atomically(folder / FEEDBACK, feedback(result.report))
        write_atomically(folder / FEEDBACK_PAGE, html.render(result.report))
        write_atomically(folder / REPORT,
                         json.dumps(result.report.to_json(), indent=2, ensure_ascii=False)
                         + "\n")
    else:
        write_atomically(folder / FEEDBACK, error_feedback(result))
        write_atomically(folder / FEEDBACK_PAGE,
                         html.error_page("Your submission could not be graded", result.error))
        write_atomically(folder / ERROR, json.dumps(
            {"student": result.student, "status": "error", "reason": result.error,
             "details": result.details}, indent=2, ensure_ascii=False) + "\n")


def keep_previous(folder: Path) -> Path | None:
    """Copy the complete result in a student's `folder` (marker and feedback) into its
    history; the history entry, or None when there was no complete result."""
    marker = next((folder / n for n in (REPORT, ERROR) if (folder / n).is_file()), None)
    if marker is None:
        return None
    stamp = _stamp(marker.stat().st_mtime_ns)
    target, number = folder / HISTORY / stamp, 1
    while target.exists():
        if _same_file(target / marker.name, marker):
            return target  # kept already, by a batch killed before it replaced the result
        number += 1  # another result written within the clock's granularity
        target = folder / HISTORY / f"{stamp}-{number}"
    partial = target.with_name(f"{PARTIAL_PREFIX}{target.name}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in (FEEDBACK, FEEDBACK_PAGE, marker.name):
        if (folder / name).is_file():
            shutil.copy2(folder / name, partial / name)
    os.replace(partial, target)  # the entry appears whole or not at all
    return target


def _same_file(kept: Path, marker: Path) -> bool:
    try:
        return kept.read_bytes() == marker.read_bytes()
    except OSError:
        return False


def _stamp(mtime_ns: int) -> str:
    seconds, nanoseconds = divmod(mtime_ns, 1_000_000_000)
    return (time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds))
            + f".{nanoseconds // 1000:06d}Z")


@dataclass(frozen=True)
class Earlier:
    """A result a student had before being graded again."""

    written: str  # when, as its history folder is named: 20250301T101500.123456Z (UTC)
    result: StudentResult


def load_history(results_dir: Path, student: str) -> list[Earlier]:
    """The student's earlier results, oldest first."""
    history = student_folder(results_dir, student) / HISTORY
    if not history.is_dir():
        return []
    kept = []
    for entry in sorted(history.iterdir()):
        result = read_result(entry, student)
        if result is not None and not entry.name.startswith(PARTIAL_PREFIX):
            kept.append(Earlier(entry.name, result))
    return kept


def feedback(report: GradeReport) -> str:
    """The student's feedback: like feedback.html, the student's view of the report
    (hidden checks one line each), as the renderer makes it."""
    return markdown.render(report)


def error_feedback(result: StudentResult) -> str:
    return (f"# Your submission could not be graded\n\n"
            f"Reason: {markdown.escape(result.error)}\n")


def write_atomically(target: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=target.parent,
                                             prefix=f"{PARTIAL_PREFIX}{target.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_partials(results_dir: Path) -> None:
    """Temporary files a killed batch left behind."""
    for path in (results_dir / "students").glob(f"*/{PARTIAL_PREFIX}*"):
        path.unlink(missing_ok=True)
    for path in (results_dir / "students").glob(f"*/{HISTORY}/{PARTIAL_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in results_dir.glob(f"{PARTIAL_PREFIX}*"):
        path.unlink(missing_ok=True)
