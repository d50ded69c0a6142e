"""Pictures of a grading's own evidence: one more renderer of the result model.

Each picture reads only what its checks stored in their results (never a second source
of truth), draws what was actually seen whatever the verdict, and says why when it
cannot be drawn (its check was skipped, could not run, or is hidden)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...results import GradeReport
from .clients import draw_clients
from .evidence import Absent, Seen
from .lifecycle import draw_lifecycle, draw_restart
from .server import draw_burst, draw_listen, draw_same_ip

Drawing = Callable[[Seen], tuple[str, list[str]]]


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    concepts: tuple[str, ...]  # the ideas it shows; drawn under the first of them
    checks: tuple[str, ...]  # whose evidence it reads, the main one first
    draw: Drawing


FIGURES: tuple[Figure, ...] = (
    Figure("one-port", "One port, many connections at once", ("Q1", "Q3"),
           ("server-concurrency", "server-starts", "server-one-port"), draw_listen),
    Figure("same-ip", "Many connections from one IP", ("Q1", "Q4"), ("server-same-ip",),
           draw_same_ip),
    Figure("who-closes", "Who closes first", ("Q2",), ("server-lifecycle",), draw_lifecycle),
    Figure("restart", "Stopped and started again", ("Q2",), ("server-restart",),
           draw_restart),
    Figure("client-ports", "Your client's copies and their ports", ("Q4", "Q5"),
           ("client-ephemeral-ports", "client-reply-routing"), draw_clients),
    Figure("burst", "A burst meets the accept queue", ("backlog",), ("server-burst",),
           draw_burst),
)


@dataclass(frozen=True)
class Picture:
    figure: Figure
    svg: str = ""  # inline SVG, every text in it escaped; "" when absent
    notes: tuple[str, ...] = ()  # totals and facts written under it (plain text)
    absent: str = ""  # why it could not be drawn

    @property
    def key(self) -> str:
        return self.figure.key


def pictures(report: GradeReport) -> list[Picture]:
    """The pictures a student's view of a report (results.student_view) has evidence for,
    in the order of FIGURES. A picture whose checks are not in the report at all is left
    out; one whose main check is hidden, skipped or broken says so instead of being
    drawn."""
    seen = Seen(report)
    found = []
    for figure in FIGURES:
        if not any(seen.result(c) or seen.is_hidden(c) for c in figure.checks):
            continue
        main = figure.checks[0]
        if seen.is_hidden(main):
            found.append(Picture(figure, absent=seen.why_absent(main)))
            continue
        try:
            svg, notes = figure.draw(seen)
        except Absent as missing:
            found.append(Picture(figure, absent=str(missing)))
            continue
        notes += [f"Not drawn: what {c} found ({seen.hidden_words(c)})."
                  for c in figure.checks[1:] if seen.is_hidden(c)]
        found.append(Picture(figure, svg, tuple(notes)))
    return found


__all__ = ["FIGURES", "Figure", "Picture", "pictures"]
