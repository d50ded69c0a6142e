"""How a batch shows its progress: a live bar on a terminal, plain lines elsewhere.

Both are BatchProgress listeners the command line picks; the batch itself never prints.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..inert import inert
from .records import StudentResult

LATEST_FAILURES = 5


def outcome_line(result: StudentResult, where: str = "") -> str:
    """'alice 85/100 (2 failed)', 'bob error: no server found ...'; on a cluster, the
    worker that graded it: 'alice 85/100 (2 failed) [on lab-3-1234]'."""
    report, student = result.report, inert(result.student)
    on = f" [on {inert(where)}]" if where else ""
    if report is None:
        return f"{student} error: {inert(result.error)}{on}"
    line = f"{student} {report.score:g}/{report.max_score:g}"
    if result.not_passed:
        line += f" ({result.not_passed} failed)"
    if result.reason:
        line += f" error: {inert(result.reason)}"
    return line + on


class PlainProgress:
    """One line per finished student: '[3/40] alice 85/100 (2 failed)'."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0
        self.started = time.monotonic()

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def begin(self, to_grade: list[str], skipped: list[str]) -> None:
        self.total = len(to_grade)
        self.started = time.monotonic()
        note = (f" ({len(skipped)} already complete, skipped; --force grades them again)"
                if skipped else "")
        self._say(f"grading {self.total} student{'s' if self.total != 1 else ''}{note}")

    def student_started(self, student: str) -> None:
        pass

    def student_finished(self, result: StudentResult, where: str = "") -> None:
        self.done += 1
        self._say(f"[{self.done}/{self.total}] {outcome_line(result, where)}")

    def end(self) -> None:
        pass


class RichProgress:
    """A bar with counts, elapsed time and ETA, and the latest failures under it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[errors]} errors"), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self.failures: deque[str] = deque(maxlen=LATEST_FAILURES)
        self.running: list[str] = []
        self.errors = 0
        self.task = self.bar.add_task("grading", total=0, errors=0)
        self.live = Live(self._view(), console=console, refresh_per_second=4, transient=False)

    def _view(self) -> Group:
        lines = []
        if self.running:
            lines.append(Text(f"  now: {', '.join(map(inert, self.running[:6]))}"
                              + (" ..." if len(self.running) > 6 else ""), style="dim",
                              no_wrap=True, overflow="ellipsis"))
        if self.failures:
            lines.append(Text("latest failures:", style="bold"))
            lines += [Text(f"  {line}", style="red", no_wrap=True, overflow="ellipsis")
                      for line in self.failures]
        return Group(self.bar, *lines)

    def begin(self, to_grade: list[str], skipped: list[str]) -> None:
        if skipped:
            self.console.print(f"{len(skipped)} students already complete, skipped "
                               "(--force grades them again)")
        self.bar.update(self.task, total=len(to_grade))
        self.live.start()

    def student_started(self, student: str) -> None:
        self.running.append(student)
        self.live.update(self._view())

    def student_finished(self, result: StudentResult, where: str = "") -> None:
        if result.student in self.running:
            self.running.remove(result.student)
        if result.status == "error":
            self.errors += 1
        if result.status == "error" or result.not_passed:
            self.failures.append(outcome_line(result, where))
        self.bar.update(self.task, advance=1, errors=self.errors)
        self.live.update(self._view())

    def end(self) -> None:
        self.running.clear()
        self.live.update(self._view())
        self.live.stop()
