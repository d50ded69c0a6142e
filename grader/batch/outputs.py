"""The class-wide outputs, made again from every stored result at the end of each run:

- grades.csv: one row per student (student, status, score, max_score, the points of each
  check in the assignment's order, reason); a text cell that a spreadsheet would run as a
  formula (a student id from a folder named `=cmd|...`) starts with an apostrophe;
- summary.json: counts, per quiz concept the share of students who showed it, the most
  common failing checks, the distribution of scores;
- report.html: the same as a page that needs nothing but itself (inline SVG charts, no
  scripts, no network; a Content-Security-Policy lets nothing else load or run), every
  text escaped, with the sections other steps of the batch add (what a regrade changed,
  similar submissions) before the list of students.
"""

from __future__ import annotations

import csv
import html
import io
import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..inert import inert
from ..loading.assignment import Assignment
from ..report.common import csv_text, security_policy
from ..results import ConceptStatus, Status
from .records import FEEDBACK, FEEDBACK_PAGE, StudentResult, write_atomically

BINS = 10  # score histogram: 0-10 %, ..., 90-100 % (100 % in the last bin)
TOP_FAILING = 10


@dataclass(frozen=True)
class PageSection:
    """A section another step of the batch adds to report.html: escaped HTML, and the
    CSS it needs beside the page's own."""

    html: str
    style: str = ""


def write_all(results_dir: Path, assignment: Assignment, results: list[StudentResult],
              sections: Sequence[PageSection] = ()) -> None:
    summary = summarize(assignment, results)
    write_atomically(results_dir / "grades.csv", gradebook(assignment, results))
    write_atomically(results_dir / "summary.json",
                     json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    write_atomically(results_dir / "report.html",
                     class_report(assignment, summary, results, sections))


def check_ids(assignment: Assignment, results: list[StudentResult]) -> list[str]:
    """The assignment's checks in its order, then any others a stored report has."""
    ids = [planned.check.id for planned in assignment.checks]
    for result in results:
        if result.report is not None:
            ids += [c.id for c in result.report.checks if c.id not in ids]
    return ids


def gradebook(assignment: Assignment, results: list[StudentResult]) -> str:
    ids = check_ids(assignment, results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "status", "score", "max_score", *ids, "reason"])
    for result in results:
        report = result.report
        if report is None:
            writer.writerow([csv_text(result.student), result.status, "", "",
                             *[""] * len(ids), csv_text(result.reason)])
            continue
        points = {c.id: _number(c.points) for c in report.checks}
        writer.writerow([csv_text(result.student), result.status, _number(report.score),
                         _number(report.max_score), *[points.get(i, "") for i in ids],
                         csv_text(result.reason)])
    return out.getvalue()


def _shown(text: str) -> str:
    """Text in the page, escaped, its control characters made visible."""
    return html.escape(inert(text))


def summarize(assignment: Assignment, results: list[StudentResult]) -> dict:
    reports = [r.report for r in results if r.report is not None]
    statuses = Counter(r.status for r in results)
    concepts = {}
    for item in assignment.concepts:
        counts = Counter(str(c.status) for report in reports for c in report.concepts
                         if c.id == item.id)
        shown = counts.get(str(ConceptStatus.SHOWN), 0)
        concepts[item.id] = {
            "title": item.title,
            "shown": shown,
            "partly_shown": counts.get(str(ConceptStatus.PARTLY_SHOWN), 0),
            "not_shown": counts.get(str(ConceptStatus.NOT_SHOWN), 0),
            "not_tested": counts.get(str(ConceptStatus.NOT_TESTED), 0),
            "share_shown": round(shown / len(reports), 4) if reports else None,
        }
    titles = {p.check.id: p.check.title for p in assignment.checks}
    failing: Counter[str] = Counter()
    grader_errors: Counter[str] = Counter()
    for report in reports:
        for check in report.checks:
            titles.setdefault(check.id, check.title)
            if check.status in (Status.FAIL, Status.PARTIAL, Status.INCONCLUSIVE):
                failing[check.id] += 1
            elif check.status is Status.ERROR:
                grader_errors[check.id] += 1
    order = {check_id: i for i, check_id in enumerate(check_ids(assignment, results))}
    percents = [report.percent for report in reports]
    return {
        "assignment": assignment.name,
        "students": len(results),
        "counts": {status: statuses.get(status, 0) for status in ("graded", "error",
                                                                  "pending")},
        "concepts": concepts,
        "failing_checks": [
            {"id": check_id, "title": titles[check_id], "students": count}
            for check_id, count in sorted(failing.items(),
                                          key=lambda item: (-item[1], order[item[0]]))
        ][:TOP_FAILING],
        "grader_errors": dict(sorted(grader_errors.items())),
        "errors": [{"student": r.student, "reason": r.reason} for r in results
                   if r.status == "error"],
        "scores": {
            "max_score": max((r.max_score for r in reports), default=None),
            "mean_percent": round(statistics.fmean(percents), 2) if percents else None,
            "median_percent": round(statistics.median(percents), 2) if percents else None,
            "min_percent": round(min(percents), 2) if percents else None,
            "max_percent": round(max(percents), 2) if percents else None,
            "histogram": _histogram(percents),
        },
    }


def _histogram(percents: list[float]) -> list[dict]:
    width = 100 // BINS
    counts = [0] * BINS
    for percent in percents:
        counts[min(BINS - 1, max(0, int(percent // width)))] += 1
    return [{"from": i * width, "to": (i + 1) * width, "students": n}
            for i, n in enumerate(counts)]


def _number(value: float) -> str:
    return f"{value:g}"


# --- report.html -------------------------------------------------------------------------

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2430; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; font-size: 1.2rem; }
.muted { color: #5b6472; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #d6dae0; border-radius: 6px; padding: .6rem 1rem; min-width: 8rem; }
.card b { display: block; font-size: 1.5rem; }
.charts { display: flex; gap: 2rem; flex-wrap: wrap; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { text-align: left; padding: .25rem .7rem; border-bottom: 1px solid #e3e6ea; }
td.num, th.num { text-align: right; }
.error { color: #a3222b; }
"""


def class_report(assignment: Assignment, summary: dict, results: list[StudentResult],
                 sections: Sequence[PageSection] = ()) -> str:
    e = _shown
    counts = summary["counts"]
    scores = summary["scores"]
    mean = "–" if scores["mean_percent"] is None else f"{scores['mean_percent']:.0f} %"
    median = "–" if scores["median_percent"] is None else f"{scores['median_percent']:.0f} %"
    cards = "".join(f'<div class="card"><b>{e(str(value))}</b>{e(label)}</div>' for label, value
                    in (("students", summary["students"]), ("graded", counts["graded"]),
                        ("errors", counts["error"]), ("pending", counts["pending"]),
                        ("mean score", mean), ("median score", median)))
    failing = "".join(
        f"<tr><td><code>{e(item['id'])}</code></td><td>{e(item['title'])}</td>"
        f'<td class="num">{item["students"]}</td></tr>' for item in summary["failing_checks"])
    failing_table = (f"<table><tr><th>check</th><th>title</th><th class=num>students</th>"
                     f"</tr>{failing}</table>" if failing
                     else '<p class="muted">No check failed.</p>')
    rows = "".join(_student_row(result) for result in results)
    style = _STYLE + "".join(dict.fromkeys(section.style for section in sections))
    added = "".join(section.html for section in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{security_policy(style)}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(assignment.title)}: class report</title>
<style>{style}</style>
</head>
<body>
<h1>{e(assignment.title)}</h1>
<p class="muted">Class report of assignment <code>{e(assignment.name)}</code>: which ideas
of the ports quiz the class's code has shown.</p>
<div class="cards">{cards}</div>
<div class="charts">
<section><h2>Quiz concepts shown</h2>{_concept_chart(summary["concepts"])}</section>
<section><h2>Score distribution</h2>{_histogram_chart(scores["histogram"])}</section>
</div>
<h2>Most common failing checks</h2>
{failing_table}
{added}<h2>Students</h2>
<table>
<tr><th>student</th><th>status</th><th class="num">score</th><th>feedback / reason</th></tr>
{rows}
</table>
</body>
</html>
"""


def _student_row(result: StudentResult) -> str:
    e = _shown
    report = result.report
    score = f"{_number(report.score)}/{_number(report.max_score)}" if report else ""
    folder = f"students/{quote(result.student)}"
    link = (f'<a href="{e(folder)}/{FEEDBACK_PAGE}">{FEEDBACK_PAGE}</a> · '
            f'<a href="{e(folder)}/{FEEDBACK}">{FEEDBACK}</a>' if report else "")
    reason = f' <span class="error">{e(result.reason)}</span>' if result.reason else ""
    return (f"<tr><td>{e(result.student)}</td><td>{e(result.status)}</td>"
            f'<td class="num">{e(score)}</td><td>{link}{reason}</td></tr>\n')


def _concept_chart(concepts: dict) -> str:
    """Horizontal bars: the share of graded students who showed each concept."""
    e = _shown
    width, bar_width, row = 520, 440, 46
    height = row * len(concepts) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="share of students who showed each quiz concept">']
    for index, (concept_id, item) in enumerate(concepts.items()):
        y = 6 + index * row
        share = item["share_shown"] or 0.0
        parts.append(f'<text x="0" y="{y + 13}" font-size="13"><tspan font-weight="bold">'
                     f'{e(concept_id)}</tspan> {e(item["title"])}</text>')
        parts.append(f'<rect x="0" y="{y + 18}" width="{bar_width}" height="18" '
                     f'fill="#eceff3"/>')
        parts.append(f'<rect x="0" y="{y + 18}" width="{bar_width * share:.1f}" '
                     f'height="18" fill="#2f7d4f"/>')
        text = "–" if item["share_shown"] is None else f"{100 * share:.0f} %"
        parts.append(f'<text x="{bar_width + 8}" y="{y + 32}" font-size="13">'
                     f"{e(text)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _histogram_chart(histogram: list[dict]) -> str:
    """Vertical bars: how many students scored in each tenth of the maximum."""
    width, height, left, bottom, top = 460, 260, 36, 36, 14
    plot_height = height - bottom - top
    slot = (width - left - 6) / len(histogram)
    peak = max((b["students"] for b in histogram), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="number of students per score range">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" '
             f'y2="{height - bottom}" stroke="#5b6472"/>']
    for index, item in enumerate(histogram):
        bar = plot_height * item["students"] / peak
        x = left + index * slot + 3
        y = height - bottom - bar
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - 6:.1f}" '
                     f'height="{bar:.1f}" fill="#3b6fb6"><title>{item["from"]}–{item["to"]} %: '
                     f'{item["students"]} students</title></rect>')
        if item["students"]:
            parts.append(f'<text x="{x + (slot - 6) / 2:.1f}" y="{y - 3:.1f}" font-size="12" '
                         f'text-anchor="middle">{item["students"]}</text>')
        parts.append(f'<text x="{x + (slot - 6) / 2:.1f}" y="{height - bottom + 15}" '
                     f'font-size="11" text-anchor="middle">{item["from"]}</text>')
    parts.append(f'<text x="{(width + left) / 2:.0f}" y="{height - 4}" font-size="12" '
                 'text-anchor="middle">score (% of maximum)</text>')
    parts.append("</svg>")
    return "".join(parts)
