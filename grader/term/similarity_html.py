"""The "Similar submissions" section of the class report (report.html): the listed
pairs in a table, then each pair's shared passages side by side. A fragment of HTML
that needs nothing but the page's <style> (SIMILARITY_STYLE): no scripts, no network,
every text escaped. It says what it is: evidence for the instructor, never a verdict.
"""

from __future__ import annotations

import html

from .similarity import Passage, SimilarityReport

PAIRS_SHOWN = 50  # pairs with their passages on the page; similarity.csv has them all
PASSAGES_SHOWN = 12  # per student of a pair
LINES_SHOWN = 40  # per passage

SIMILARITY_STYLE = """
.similar-pair { margin: .6rem 0; border: 1px solid #d6dae0; border-radius: 6px;
                padding: .4rem .8rem; }
.similar-pair summary { cursor: pointer; }
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.side-by-side > div { min-width: 0; }
.side-by-side h3 { font-size: 1rem; margin: .6rem 0 .2rem; }
.passage { font-size: 12px; color: #5b6472; margin-top: .5rem; }
.side-by-side pre { background: #f6f8fa; border: 1px solid #e3e6ea; margin: .2rem 0;
                    padding: .3rem .5rem; overflow-x: auto; font-size: 12px; }
"""


def similarity_section(report: SimilarityReport, *, limit: int = PAIRS_SHOWN) -> str:
    """The section for report.html; `limit` pairs get their passages on the page."""
    e = html.escape
    percent = f"{100 * report.threshold:.0f} %"
    intro = (
        '<p class="muted">Pairs of submissions whose code shares long passages, found '
        "with copydetect's winnowing fingerprints (the method of MOSS): names, comments "
        "and layout do not count, and code from the handout's starter files is left out. "
        "A student's share is the part of their code also found in the other's; a pair "
        f"is listed when either share reaches {e(percent)}. This is evidence to look at, "
        "not a verdict: students may share code legitimately, and no score depends on "
        "it.</p>")
    if not report.pairs:
        body = (f'<p class="muted">No pair of the {report.students} submissions compared '
                f"reaches {e(percent)}.</p>")
    else:
        rows = "".join(
            f"<tr><td>{_link(index, pair.first, limit)}</td><td>{e(pair.second)}</td>"
            f'<td class="num">{pair.first_share:.0%}</td>'
            f'<td class="num">{pair.second_share:.0%}</td>'
            f'<td class="num">{pair.first_lines} / {pair.second_lines}</td></tr>\n'
            for index, pair in enumerate(report.pairs, start=1))
        body = ("<table><tr><th>student</th><th>and student</th><th class=num>share of the "
                "first</th><th class=num>share of the second</th><th class=num>shared "
                f"lines</th></tr>\n{rows}</table>\n")
        body += "".join(_pair(index, pair.first, pair.second, pair.first_share,
                              pair.second_share, pair.first_passages, pair.second_passages)
                        for index, pair in enumerate(report.pairs[:limit], start=1))
        if len(report.pairs) > limit:
            body += (f'<p class="muted">The passages of the other {len(report.pairs) - limit}'
                     " pairs are not shown here; similarity.csv lists every pair.</p>")
    if report.skipped:
        body += ('<p class="muted">Not compared: '
                 + "; ".join(e(item) for item in report.skipped[:20])
                 + (f" and {len(report.skipped) - 20} more" if len(report.skipped) > 20
                    else "") + ".</p>")
    return (f'<section id="similar-submissions">\n<h2>Similar submissions</h2>\n{intro}\n'
            f"{body}</section>\n")


def _link(index: int, student: str, limit: int) -> str:
    """The pair's first student, linking to its passages when the page shows them."""
    text = html.escape(student)
    return f'<a href="#similar-{index}">{text}</a>' if index <= limit else text


def _pair(index: int, first: str, second: str, first_share: float, second_share: float,
          first_passages: tuple[Passage, ...], second_passages: tuple[Passage, ...]) -> str:
    e = html.escape
    opened = " open" if index == 1 else ""  # the most similar pair, unfolded
    return (f'<details class="similar-pair" id="similar-{index}"{opened}><summary>'
            f"<b>{e(first)}</b> and <b>{e(second)}</b>: {first_share:.0%} and "
            f"{second_share:.0%} of their code shared</summary>\n"
            f'<div class="side-by-side">\n{_side(first, first_passages)}'
            f"{_side(second, second_passages)}</div></details>\n")


def _side(student: str, passages: tuple[Passage, ...]) -> str:
    e = html.escape
    parts = [f"<div><h3>{e(student)}</h3>"]
    for passage in passages[:PASSAGES_SHOWN]:
        lines = passage.text.split("\n")
        width = len(str(passage.last_line))
        shown = "\n".join(f"{passage.first_line + i:>{width}}  {line}"
                          for i, line in enumerate(lines[:LINES_SHOWN]))
        more = (f"\n… {len(lines) - LINES_SHOWN} more lines" if len(lines) > LINES_SHOWN
                else "")
        where = (f"line {passage.first_line}" if passage.lines == 1
                 else f"lines {passage.first_line}–{passage.last_line}")
        parts.append(f'<div class="passage">{e(passage.file)}, {where}</div>'
                     f"<pre>{e(shown + more)}</pre>")
    if len(passages) > PASSAGES_SHOWN:
        parts.append(f'<p class="muted">and {len(passages) - PASSAGES_SHOWN} more '
                     "passages</p>")
    parts.append("</div>\n")
    return "".join(parts)
