"""What several renderers say the same way: which quiz sections a report has, the total
line's parts, a check's feedback as plain text, the line a check hidden from students
gets, a CSV text cell a spreadsheet will not run, and the security policy of a page.
Each renderer only lays these out."""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from dataclasses import dataclass

from ..inert import inert
from ..results import CheckResult, ConceptStatus, GradeReport, Status, Visibility, Withheld

VERDICT_WORDS = {Status.PARTIAL: "partly passed", Status.FAIL: "failed",
                 Status.ERROR: "could not be run by the grader (left out of the maximum)",
                 Status.INCONCLUSIVE: "inconclusive", Status.SKIPPED: "skipped"}
GRADER_ERROR_NOTE = ("This is a problem in the grader, not in your code: its points are left "
                     "out of your maximum until it is fixed. Please report it with the JSON "
                     "report (--json).")
OTHER = "other"  # the group of checks that evidence no quiz concept
HIDDEN_WORDS = {Visibility.HIDDEN: "hidden from students",
                Visibility.AFTER_DUE_DATE: "hidden until the due date",
                Visibility.AFTER_PUBLISHED: "hidden until grades are published"}
# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula
# (OWASP, "CSV Injection"): student ids come from folder and archive names, names from
# a roster, neither is ours to trust. Some spreadsheets skip leading blanks or read a
# fullwidth sign as its ASCII form, so a cell is judged after both (see `csv_text`).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Section:
    """One block after the check lines: a quiz concept not (fully) shown, or the checks
    without a concept that did not pass."""

    title: str
    status: str
    checks: tuple[CheckResult, ...]
    concept_id: str | None  # None for the "Other checks" block


def sections(report: GradeReport) -> tuple[list[Section], list[str]]:
    """The blocks to explain, in quiz order, and the ids of the concepts fully shown."""
    blocks: list[Section] = []
    shown: list[str] = []
    for concept_result in report.concepts:
        if concept_result.status is ConceptStatus.SHOWN:
            shown.append(concept_result.id)
            continue
        blocks.append(Section(f"{concept_result.id} · {concept_result.title}",
                              str(concept_result.status),
                              tuple(report.check(c) for c in concept_result.checks),
                              concept_result.id))
    other = tuple(c for c in report.checks if not c.concepts and c.status is not Status.PASS)
    if other:
        blocks.append(Section("Other checks", "not passed", other, None))
    return blocks, shown


def total_parts(report: GradeReport) -> list[str]:
    """["score 80/100", "1 check failed", "3.1 s"]: the total line, to be joined."""
    counts: dict[Status, int] = {}
    for result in report.checks:
        if result.status is not Status.PASS:
            counts[result.status] = counts.get(result.status, 0) + 1
    parts = [f"score {number(report.score)}/{number(report.max_score)}"]
    parts += [f"{n} check{'s' if n > 1 else ''} {VERDICT_WORDS[s]}" for s, n in counts.items()]
    if report.withheld:
        hidden = len(report.withheld)
        parts.append(f"{points_of(report.withheld_points)} in {hidden} hidden "
                     f"check{'s' if hidden > 1 else ''} not shown")
    parts.append(f"{report.duration:.1f} s")
    return parts


def number(value: float) -> str:
    return f"{value:g}"


def csv_text(value: str) -> str:
    """A text cell for a CSV file that a spreadsheet shows as text, never runs: one that
    would start a formula gets a leading apostrophe (OWASP's advice). Numbers the grader
    writes itself (scores) are not text cells and do not go through this."""
    value = inert(value)
    return "'" + value if _starts_formula(value) else value


def _starts_formula(value: str) -> bool:
    """Whether `value` starts a formula as it is, or once a spreadsheet has dropped its
    leading blanks and invisible marks (a space, a BOM) and read its compatibility forms
    (`＝` U+FF1D, `﹦`, `＠`) as the plain sign they stand for."""
    if value.startswith(FORMULA_STARTS):
        return True
    plain = unicodedata.normalize("NFKC", value)
    start = next((c for c in plain if not (c.isspace() or unicodedata.category(c) == "Cf")),
                 "")
    return start in FORMULA_STARTS


def security_policy(style: str) -> str:
    """The `<meta>` that gives a page of ours its Content-Security-Policy, to come first in
    its head: nothing may load or run but the one inline stylesheet `style` (allowed by
    its hash, so a `<style>` or `<script>` that escaped into the page would not apply).
    Inline SVG needs no source; links still lead to the student's feedback pages."""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            f"style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'\">")


def points_of(value: float) -> str:
    """"1 point", "18 points"."""
    return f"{number(value)} point{'' if value == 1 else 's'}"


def withheld_text(item: Withheld) -> str:
    """The one line a check hidden from students gets: "hidden until the due date: 18
    points"; nothing of its result."""
    return f"{HIDDEN_WORDS[item.visibility]}: {points_of(item.max_points)}"


def points(result: CheckResult) -> str:
    return f"{number(result.points)}/{number(result.max_points)}"


def group(result: CheckResult) -> str:
    """The quiz concept a check is filed under (its first), or "other"."""
    return result.concepts[0] if result.concepts else OTHER


def feedback_text(result: CheckResult, *, evidence: bool = True,
                  traceback: bool = False) -> str:
    """A check's feedback as plain text: verdict, details, next step, evidence (JSON)."""
    parts = [f"{result.status.upper()} {result.id} ({points(result)}): {result.summary}"]
    if result.details:
        parts.append("\n".join(result.details))
    if result.status is Status.ERROR:
        parts.append(GRADER_ERROR_NOTE)
    if result.hint:
        parts.append(f"Next step: {result.hint}")
    if evidence and result.evidence:
        parts.append("Evidence:\n" + json.dumps(dict(result.evidence), indent=2,
                                                ensure_ascii=False, sort_keys=True,
                                                default=str))
    if traceback and result.grader_traceback:
        parts.append("Grader traceback:\n" + result.grader_traceback.rstrip())
    return "\n\n".join(parts)
