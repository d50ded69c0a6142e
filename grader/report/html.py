"""The report as one page (`grade --html FILE`; `feedback.html` per student in a batch).

One self-contained file: inline CSS and SVG, no script, no network, and a
Content-Security-Policy that lets nothing else load or run. For each idea of the
assignment's catalogue, its verdict and the pictures drawn from this grading's own
evidence (grader/report/pictures/); then the table of checks and, for each check that did
not pass, its details and next step, as the terminal report gives them. Every text from
the result model (and so from a student's program: output, paths, ids) is escaped.

It is the student's view (results.student_view): a check whose `visibility` is "hidden",
or "after_due_date" or "after_published" while grades are not published, keeps its id,
title and points at stake on the page; its verdict, evidence, summary, details and hint
(and the pictures drawn from its evidence) are left out, and the score counts only the
checks shown.
"""

from __future__ import annotations

from ..concepts import BY_ID
from ..results import CheckResult, ConceptStatus, GradeReport, Status, Withheld, student_view
from .common import GRADER_ERROR_NOTE, number, points, security_policy, total_parts, withheld_text
from .pictures import Picture, pictures
from .pictures.svg import clean
from .terminal import header

STATUS_WORDS = {Status.PASS: "pass", Status.PARTIAL: "partial", Status.FAIL: "fail",
                Status.ERROR: "grader error", Status.INCONCLUSIVE: "inconclusive",
                Status.SKIPPED: "skipped"}
CONCEPT_MARKS = {ConceptStatus.SHOWN: "✓", ConceptStatus.PARTLY_SHOWN: "◐",
                 ConceptStatus.NOT_SHOWN: "✗", ConceptStatus.NOT_TESTED: "–"}

_STYLE = """
:root { color: #1d2430; background: #fff; }
body { font: 15px/1.5 system-ui, "DejaVu Sans", sans-serif; margin: 0 auto; max-width: 860px;
       padding: 0 12px 2rem; }
h1 { font-size: 1.5rem; margin: 1rem 0 .2rem; } h2 { font-size: 1.2rem; margin: 0 0 .3rem; }
h3 { font-size: 1.02rem; margin: 1rem 0 .3rem; }
.muted, .question { color: #5b6472; } .question { font-style: italic; margin: 0 0 .4rem; }
.total { font-size: 1.1rem; font-weight: bold; }
.glance { display: flex; flex-wrap: wrap; gap: .4rem; padding: 0; list-style: none; }
.glance a, .verdict { border: 1px solid #5b6472; border-radius: 4px; padding: .05rem .5rem;
       text-decoration: none; color: inherit; white-space: nowrap; display: inline-block; }
.c-shown { border-color: #2f7d4f; background: #dcefe3; }
.c-partly-shown { border-style: dashed; border-color: #9a6700; background: #fff4d6; }
.c-not-shown { border: 2px solid #b3261e; background: #f8dcd9; }
.c-not-tested { border-style: dotted; }
section.idea { border-top: 2px solid #d6dae0; margin-top: 1.6rem; padding-top: .8rem; }
figure { margin: .8rem 0; padding: .6rem; border: 1px solid #d6dae0; border-radius: 6px; }
figcaption { font-weight: bold; margin-bottom: .3rem; }
figure .from { font-weight: normal; color: #5b6472; font-size: .9rem; }
svg.picture { width: 100%; max-width: 560px; height: auto; display: block; }
figure ul { margin: .4rem 0 0; padding-left: 1.2rem; font-size: .93rem; }
.absent { border-style: dashed; color: #5b6472; }
.badge { font: bold .78rem/1.6 "DejaVu Sans Mono", monospace; text-transform: uppercase;
         border: 1px solid; border-radius: 3px; padding: 0 .3rem; white-space: nowrap; }
.s-pass { color: #2f7d4f; } .s-partial { color: #9a6700; border-style: dashed; }
.s-fail { color: #b3261e; border-width: 2px; } .s-grader-error { color: #7b2d8b; }
.s-inconclusive, .s-skipped, .s-hidden { color: #5b6472; border-style: dotted; }
ul.checks { padding-left: 0; list-style: none; } ul.checks li { margin: .25rem 0; }
.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .93rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem;
         border-bottom: 1px solid #e3e6ea; }
td.num { text-align: right; white-space: nowrap; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: .88rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f4f6f8; padding: .4rem .6rem;
      border-radius: 4px; margin: .3rem 0; }
.detail p, .summary, td.what { overflow-wrap: anywhere; }
details.detail { margin: .3rem 0; } details.detail summary { cursor: pointer; }
.hint { border-left: 4px solid #3b6fb6; padding-left: .6rem; }
.notice { border-left: 4px solid #9a6700; padding-left: .6rem; }
@media (max-width: 600px) {
  body { padding: 0 6px 2rem; font-size: 14px; }
  figure { padding: .25rem; margin: .6rem -2px; }
  th, td { padding: .25rem .3rem; }
}
"""


def render(report: GradeReport, *, published: bool = False) -> str:
    """The whole page. `published`: grades are published, so checks visible only after
    the due date or after publication are shown too."""
    shown = student_view(report, published)
    drawn = pictures(shown)
    body = [_head(shown)]
    placed: dict[str, str] = {}  # picture key -> the concept it is drawn under
    ids = [item.id for item in shown.catalogue]
    for item in shown.concepts:
        mine = [p for p in drawn if item.id in p.figure.concepts]
        body.append(_idea(shown, item.id, mine, placed))
    loose = [p for p in drawn if not set(p.figure.concepts) & set(ids)]
    if loose:
        body.append('<section class="idea"><h2>More pictures</h2>'
                    + "".join(_figure(shown, p) for p in loose) + "</section>")
    body.append(_table(shown))
    body.append(_details(shown))
    body.append(f'<p class="total">{clean(" · ".join(total_parts(shown)))}</p>')
    title = f"{report.assignment}: {number(shown.score)}/{number(shown.max_score)}"
    return _page(title, "\n".join(body))


def error_page(title: str, reason: str) -> str:
    """A page for a submission that could not be graded, saying why."""
    return _page(title, f"<h1>{clean(title)}</h1>\n<p>Reason: {clean(reason)}</p>")


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"{security_policy(_STYLE)}\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{clean(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + body + "\n</body>\n</html>\n")


def _head(report: GradeReport) -> str:
    score = f"{number(report.score)}/{number(report.max_score)}"
    where = header(report.assignment, report.submission, report.backend)
    parts = [f"<h1>{clean(report.assignment)}: {clean(score)}</h1>",
             f'<p class="muted">{clean(where)}</p>']
    hidden = len(report.withheld)
    if hidden:
        parts.append(f'<p class="notice">{hidden} check{"s are" if hidden > 1 else " is"} '
                     "hidden: not in this score.</p>")
    parts += [f'<p class="notice">{clean(notice)}</p>' for notice in report.notices]
    for build in report.builds:
        if not build.ok:
            how = ("did not finish in time" if build.exit_code is None
                   else f"failed with status {build.exit_code}")
            parts.append(f'<p class="notice">Building the {clean(build.role)}: '
                         f"<code>{clean(build.command)}</code> {how}</p>"
                         f"<pre>{clean(build.output.rstrip() or '(no output)')}</pre>")
    chips = "".join(
        f'<li><a class="{_concept_class(c.status)}" href="#idea-{clean(c.id)}">'
        f"{CONCEPT_MARKS[c.status]} {clean(c.id)} {clean(str(c.status))}</a></li>"
        for c in report.concepts)
    parts.append(f'<ul class="glance" aria-label="ideas at a glance">{chips}</ul>')
    return "\n".join(parts)


def _concept_class(status: ConceptStatus) -> str:
    return "c-" + str(status).replace(" ", "-")


def _badge(status: Status) -> str:
    word = STATUS_WORDS[status]
    return f'<span class="badge s-{word.replace(" ", "-")}">{word}</span>'


def _idea(report: GradeReport, concept_id: str, mine: list[Picture],
          placed: dict[str, str]) -> str:
    item = report.concept(concept_id)
    result = next(c for c in report.concepts if c.id == concept_id)
    see = (f" See: <code>grade concepts {clean(item.id)}</code>" if item.id in BY_ID else "")
    parts = [f'<section class="idea" id="idea-{clean(item.id)}">',
             f"<h2>{clean(item.id)} · {clean(item.title)} "
             f'<span class="verdict {_concept_class(result.status)}">'
             f"{CONCEPT_MARKS[result.status]} {clean(str(result.status))}</span></h2>",
             f'<p class="question">{clean(item.question)}</p>',
             f"<p><b>Why:</b> {clean(item.idea)}{see}</p>"]
    for picture in mine:
        if picture.key in placed:
            parts.append(f'<p class="muted">Picture: <a href="#fig-{picture.key}">'
                         f"{clean(picture.figure.title)}</a> (under "
                         f"{clean(placed[picture.key])}).</p>")
        else:
            placed[picture.key] = concept_id
            parts.append(_figure(report, picture))
    checks = [report.check(c) for c in result.checks]
    if checks:
        parts.append('<ul class="checks">' + "".join(_check_line(c) for c in checks) + "</ul>")
    else:
        parts.append('<p class="muted">No check of this grading shows this idea.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _figure(report: GradeReport, picture: Picture) -> str:
    statuses = []
    for check_id in picture.figure.checks:
        found = next((c for c in report.checks if c.id == check_id), None)
        if found is not None:
            statuses.append(f"{clean(check_id)} {_badge(found.status)}")
    source = f' <span class="from">from {", ".join(statuses)}</span>' if statuses else ""
    head = (f'<figure id="fig-{picture.key}"'
            + (' class="absent"' if picture.absent else "") + ">"
            f"<figcaption>{clean(picture.figure.title)}{source}</figcaption>")
    if picture.absent:
        return head + f"<p>No picture: {clean(picture.absent)}.</p></figure>"
    notes = "".join(f"<li>{clean(note)}</li>" for note in picture.notes)
    return head + picture.svg + (f"<ul>{notes}</ul>" if notes else "") + "</figure>"


def _check_line(result: CheckResult) -> str:
    return (f'<li>{_badge(result.status)} <a href="#{_anchor(result)}"><code>'
            f"{clean(result.id)}</code></a> {clean(points(result))}: "
            f'<span class="summary">{clean(result.summary)}</span></li>')


def _explained(result: CheckResult) -> bool:
    """Whether the check has a block under "Details and next steps"."""
    return result.status is not Status.PASS or bool(result.details)


def _anchor(result: CheckResult) -> str:
    return f"{'detail' if _explained(result) else 'check'}-{clean(result.id)}"


def _table(report: GradeReport) -> str:
    rows = []
    for result in report.checks:
        name = f"<code>{clean(result.id)}</code>"
        if _explained(result):
            name = f'<a href="#detail-{clean(result.id)}">{name}</a>'
        rows.append(f'<tr id="check-{clean(result.id)}"><td>{_badge(result.status)}</td>'
                    f"<td>{name}<br>{clean(result.title)}</td>"
                    f'<td class="num">{clean(points(result))}</td>'
                    f"<td>{clean(' '.join(result.concepts))}</td>"
                    f'<td class="what">{clean(result.summary)}</td></tr>')
    rows += [_withheld_row(item) for item in report.withheld]
    return ('<section class="idea"><h2>All checks</h2><div class="table"><table>'
            "<tr><th>verdict</th><th>check</th><th>points</th><th>quiz</th><th>what we saw"
            "</th></tr>" + "".join(rows) + "</table></div></section>")


def _withheld_row(item: Withheld) -> str:
    return (f'<tr id="check-{clean(item.id)}"><td><span class="badge s-hidden">hidden</span>'
            f"</td><td><code>{clean(item.id)}</code><br>{clean(item.title)}</td>"
            f'<td class="num">–/{clean(number(item.max_points))}</td><td></td>'
            f"<td>{clean(withheld_text(item))}</td></tr>")


def _details(report: GradeReport) -> str:
    """Each check that did not pass: what was tried and seen, and the next step; then what
    the passed checks tell of what they did, folded."""
    blocks, passed = [], []
    for result in report.checks:
        if not _explained(result):
            continue
        head = (f"{_badge(result.status)} <code>{clean(result.id)}</code> "
                f"{clean(result.title)} ({clean(points(result))})")
        body = [_detail(text) for text in result.details]
        if result.status is Status.PASS:
            passed.append(f'<details class="detail" id="detail-{clean(result.id)}"><summary>'
                          f"{head}</summary>{''.join(body)}</details>")
            continue
        parts = [f'<div class="detail" id="detail-{clean(result.id)}"><h3>{head}</h3>',
                 f'<p class="summary">{clean(result.summary)}</p>', *body]
        if result.status is Status.ERROR:
            parts.append(f"<p>{clean(GRADER_ERROR_NOTE)}</p>")
        if result.hint:
            parts.append(f'<p class="hint"><b>Next step:</b> {clean(result.hint)}</p>')
        blocks.append("\n".join(parts) + "</div>")
    if not blocks:
        blocks.append("<p>Every check passed: nothing to fix.</p>")
    if passed:
        blocks.append("<h3>What the passed checks did</h3>" + "\n".join(passed))
    return ('<section class="idea"><h2>Details and next steps</h2>'
            + "\n".join(blocks) + "</section>")


def _detail(text: str) -> str:
    """A detail paragraph; its lines indented by four spaces (four-tuples, what a program
    printed) are kept as they are, in a monospace block."""
    out, block = [], []
    for line in text.split("\n"):
        if line.startswith("    "):
            block.append(line[4:])
            continue
        if block:
            out.append(f"<pre>{clean(chr(10).join(block))}</pre>")
            block = []
        if line.strip():
            out.append(f"<p>{clean(line)}</p>")
    if block:
        out.append(f"<pre>{clean(chr(10).join(block))}</pre>")
    return "".join(out)
