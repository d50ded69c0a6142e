"""The pytest items of a grading: one per check of the assignment's plan, in plan order.

Node ids read `ASSIGNMENT::CONCEPT::CHECK` (`echo::Q2::server-restart`, `echo::other::
end-to-end`), the same grouping as `grade --junit`'s classnames, so `-k Q2` selects the
checks of a quiz idea and `-k server-restart` one check.

An item waits (in its setup) for its check's result from the one grading of the session,
then reports it the way pytest users expect:

    pass                passed
    fail, partial       failed: the student's feedback as the failure's text, no traceback
    skipped             skipped, with the reason
    inconclusive        skipped, "inconclusive: ..."
    error               ERROR (raised in setup): the grader's traceback, never the student's
    hidden              skipped, "hidden until the due date: N points": nothing of its result
                        (the student's view, results.student_view)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from ..report.common import OTHER, feedback_text, number, withheld_text
from ..results import CheckResult, Status, is_hidden, withhold

if TYPE_CHECKING:
    from ..loading.assignment import PlannedCheck
    from .background import BackgroundGrading


class CheckFailed(Exception):
    """A check the student's code failed (or partly passed): its feedback is the text."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.summary)
        self.result = result


@dataclass(frozen=True)
class Verdict:
    """What `reprcrash.message` is read for: the failure's one line (JUnit's message, the
    short test summary's), as `grade --junit` has it."""

    message: str


@dataclass(frozen=True)
class Feedback:
    """A failed check's report for pytest: the student's feedback (verdict, details, next
    step, evidence) and no traceback; shaped as pytest's own failure reports are read."""

    text: str
    reprcrash: Verdict

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class ConceptGroup(pytest.Collector):
    """The checks of one quiz concept (their first), like `grade --junit`'s classnames."""

    def collect(self) -> Iterator[pytest.Item]:  # items are made by the plugin, in order
        return iter(())


class AssignmentNode(pytest.Collector):
    """The assignment's plan: parent of its concept groups."""

    def collect(self) -> Iterator[pytest.Item]:
        return iter(())


class CheckItem(pytest.Item):
    """One check of the plan, reported from the session's one grading."""

    def __init__(self, *, planned: PlannedCheck, grading: BackgroundGrading,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.planned = planned
        self.grading = grading
        self.result: CheckResult | None = None
        self.obj = None  # no Python function behind it (plugins look, as for doctests)
        # -k Q3 selects server-concurrency (Q1 Q3) too, not only the checks filed under Q3.
        self.extra_keyword_matches.update(planned.check.concepts)

    @property
    def check_id(self) -> str:
        return self.planned.check.id

    def setup(self) -> None:
        from .background import GradingStopped

        try:
            result = self.grading.result(self.check_id)
        except GradingStopped as exc:  # the grading could not run: an ERROR, said plainly
            stopped = str(exc)
        else:
            stopped = ""
        if stopped:
            pytest.fail(stopped, pytrace=False)
        if is_hidden(result):
            pytest.skip(withheld_text(withhold(result)))
        self.result = result
        if self.config.stash.get(POINTS_PER_TESTCASE, True):
            self.user_properties.extend(points_properties(result))
        if result.status is Status.ERROR:
            # Raised in setup, so pytest reports an ERROR: the grader broke, not the code.
            pytest.fail(feedback_text(result, traceback=True), pytrace=False)

    def runtest(self) -> None:
        result = self.result
        assert result is not None
        if result.status in (Status.FAIL, Status.PARTIAL):
            raise CheckFailed(result)
        if result.status is Status.SKIPPED:
            pytest.skip(result.summary)
        if result.status is Status.INCONCLUSIVE:
            pytest.skip(f"inconclusive: {result.summary}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            result = excinfo.value.result
            return Feedback(feedback_text(result), Verdict(result.summary))
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        check = self.planned.check
        return self.path, None, f"{check.id}: {check.title}"


def points_properties(result: CheckResult) -> list[tuple[str, str]]:
    """What a check item records about its check: points, status, concepts."""
    return [("points", number(result.points)), ("max_points", number(result.max_points)),
            ("status", str(result.status)), ("concepts", " ".join(result.concepts))]


POINTS_PER_TESTCASE = pytest.StashKey[bool]()


def make_items(session: pytest.Session, plan: tuple[PlannedCheck, ...], assignment: str,
               grading: BackgroundGrading) -> list[CheckItem]:
    """The plan's items, in plan order, under ASSIGNMENT::CONCEPT nodes."""
    top = AssignmentNode.from_parent(session, name=assignment, nodeid=assignment,
                                     path=session.path)
    groups: dict[str, ConceptGroup] = {}
    items = []
    for planned in plan:
        concept = planned.check.concepts[0] if planned.check.concepts else OTHER
        if concept not in groups:
            groups[concept] = ConceptGroup.from_parent(top, name=concept)
        items.append(CheckItem.from_parent(groups[concept], name=planned.check.id,
                                           planned=planned, grading=grading))
    return items
