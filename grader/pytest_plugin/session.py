"""One pytest session's grading: its items, when its pod goes, its score and exit status.

- `-k`, `-m`, `--deselect`: a deselected check is graded all the same (a check may need
  another's verdict or evidence, and the score is the whole plan's); only its item is
  not reported. With checks deselected, --grade-fail-under is not applied: the exit
  status is pytest's (1 when a reported item failed). Deselected instructor tests do
  not run. The grading starts at the first item that needs it: when no check and no
  test that needs the pod is selected, nothing is graded.
- `-x`, `--maxfail`: pytest stops after the failed item; the grading is cancelled there
  (a running check is interrupted), its pod torn down, and no score is given. Exit 1.
- Ctrl-C: the grading is cancelled and its pod torn down before pytest exits (status 2).
- Otherwise the exit status is `grade`'s: 0 when the score reaches --grade-fail-under
  (default 100) and no other test of the session failed, else 1. So with
  `--grade-fail-under 80` a session whose failed checks still leave 85 % is green, and a
  failed instructor test (which carries no points) makes it red.

The pod is torn down right after the last item that needs it, not at the session's end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..report.common import number, total_parts
from ..results import GradeReport, student_view
from .background import BackgroundGrading
from .items import POINTS_PER_TESTCASE, CheckItem, make_items

# The fixtures that need the pod (fixtures.py): their tests keep it up.
POD_FIXTURES = frozenset({"check_context", "pod", "probe", "check_results"})


class GradingSession:
    """Registered as a plugin by pytest_configure when --grade is given."""

    def __init__(self, config: pytest.Config, grading: BackgroundGrading, fail_under: float,
                 notice: str | None) -> None:
        self.config = config
        self.grading = grading
        self.fail_under = fail_under
        self.notice = notice
        self.check_ids: set[str] = set()  # node ids of the plan's items
        self.selected = 0  # check items left after -k and friends
        self.last_user: str | None = None  # node id of the last item that needs the pod
        self.other_failures: set[str] = set()  # failed items that are not checks
        self.stopped = ""  # why the session stopped early (-x, Ctrl-C), when it did
        self.verdict = ""  # the terminal summary's last line
        # Per-testcase properties are not part of JUnit's xunit2 family (pytest's
        # default, and what CI readers validate): there, the points go to the suite.
        config.stash[POINTS_PER_TESTCASE] = (not config.option.xmlpath
                                             or config.getini("junit_family") != "xunit2")

    def pytest_report_header(self) -> list[str]:
        grading = self.grading
        lines = [f"socket-grader: {grading.assignment.name} · {grading.submission.path} · "
                 f"{grading.backend.describe()}"]
        return [*lines, f"socket-grader: notice: {self.notice}"] if self.notice else lines

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session,
                                      items: list[pytest.Item]) -> None:
        """The plan's checks first, before -k and the other deselections see the items."""
        made = make_items(session, self.grading.assignment.checks,
                          self.grading.assignment.name, self.grading)
        self.check_ids = {item.nodeid for item in made}
        items[:0] = made
        # As pytest's own collection would: counted in "collected N items", announced.
        session.ihook.pytest_collectreport(report=pytest.CollectReport(
            self.grading.assignment.name, "passed", None, made))
        for item in made:
            session.ihook.pytest_itemcollected(item=item)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = sum(isinstance(item, CheckItem) for item in session.items)
        users = [item.nodeid for item in session.items
                 if isinstance(item, CheckItem)
                 or POD_FIXTURES & set(getattr(item, "fixturenames", ()))]
        self.last_user = users[-1] if users else None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and report.nodeid not in self.check_ids:
            self.other_failures.add(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        """After the last item that needs the pod, let the grading tear it down."""
        if item.nodeid == self.last_user:
            self.grading.finish()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.INTERRUPTED and not session.shouldfail:
            self.stopped = "interrupted"
        elif session.shouldfail or session.shouldstop:
            self.stopped = str(session.shouldfail or session.shouldstop)
        if self.stopped:
            self.grading.cancel()  # a grading already over is left as it is
            return
        try:
            report = self.grading.finish()
        except KeyboardInterrupt:  # during the teardown wait: done by now, say so
            self.stopped = "interrupted"
            session.exitstatus = pytest.ExitCode.INTERRUPTED
            return
        if report is None:
            return
        report = student_view(report)  # what a student may see decides, as for `grade`
        self._junit_properties(report)
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        planned = len(self.grading.assignment.checks)
        if self.selected < planned:
            self.verdict = (f"{planned - self.selected} of {planned} checks deselected "
                            "(graded all the same): --grade-fail-under not applied, the "
                            "exit status is pytest's")
            return
        reached = report.percent >= self.fail_under
        self.verdict = (f"--grade-fail-under {number(self.fail_under)}: "
                        f"{'reached' if reached else 'not reached'}")
        if self.other_failures:
            self.verdict += f"; {len(self.other_failures)} other test(s) failed"
        ok = reached and not self.other_failures
        session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED

    def _junit_properties(self, report: GradeReport) -> None:
        """The score as the JUnit suite's properties, as `grade --junit` writes them (and
        each check's points there too, when the family has no per-testcase ones)."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover (a pytest without it: no properties)
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        for name, value in (("assignment", report.assignment),
                            ("submission", report.submission), ("backend", report.backend),
                            ("score", number(report.score)),
                            ("max_score", number(report.max_score)),
                            ("percent", f"{report.percent:.1f}")):
            xml.add_global_property(name, value)
        if not self.config.stash[POINTS_PER_TESTCASE]:
            for result in report.checks:
                xml.add_global_property(f"points.{result.id}", f"{number(result.points)}/"
                                        f"{number(result.max_points)}")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        title = f"socket-grader: {self.grading.assignment.name}"
        if not self.grading.started:
            terminalreporter.write_sep("=", f"{title}: not graded (nothing needed it)")
            return
        report = self.grading.report
        if report is None:
            why = (f"stopped ({self.stopped}): no score; its pod was torn down"
                   if self.stopped else
                   f"the grading did not finish: {self.grading.why_ended()}")
            terminalreporter.write_sep("=", f"{title}: {why}", yellow=bool(self.stopped),
                                       red=not self.stopped)
            return
        report = student_view(report)
        if self.stopped:
            self.verdict = (f"the session stopped early ({self.stopped}) after the grading "
                            "had ended: the exit status is pytest's")
        good = report.percent >= self.fail_under
        terminalreporter.write_sep("=", f"{title}: {' · '.join(total_parts(report))}",
                                   green=good, red=not good, bold=True)
        for notice in report.notices:
            terminalreporter.write_line(f"notice: {notice}")
        if self.verdict:
            terminalreporter.write_line(self.verdict)
        self._github_actions(terminalreporter, report)

    @staticmethod
    def _github_actions(terminalreporter: pytest.TerminalReporter,
                        report: GradeReport) -> None:
        """As `grade` does on GitHub: the Markdown report on the run's summary page, an
        annotation per check that lost points."""
        from ..report import github, markdown

        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with Path(summary).open("a", encoding="utf-8") as stream:
                stream.write(markdown.render(report))
        if os.environ.get("GITHUB_ACTIONS"):
            terminalreporter.write(github.annotations(report))

    def pytest_unconfigure(self) -> None:
        """A session that ended another way: never leave a pod behind."""
        if self.grading.started and self.grading.report is None:
            self.grading.cancel()
