"""The Markdown report (`grade --markdown FILE`; also GitHub's job summary in Actions).

The same content as the terminal report, laid out for a Markdown viewer: the table of
checks, then a section per quiz concept not fully shown, then the total. Text that comes
from a student's program (verdicts, details) is escaped or fenced, so it cannot change
the layout. It is the student's view (results.student_view): a hidden check is one row
saying so, nothing of its result. The builds come before the table, as the terminal
prints them (a failed one with its output, fenced), since the checks a failed build
stopped point to its output.
"""

from __future__ import annotations

import re

from ..concepts import BY_ID
from ..inert import inert
from ..results import CheckResult, GradeReport, Status, Withheld, student_view
from . import terminal
from .common import GRADER_ERROR_NOTE, Section, number, points, sections, total_parts, withheld_text

ICONS = {Status.PASS: "✅", Status.PARTIAL: "🟡", Status.FAIL: "❌", Status.ERROR: "⚠️",
         Status.INCONCLUSIVE: "❔", Status.SKIPPED: "⏭️"}
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def render(report: GradeReport) -> str:
    report = student_view(report)
    lines = [f"## {escape(report.assignment)}: {number(report.score)}/"
             f"{number(report.max_score)}", "",
             f"Submission `{_code(report.submission)}`, {escape(report.backend)} backend.", ""]
    lines += [f"> {escape(notice)}" for notice in report.notices]
    if report.notices:
        lines.append("")
    if report.builds:
        lines += [*fence(terminal.plain_builds(report.builds)), ""]
    lines += ["| | Check | Points | Quiz | Verdict |", "|---|---|--:|---|---|"]
    lines += [_row(result) for result in report.checks]
    lines += [_withheld_row(item) for item in report.withheld]
    explained, shown = sections(report)
    for section in explained:
        lines += ["", *_section(report, section)]
    if shown:
        lines += ["", f"### {', '.join(shown)}: shown"]
    lines += ["", f"**{' · '.join(total_parts(report))}**"]
    return "\n".join(lines) + "\n"


def escape(text: str) -> str:
    """Inline text as literal Markdown, on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(inert(text).split()))


def fence(text: str) -> list[str]:
    """A fenced block that holds `text` as it is, whatever backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marker = "`" * max(3, longest + 1)
    return [marker + "text", *text.rstrip("\n").split("\n"), marker]


def _row(result: CheckResult) -> str:
    label = f"{ICONS[result.status]} {result.status.upper()}"
    return (f"| {label} | `{result.id}` | {points(result)} | {' '.join(result.concepts)} | "
            f"{escape(result.summary)} |")


def _withheld_row(item: Withheld) -> str:
    return f"| 🔒 HIDDEN | `{item.id}` | –/{number(item.max_points)} | | {withheld_text(item)} |"


def _section(report: GradeReport, section: Section) -> list[str]:
    lines = [f"### {escape(section.title)}: {section.status}", ""]
    for result in section.checks:
        lines.append(f"- {ICONS[result.status]} **{result.id}**: {escape(result.summary)}")
        if result.status is Status.PASS:
            continue
        if result.details:
            lines += ["", *("  " + line for line in fence("\n".join(result.details))), ""]
        if result.status is Status.ERROR:
            lines.append(f"  - {GRADER_ERROR_NOTE}")
        if result.hint:
            lines.append(f"  - **Next step:** {escape(result.hint)}")
    if section.concept_id:
        item = report.concept(section.concept_id)
        see = f" See: `grade concepts {item.id}`" if item.id in BY_ID else ""
        lines += ["", f"*Why:* {escape(item.idea)}{see}"]
    return lines


def _code(text: str) -> str:
    return text.replace("`", "'")
