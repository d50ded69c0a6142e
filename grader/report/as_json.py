"""The JSON report: the result model as it is (GradeReport.to_json), indented."""

from __future__ import annotations

import json

from ..results import GradeReport


def render(report: GradeReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
