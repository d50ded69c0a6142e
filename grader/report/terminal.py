"""The terminal report: one line per check as it finishes, then a section per quiz
question saying what the student's code showed, with the evidence, then the total.

It is the student's view (results.student_view): a check hidden from students is one
line saying so and the points at stake, nothing of its result.

Plain text when not on a terminal (CI logs), colour when on one (see wants_colour).
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from ..concepts import BY_ID, Concept
from ..inert import inert
from ..results import (
    BuildResult,
    CheckResult,
    GradeReport,
    Status,
    Withheld,
    is_hidden,
    student_view,
    withhold,
)
from .common import GRADER_ERROR_NOTE, points, sections, total_parts, withheld_text

if TYPE_CHECKING:
    from ..checks.base import Check

WIDTH = 88
LABELS = {Status.PASS: "PASS", Status.PARTIAL: "PART", Status.FAIL: "FAIL",
          Status.ERROR: "ERR ", Status.INCONCLUSIVE: "????", Status.SKIPPED: "SKIP"}
COLOURS = {Status.PASS: "32", Status.PARTIAL: "33", Status.FAIL: "31", Status.ERROR: "35",
           Status.INCONCLUSIVE: "33", Status.SKIPPED: "2"}


def wants_colour(stream: TextIO) -> bool:
    """The conventions in CPython's own order: a non-empty NO_COLOR (no-color.org) turns
    colour off, a non-empty FORCE_COLOR turns it on, TERM=dumb off, else a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return os.environ.get("TERM") != "dumb" and stream.isatty()


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def status(self, status: Status) -> str:
        return self.paint(LABELS[status], COLOURS[status])

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


def header(assignment: str, submission: str, backend: str) -> str:
    note = " (not sandboxed: use --backend docker for untrusted code)" if backend == "local" \
        else ""
    return f"{assignment} · {inert(submission)} · {backend} backend{note}"


def build_line(build: BuildResult, style: Style) -> str:
    if build.ok:
        return f"building {build.role}: {build.command} ... ok ({build.duration:.1f} s)"
    how = ("did not finish in time" if build.exit_code is None
           else f"failed with status {build.exit_code}")
    output = textwrap.indent(build.output.rstrip() or "(no output)", "    ")
    return (f"building {build.role}: {build.command} ... "
            f"{style.paint(how, '31')} ({build.duration:.1f} s)\n{output}")


def plain_builds(builds: Iterable[BuildResult]) -> str:
    """The builds as the terminal prints them, without colour, for the other formats."""
    style = Style(colour=False)
    return "\n".join(build_line(build, style) for build in builds)


def check_line(result: CheckResult, style: Style) -> str:
    concepts = " ".join(result.concepts)
    return (f"  {style.status(result.status)}  {result.id:<24}{points(result):>7}  {concepts:<7} "
            f"{result.summary}")


def withheld_line(item: Withheld, style: Style) -> str:
    return f"  {style.paint('HIDE', '2')}  {item.id:<24}{'':>7}  {'':<7} {withheld_text(item)}"


def conclusion(report: GradeReport, style: Style, *, grader_frames: bool = False) -> str:
    """The per-concept sections and the total, printed after the check lines. With
    `grader_frames`, a grader error in an assignment's checks.py shows where (for whoever
    runs `grade` with the assignment at hand; a student on Gradescope never sees it)."""
    report = student_view(report)
    explained, shown = sections(report)
    blocks = [_section(s.title, s.status, s.checks, style,
                       report.concept(s.concept_id) if s.concept_id else None,
                       grader_frames)
              for s in explained]
    if shown:
        blocks.append(_title_line(", ".join(shown), "shown", style))
    return "\n\n".join(blocks) + "\n\n" + style.bold(" · ".join(total_parts(report)))


def render(report: GradeReport, colour: bool = False) -> str:
    """The whole report at once (for a stored report; `grade` prints it as it goes)."""
    style = Style(colour)
    report = student_view(report)
    lines = [header(report.assignment, report.submission, report.backend)]
    lines += [build_line(b, style) for b in report.builds]
    lines.append("")
    lines += [check_line(c, style) for c in report.checks]
    lines += [withheld_line(item, style) for item in report.withheld]
    return "\n".join(lines) + "\n\n" + conclusion(report, style) + "\n"


def _section(title: str, status: str, checks: tuple[CheckResult, ...], style: Style,
             idea: Concept | None, grader_frames: bool) -> str:
    lines = [_title_line(title, status, style)]
    for result in checks:
        if result.status is Status.PASS:
            lines.append(_wrap(f"{result.id}: {result.summary}", "  "))
            continue
        lines.append(_wrap(f"{style.status(result.status)} {result.id}: {result.summary}", "  "))
        for detail in result.details:
            lines.append(_wrap(detail, "    "))
        if result.status is Status.ERROR:
            if grader_frames:
                lines += [f"    {line}" for line in instructor_frame(result.grader_traceback)]
            lines.append(_wrap(GRADER_ERROR_NOTE, "    "))
        if result.hint:
            lines.append(_wrap(f"Next step: {result.hint}", "    "))
    if idea is not None:
        see = f" See: grade concepts {idea.id}" if idea.id in BY_ID else ""
        lines.append(_wrap(f"Why: {idea.idea}{see}", "  "))
    return "\n".join(lines)


# A traceback's frame line; an assignment's checks are always in a file of that name.
_FRAME = re.compile(r' {2}File "(?P<file>[^"]*checks\.py)", line (?P<line>\d+), in ')
_BOX = re.compile(r"^ *\| ")  # the bar an exception group draws left of each inner line


def instructor_frame(grader_traceback: str) -> list[str]:
    """Where in an assignment's checks.py a grader error arose, from its traceback: the
    innermost such frame (file, line, its code) and the exception's line; [] when the
    error arose in the grader itself."""
    lines = [_BOX.sub("", line) for line in grader_traceback.splitlines()]
    found = [i for i, line in enumerate(lines) if _FRAME.match(line)]
    if not found:
        return []
    at = found[-1]
    frame = _FRAME.match(lines[at])
    shown = [f'File "{frame["file"]}", line {frame["line"]}:']
    following = lines[at + 1:]
    if following and following[0].startswith("    ") and following[0].strip():
        shown.append(f"    {following[0].strip()}")
    # The exception's own line is the first after the frame that starts unindented.
    shown += [line for line in following if line[:1].strip()][:1]
    return shown


def _title_line(title: str, status: str, style: Style) -> str:
    gap = max(2, WIDTH - len(title) - len(status))
    return style.bold(title) + " " * gap + status


def _wrap(text: str, indent: str) -> str:
    out = []
    for paragraph in text.split("\n"):
        if paragraph.startswith("    "):  # evidence such as four-tuples: keep as it is
            out.append(indent + paragraph)
        else:
            out.append(textwrap.fill(paragraph, WIDTH, initial_indent=indent,
                                     subsequent_indent=indent) or indent)
    return "\n".join(out)


def concepts_page(catalogue: tuple[Concept, ...], checks: Iterable[Check]) -> str:
    """`grade concepts`: an assignment's ideas in the project's words, and the checks of
    its plan that show each."""
    checks = list(checks)
    blocks = []
    for item in catalogue:
        shown_by = ", ".join(c.id for c in checks if item.id in c.concepts) or "none"
        blocks.append(f"{item.id} · {item.title}\n"
                      + _wrap(f"Question: {item.question}", "  ") + "\n"
                      + _wrap(item.idea, "  ") + "\n"
                      + _wrap(f"Checks that show it: {shown_by}", "  "))
    return "\n\n".join(blocks) + "\n"


class LiveTerminal:
    """Prints builds and checks as they finish (a grading Progress listener)."""

    def __init__(self, stream: TextIO, colour: bool) -> None:
        self.stream = stream
        self.style = Style(colour)
        self._first_check = True

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def build_finished(self, build: BuildResult) -> None:
        self.say(build_line(build, self.style))

    def check_finished(self, result: CheckResult) -> None:
        if self._first_check:
            self.say("")
            self._first_check = False
        if is_hidden(result):
            self.say(withheld_line(withhold(result), self.style))
        else:
            self.say(check_line(result, self.style))
