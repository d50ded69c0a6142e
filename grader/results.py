"""The result model: frozen records that every report renderer reads and none changes.

A grading run produces one GradeReport; it round-trips through JSON unchanged, so a
batch can store reports and render them again later in any format.

A check's `visibility` says when a student may see its result (Gradescope's words).
`student_view` is the one place a report becomes what a student may see: the checks not
visible yet leave `checks` (so the score, the concepts and every renderer's text know
nothing of them) and stay only as `withheld` lines: id, title and points at stake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from .concepts import BUILT_IN, Concept


class Status(StrEnum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    ERROR = "error"  # the grader could not run the check; never the student's fault
    INCONCLUSIVE = "inconclusive"  # the evidence a verdict needs was missing
    SKIPPED = "skipped"  # a check it depends on did not pass

    @property
    def counts_as_shown(self) -> bool:
        return self is Status.PASS


class Visibility(StrEnum):
    """When a student may see a check's result (Gradescope's autograder vocabulary)."""

    VISIBLE = "visible"  # always
    AFTER_DUE_DATE = "after_due_date"  # once the due date has passed
    AFTER_PUBLISHED = "after_published"  # once the instructor publishes the grades
    HIDDEN = "hidden"  # never: the instructor's alone

    @property
    def rank(self) -> int:
        """How late a student sees it: visible 0, after_due_date 1, after_published 2,
        hidden 3 (grades are published after the due date)."""
        return list(Visibility).index(self)


class ConceptStatus(StrEnum):
    SHOWN = "shown"
    PARTLY_SHOWN = "partly shown"
    NOT_SHOWN = "not shown"
    NOT_TESTED = "not tested"


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    points: float
    max_points: float
    concepts: tuple[str, ...]
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    details: tuple[str, ...] = ()
    hint: str = ""
    duration: float = 0.0
    grader_traceback: str = ""
    visibility: Visibility = Visibility.VISIBLE

    @property
    def counted_max_points(self) -> float:
        """What the check adds to the report's maximum: nothing when the grader could not
        run it (a grader error is never the student's loss)."""
        return 0.0 if self.status is Status.ERROR else self.max_points

    def to_json(self) -> dict:
        data = asdict(self)
        data["status"] = str(self.status)
        data["visibility"] = str(self.visibility)
        data["concepts"] = list(self.concepts)
        data["details"] = list(self.details)
        data["evidence"] = dict(self.evidence)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            **{
                **data,
                "status": Status(data["status"]),
                "concepts": tuple(data["concepts"]),
                "details": tuple(data.get("details", ())),
                "visibility": Visibility(data.get("visibility", Visibility.VISIBLE)),
            }
        )


@dataclass(frozen=True)
class Withheld:
    """What a student's view keeps of a check not visible to them yet."""

    id: str
    title: str
    max_points: float
    visibility: Visibility

    def to_json(self) -> dict:
        return {**asdict(self), "visibility": str(self.visibility)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Withheld:
        return cls(**{**data, "visibility": Visibility(data["visibility"])})


@dataclass(frozen=True)
class BuildResult:
    role: str  # "server" or "client"
    command: str
    exit_code: int | None  # None: killed at its deadline
    duration: float
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConceptResult:
    id: str
    title: str
    status: ConceptStatus
    checks: tuple[str, ...]

    def to_json(self) -> dict:
        return {"status": str(self.status), "title": self.title, "checks": list(self.checks)}


@dataclass(frozen=True)
class GradeReport:
    assignment: str
    submission: str
    backend: str
    checks: tuple[CheckResult, ...]
    builds: tuple[BuildResult, ...] = ()
    duration: float = 0.0
    notices: tuple[str, ...] = ()
    phases: Mapping[str, float] = field(default_factory=dict)  # seconds: pod_start, build, ...
    catalogue: tuple[Concept, ...] = BUILT_IN  # the concepts it was graded with, in order
    withheld: tuple[Withheld, ...] = ()  # a student's view: the checks left out of it

    @property
    def score(self) -> float:
        return round(sum(c.points for c in self.checks if c.status is not Status.ERROR), 2)

    @property
    def max_score(self) -> float:
        """The points at stake, less those of the checks the grader could not run: a
        grader error is never the student's loss (see `left_out`)."""
        return round(sum(c.counted_max_points for c in self.checks), 2)

    @property
    def left_out(self) -> tuple[CheckResult, ...]:
        """The checks left out of the maximum: the grader could not run them."""
        return tuple(c for c in self.checks if c.status is Status.ERROR)

    @property
    def withheld_points(self) -> float:
        return round(sum(w.max_points for w in self.withheld), 2)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 100.0

    def check(self, check_id: str) -> CheckResult:
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    @property
    def concepts(self) -> tuple[ConceptResult, ...]:
        return tuple(concept_result(item.id, item.title, self.checks)
                     for item in self.catalogue)

    def concept(self, concept_id: str) -> Concept:
        for item in self.catalogue:
            if item.id == concept_id:
                return item
        raise KeyError(concept_id)

    def to_json(self) -> dict:
        return {
            "assignment": self.assignment,
            "submission": self.submission,
            "backend": self.backend,
            "score": self.score,
            "max_score": self.max_score,
            "duration": round(self.duration, 3),
            "checks": [c.to_json() for c in self.checks],
            "concepts": {c.id: c.to_json() for c in self.concepts},
            "builds": [b.to_json() for b in self.builds],
            "notices": list(self.notices),
            "phases": dict(self.phases),
            "catalogue": [item.to_json() for item in self.catalogue],
            "withheld": [item.to_json() for item in self.withheld],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GradeReport:
        return cls(
            assignment=data["assignment"],
            submission=data["submission"],
            backend=data["backend"],
            checks=tuple(CheckResult.from_json(c) for c in data["checks"]),
            builds=tuple(BuildResult(**b) for b in data.get("builds", ())),
            duration=data.get("duration", 0.0),
            notices=tuple(data.get("notices", ())),
            phases=data.get("phases", {}),
            catalogue=(tuple(Concept(**item) for item in data["catalogue"])
                       if "catalogue" in data else BUILT_IN),
            withheld=tuple(Withheld.from_json(w) for w in data.get("withheld", ())),
        )


def is_hidden(result: CheckResult, published: bool = False) -> bool:
    """Whether a student may not see this check's result yet: a hidden one never, one
    visible after the due date or after publishing only once grades are `published`
    (the grader knows no due date: publishing means both have passed)."""
    visibility = Visibility(result.visibility)
    return visibility is Visibility.HIDDEN or (
        visibility is not Visibility.VISIBLE and not published)


def withhold(result: CheckResult) -> Withheld:
    return Withheld(result.id, result.title, result.max_points, Visibility(result.visibility))


def student_view(report: GradeReport, published: bool = False) -> GradeReport:
    """The report as a student may see it: each check not visible to them yet (see
    is_hidden) is left out of `checks`, and so of the score, the concepts and everything
    a renderer says, and kept in `withheld` as its id, title and points at stake. Every
    student-facing renderer applies it; applying it again changes nothing."""
    hidden = tuple(c for c in report.checks if is_hidden(c, published))
    if not hidden:
        return report
    ids = {c.id for c in hidden}
    return replace(report, checks=tuple(c for c in report.checks if c.id not in ids),
                   withheld=(*report.withheld, *(withhold(c) for c in hidden)))


def concept_result(concept_id: str, title: str, checks: tuple[CheckResult, ...]) -> ConceptResult:
    """A quiz concept is shown when every check evidencing it passed."""
    relevant = tuple(c for c in checks if concept_id in c.concepts)
    statuses = {c.status for c in relevant}
    decided = statuses & {Status.PASS, Status.PARTIAL, Status.FAIL}
    if not decided:
        status = ConceptStatus.NOT_TESTED
    elif decided == {Status.PASS} and statuses <= {Status.PASS}:
        status = ConceptStatus.SHOWN
    elif Status.PASS in decided or Status.PARTIAL in decided:
        status = ConceptStatus.PARTLY_SHOWN
    else:
        status = ConceptStatus.NOT_SHOWN
    return ConceptResult(concept_id, title, status, tuple(c.id for c in relevant))
