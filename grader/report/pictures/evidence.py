"""How pictures read a report (a student's view: results.student_view): the visible checks
by id, and their evidence through typed getters that say, rather than guess, when what a
picture needs is not there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results import CheckResult, GradeReport, Status
from ..common import HIDDEN_WORDS


class Absent(Exception):
    """What a picture needs is not in the report; the message says what and why."""


class Evidence:
    """One check's evidence. Each getter raises Absent when its key is missing or of
    another type, unless given a default."""

    _NONE = object()

    def __init__(self, check_id: str, data: Mapping[str, Any]) -> None:
        self.check_id = check_id
        self.data = data

    def _get(self, key: str, kinds: tuple[type, ...], default: Any) -> Any:
        value = self.data.get(key, self._NONE)
        if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
            return value
        if default is not self._NONE:
            return default
        raise Absent(f"{self.check_id} did not record {key!r} (a report from an older "
                     "grader?)")

    def number(self, key: str, default: Any = _NONE) -> float:
        return self._get(key, (int, float), default)

    def whole(self, key: str, default: Any = _NONE) -> int:
        value = self._get(key, (int, float), default)
        return value if value is None else round(value)

    def text(self, key: str, default: Any = _NONE) -> str:
        return self._get(key, (str,), default)

    def flag(self, key: str, default: Any = _NONE) -> bool:
        return self._get(key, (bool,), default)

    def items(self, key: str, default: Any = _NONE) -> list:
        return list(self._get(key, (list, tuple), default))

    def mapping(self, key: str, default: Any = _NONE) -> Mapping[str, Any]:
        return self._get(key, (dict,), default)

    def numbers(self, key: str, default: Any = _NONE) -> list[int]:
        """A list of numbers (None kept where the check wrote none)."""
        return [v if v is None else round(v) for v in self.items(key, default)
                if v is None or isinstance(v, (int, float))]


class Seen:
    """The checks of a student's view of a report as pictures may read them: the hidden
    ones are not there, only the note that they are hidden."""

    def __init__(self, report: GradeReport) -> None:
        self.report = report
        self.results = {r.id: r for r in report.checks}
        self.withheld = {w.id: w for w in report.withheld}

    def result(self, check_id: str) -> CheckResult | None:
        return self.results.get(check_id)

    def is_hidden(self, check_id: str) -> bool:
        return check_id in self.withheld

    def hidden_words(self, check_id: str) -> str:
        """"hidden until the due date" (for a check that is hidden)."""
        return HIDDEN_WORDS[self.withheld[check_id].visibility]

    def why_absent(self, check_id: str) -> str:
        """Why this check gave no evidence, or "" when it did."""
        if self.is_hidden(check_id):
            return f"{check_id} is {self.hidden_words(check_id)}"
        result = self.results.get(check_id)
        if result is None:
            return f"{check_id} is not part of this assignment"
        if result.status is Status.SKIPPED:
            return f"{check_id} was {result.summary}"
        if result.status is Status.ERROR:
            return f"{check_id} could not be run (a grader problem)"
        if not result.evidence:
            return f"{check_id} recorded no evidence"
        return ""

    def evidence(self, check_id: str) -> Evidence | None:
        """Its evidence, or None when it gave none (see why_absent)."""
        if self.why_absent(check_id):
            return None
        return Evidence(check_id, self.results[check_id].evidence)

    def require(self, check_id: str) -> Evidence:
        found = self.evidence(check_id)
        if found is None:
            raise Absent(self.why_absent(check_id))
        return found

    def status(self, check_id: str) -> Status | None:
        result = self.results.get(check_id)
        return None if result is None else result.status

    def port(self) -> int | None:
        """The server's port, as the checks that know it recorded it."""
        for check_id in ("server-starts", "server-restart"):
            found = self.evidence(check_id)
            if found is not None and found.whole("port", None) is not None:
                return found.whole("port")
        return None
