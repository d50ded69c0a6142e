"""The terminal report: one line per check as it finishes, then a section per quiz
question saying what the student's code showed, with the evidence, then the total.

Plain text when not on a terminal (CI logs), colour when on one (unless NO_COLOR).
"""

from __future__ import annotations

import os
import textwrap
from typing import TextIO

from ..concepts import CONCEPTS, concept
from ..results import BuildResult, CheckResult, ConceptStatus, GradeReport, Status

WIDTH = 88
LABELS = {Status.PASS: "PASS", Status.PARTIAL: "PART", Status.FAIL: "FAIL",
          Status.ERROR: "ERR ", Status.INCONCLUSIVE: "????", Status.SKIPPED: "SKIP"}
VERDICT_WORDS = {Status.PARTIAL: "partly passed", Status.FAIL: "failed",
                 Status.ERROR: "could not be run (grader error)",
                 Status.INCONCLUSIVE: "inconclusive", Status.SKIPPED: "skipped"}
COLOURS = {Status.PASS: "32", Status.PARTIAL: "33", Status.FAIL: "31", Status.ERROR: "35",
           Status.INCONCLUSIVE: "33", Status.SKIPPED: "2"}


def wants_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


class Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def status(self, status: Status) -> str:
        return self.paint(LABELS[status], COLOURS[status])

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


def header(assignment: str, submission: str, backend: str, sandboxed: bool) -> str:
    note = "" if sandboxed else " (not sandboxed: use --backend docker for untrusted code)"
    return f"{assignment} · {submission} · {backend} backend{note}"


def build_line(build: BuildResult, style: Style) -> str:
    if build.ok:
        return f"building {build.role}: {build.command} ... ok ({build.duration:.1f} s)"
    how = ("did not finish in time" if build.exit_code is None
           else f"failed with status {build.exit_code}")
    output = textwrap.indent(build.output.rstrip() or "(no output)", "    ")
    return (f"building {build.role}: {build.command} ... "
            f"{style.paint(how, '31')} ({build.duration:.1f} s)\n{output}")


def check_line(result: CheckResult, style: Style) -> str:
    points = f"{_number(result.points)}/{_number(result.max_points)}"
    concepts = " ".join(result.concepts)
    return (f"  {style.status(result.status)}  {result.id:<24}{points:>7}  {concepts:<6} "
            f"{result.summary}")


def conclusion(report: GradeReport, style: Style) -> str:
    """The per-concept sections and the total, printed after the check lines."""
    blocks = []
    shown = []
    for concept_result in report.concepts:
        if concept_result.status is ConceptStatus.SHOWN:
            shown.append(concept_result.id)
            continue
        checks = [report.check(c) for c in concept_result.checks]
        blocks.append(_section(f"{concept_result.id} · {concept_result.title}",
                               str(concept_result.status), checks, style, concept_result.id))
    other = [c for c in report.checks if not c.concepts and c.status is not Status.PASS]
    if other:
        blocks.append(_section("Other checks", "not passed", other, style, None))
    if shown:
        blocks.append(_title_line(", ".join(shown), "shown", style))
    return "\n\n".join(blocks) + "\n\n" + _total(report, style)


def render(report: GradeReport, colour: bool = False) -> str:
    """The whole report at once (for a stored report; `grade` prints it as it goes)."""
    style = Style(colour)
    lines = [header(report.assignment, report.submission, report.backend,
                    not report.notices)]
    lines += [build_line(b, style) for b in report.builds]
    lines.append("")
    lines += [check_line(c, style) for c in report.checks]
    return "\n".join(lines) + "\n\n" + conclusion(report, style) + "\n"


def _section(title: str, status: str, checks: list[CheckResult], style: Style,
             concept_id: str | None) -> str:
    lines = [_title_line(title, status, style)]
    for result in checks:
        if result.status is Status.PASS:
            lines.append(_wrap(f"{result.id}: {result.summary}", "  "))
            continue
        lines.append(_wrap(f"{style.status(result.status)} {result.id}: {result.summary}", "  "))
        for detail in result.details:
            lines.append(_wrap(detail, "    "))
        if result.status is Status.ERROR:
            lines.append(_wrap("This is a problem in the grader, not in your code: it cost "
                               "you these points only until it is fixed. Please report it "
                               "with the JSON report (--json).", "    "))
        if result.hint:
            lines.append(_wrap(f"Next step: {result.hint}", "    "))
    if concept_id:
        lines.append(_wrap(f"Why: {concept(concept_id).idea} See: grade concepts "
                           f"{concept_id}", "  "))
    return "\n".join(lines)


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


def _total(report: GradeReport, style: Style) -> str:
    counts = {}
    for result in report.checks:
        if result.status is not Status.PASS:
            counts[result.status] = counts.get(result.status, 0) + 1
    parts = [f"score {_number(report.score)}/{_number(report.max_score)}"]
    parts += [f"{n} check{'s' if n > 1 else ''} {VERDICT_WORDS[s]}" for s, n in counts.items()]
    parts.append(f"{report.duration:.1f} s")
    return style.bold(" · ".join(parts))


def _number(value: float) -> str:
    return f"{value:g}"


def concepts_page() -> str:
    """`grade concepts`: the quiz's ideas in the project's words."""
    from ..checks import CHECKS

    blocks = []
    for item in CONCEPTS:
        checks = ", ".join(c.id for c in CHECKS.values() if item.id in c.concepts)
        blocks.append(f"{item.id} · {item.title}\n"
                      + _wrap(f"Quiz: {item.question}", "  ") + "\n"
                      + _wrap(item.idea, "  ") + "\n"
                      + _wrap(f"Checks that show it: {checks}", "  "))
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
        self.say(check_line(result, self.style))
