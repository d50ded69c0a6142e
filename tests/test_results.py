"""The result model: the JSON shape CI scripts key on, and a faithful round trip."""

from __future__ import annotations

import json

from grader.results import CheckResult, ConceptStatus, GradeReport, Status


def _check(check_id, status, concepts=("Q1",), points=0.0, max_points=10.0):
    return CheckResult(check_id, check_id.title(), status, points, max_points, concepts,
                       f"{check_id} summary", {"ports": [1, 2]}, ("a detail",), "a hint", 0.1)


def _report(*checks):
    return GradeReport("echo", "submission/", "local", checks, duration=1.5)


def test_json_shape():
    report = _report(_check("a", Status.PASS, points=10.0), _check("b", Status.FAIL, ("Q2",)))
    data = json.loads(json.dumps(report.to_json()))
    assert {"assignment", "submission", "score", "max_score", "checks", "concepts"} <= set(data)
    assert (data["score"], data["max_score"]) == (10.0, 20.0)
    check = data["checks"][1]
    assert {"id", "status", "points", "max_points", "concepts", "summary", "evidence",
            "hint"} <= set(check)
    assert check["status"] == "fail" and check["concepts"] == ["Q2"]
    assert data["concepts"]["Q1"]["status"] == "shown"
    assert data["concepts"]["Q2"] == {"status": "not shown", "title": data["concepts"]["Q2"][
        "title"], "checks": ["b"]}
    assert data["concepts"]["Q5"]["status"] == "not tested"


def test_round_trip_is_exact():
    report = _report(*(_check(s.value, s) for s in Status))
    assert GradeReport.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_concept_status_rules():
    def concept(*statuses):
        checks = tuple(_check(f"c{i}", s) for i, s in enumerate(statuses))
        return _report(*checks).concepts[0].status

    assert concept(Status.PASS, Status.PASS) is ConceptStatus.SHOWN
    assert concept(Status.PASS, Status.FAIL) is ConceptStatus.PARTLY_SHOWN
    assert concept(Status.PARTIAL) is ConceptStatus.PARTLY_SHOWN
    assert concept(Status.FAIL, Status.SKIPPED) is ConceptStatus.NOT_SHOWN
    assert concept(Status.PASS, Status.INCONCLUSIVE) is ConceptStatus.PARTLY_SHOWN
    assert concept(Status.SKIPPED, Status.ERROR) is ConceptStatus.NOT_TESTED


def test_terminal_header_says_unsandboxed_only_for_the_local_backend():
    from grader.report import terminal

    noted = ("a link leading outside the submission was left out",)
    docker = GradeReport("echo", "s/", "docker", (_check("a", Status.PASS),), notices=noted)
    local = GradeReport("echo", "s/", "local", (_check("a", Status.PASS),))
    assert "not sandboxed" not in terminal.render(docker).splitlines()[0]
    assert "not sandboxed" in terminal.render(local).splitlines()[0]


def test_a_check_the_grader_could_not_run_is_left_out_of_the_maximum():
    """A grader error is never the student's loss (issue 25): its points leave the
    maximum, in the report itself and so in every renderer that reads it."""
    from grader.report import gradescope, markdown, terminal

    errored = _check("b", Status.ERROR, ("Q2",), max_points=2.0)
    report = _report(_check("a", Status.PASS, points=8.0, max_points=8.0),
                     _check("c", Status.FAIL, ("Q3",), max_points=5.0), errored)
    assert (report.score, report.max_score) == (8.0, 13.0)
    assert report.left_out == (errored,)
    assert round(report.percent, 1) == 61.5
    data = json.loads(json.dumps(report.to_json()))
    assert (data["score"], data["max_score"]) == (8.0, 13.0)
    assert GradeReport.from_json(data).max_score == 13.0
    results = json.loads(gradescope.render(report))
    assert (results["score"], results["extra_data"]["max_score"]) == (8.0, 13.0)
    said = "1 check could not be run by the grader (left out of the maximum)"
    assert f"score 8/13 · 1 check failed · {said}" in terminal.render(report)
    assert "8/13" in markdown.render(report) and said in markdown.render(report)
