"""The file renderers (JUnit XML, Gradescope results.json, Markdown) and the GitHub
annotations, on reports built by hand: one check of every status, fast and exact.

Each format is checked against a schema of what its consumers accept (tests/data/) and
parsed back, so a report that looks right but would not load is caught here."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from grader.report import FILE_FORMATS, github, gradescope, junit, markdown, terminal
from grader.results import BuildResult, CheckResult, GradeReport, Status

DATA = Path(__file__).parent / "data"

TRACEBACK = 'Traceback (most recent call last):\n  File "probe.py", line 9\nKeyError: \'port\'\n'


def check(check_id: str, status: Status, points: float, max_points: float,
          concepts: tuple[str, ...], summary: str, **extra) -> CheckResult:
    return CheckResult(check_id, f"Title of {check_id}", status, points, max_points, concepts,
                       summary, **extra)


def sample_report() -> GradeReport:
    """One check of each status, with the awkward text real runs produce: pipes, angle
    brackets, backticks, percent signs, newlines and control characters."""
    return GradeReport("echo", "submission/", "local", (
        check("server-starts", Status.PASS, 2, 2, ("Q1",), "TCP listener on 127.0.0.1:41873",
              evidence={"port": 41873}, duration=0.05),
        check("server-concurrency", Status.PARTIAL, 10, 20, ("Q1", "Q3"),
              "250/500 connections | answered round 2",
              evidence={"answered": 250, "clients": 500},
              details=("round 1: 500/500", "    127.0.0.1:41873 <- 127.0.0.3:50122"),
              hint="serve each connection in its own thread", duration=1.5),
        check("server-restart", Status.FAIL, 0, 20, ("Q2",),
              "restart could not bind :41873 (100% of 24 sockets in TIME_WAIT)",
              evidence={"time_wait": 24, "stderr": "bind: Address already in use\x07"},
              details=("It printed\n    bind: Address already in use \x07 ```",),
              hint="set SO_REUSEADDR between socket() and bind()", duration=0.7),
        check("client-echo", Status.ERROR, 0, 5, (), "the grader could not run this check",
              grader_traceback=TRACEBACK, duration=0.1),
        check("client-ephemeral-ports", Status.INCONCLUSIVE, 0, 15, ("Q4", "Q5"),
              "no client connected: the ports cannot be judged", evidence={"connections": 0}),
        check("client-reply-routing", Status.SKIPPED, 0, 10, ("Q4",),
              "skipped: needs client-ephemeral-ports, which did not pass (inconclusive)"),
        check("end-to-end", Status.PASS, 13, 13, (), "your client and your server agree"),
    ), (BuildResult("server", "make", 0, 0.4, ""),), 3.14)


COMPILER_ERROR = "server.c:3:5: error: expected ';' before '}' token <stdio.h> `x`"


def failed_build_report() -> GradeReport:
    """A C server that did not compile: the checks needing it say its output is shown
    above, so every student-facing format must show that output."""
    stopped = "not run: your server did not build (`make` failed with status 2)"
    return GradeReport("echo", "submission/", "local", (
        check("server-starts", Status.FAIL, 0, 2, ("Q1",), stopped,
              hint="Fix the build first: its output is shown above."),
        check("end-to-end", Status.FAIL, 0, 13, (), stopped),
    ), (BuildResult("server", "make", 2, 0.3, f"cc -o server server.c\n{COMPILER_ERROR}\n"),),
        1.0)


def passing_report() -> GradeReport:
    return GradeReport("echo", "submission/", "docker", (
        check("server-starts", Status.PASS, 2, 2, ("Q1",), "listening"),
        check("server-restart", Status.PASS, 20, 20, ("Q2",), "rebound at once"),
        check("end-to-end", Status.PASS, 13, 13, (), "agree"),
    ), duration=1.0)


@pytest.fixture(scope="module")
def junit_schema():
    return xmlschema.XMLSchema(DATA / "junit.xsd")


@pytest.fixture(scope="module")
def gradescope_schema():
    schema = json.loads((DATA / "gradescope-results.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_formats_are_registered():
    assert set(FILE_FORMATS) >= {"json", "junit", "gradescope", "markdown"}
    assert FILE_FORMATS["junit"] is junit.render
    assert FILE_FORMATS["gradescope"] is gradescope.render
    assert FILE_FORMATS["markdown"] is markdown.render


@pytest.mark.parametrize("name", ["json", "junit", "gradescope", "markdown"])
def test_a_stored_report_renders_the_same(name):
    """Renderers read only the result model: a report that went through JSON and back
    gives the same file, so a batch can render stored reports later."""
    report = sample_report()
    again = GradeReport.from_json(json.loads(json.dumps(report.to_json())))
    assert FILE_FORMATS[name](again) == FILE_FORMATS[name](report)


# JUnit XML ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [sample_report, passing_report, failed_build_report])
def test_junit_is_valid_against_the_schema(make, junit_schema):
    junit_schema.validate(junit.render(make()))


def test_junit_one_testcase_per_check_grouped_by_concept():
    root = ET.fromstring(junit.render(sample_report()).encode())
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["build-server", *(c.id for c in sample_report().checks)]
    assert {name: case.get("classname") for name, case in cases.items()} == {
        "build-server": "echo.build", "server-starts": "echo.Q1", "server-concurrency": "echo.Q1",
        "server-restart": "echo.Q2", "client-echo": "echo.other",
        "client-ephemeral-ports": "echo.Q4", "client-reply-routing": "echo.Q4",
        "end-to-end": "echo.other"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("8", "2", "1", "2")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    # The maximum is the model's (a check the grader could not run may be left out of it).
    assert (properties["score"], properties["max_score"]) == (
        "25", f"{sample_report().max_score:g}")
    assert properties["concept.Q2"] == "not shown"


def test_junit_only_a_passed_check_is_a_passing_testcase():
    root = ET.fromstring(junit.render(sample_report()).encode())
    outcome = {case.get("name"): [child.tag for child in case if child.tag != "system-out"]
               for case in root.iter("testcase")}
    assert outcome == {
        "build-server": [], "server-starts": [], "server-concurrency": ["failure"],
        "server-restart": ["failure"], "client-echo": ["error"],
        "client-ephemeral-ports": ["skipped"], "client-reply-routing": ["skipped"],
        "end-to-end": []}


def test_junit_failure_carries_summary_details_evidence_and_hint():
    root = ET.fromstring(junit.render(sample_report()).encode())
    failure = root.find("testsuite/testcase[@name='server-restart']/failure")
    assert failure.get("message") == sample_report().check("server-restart").summary
    text = failure.text
    assert "bind: Address already in use" in text
    assert "Next step: set SO_REUSEADDR between socket() and bind()" in text
    assert '"time_wait": 24' in text  # the evidence, as JSON
    assert "\x07" not in text  # control characters cannot be in XML 1.0


def test_junit_error_carries_the_grader_traceback():
    root = ET.fromstring(junit.render(sample_report()).encode())
    error = root.find("testsuite/testcase[@name='client-echo']/error")
    assert "KeyError: 'port'" in error.text
    assert "not in your code" in error.text


def test_junit_a_failed_build_is_a_failing_testcase_with_the_compilers_output():
    root = ET.fromstring(junit.render(failed_build_report()).encode())
    build = root.find("testsuite/testcase[@name='build-server']")
    assert build.get("classname") == "echo.build"
    assert COMPILER_ERROR in build.find("failure").text
    assert COMPILER_ERROR in build.find("system-out").text
    names = [case.get("name") for case in root.iter("testcase")]
    assert names.index("build-server") < names.index("server-starts")  # "shown above"


def test_junit_inconclusive_is_marked_as_such_never_as_a_pass():
    root = ET.fromstring(junit.render(sample_report()).encode())
    skipped = root.find("testsuite/testcase[@name='client-ephemeral-ports']/skipped")
    assert skipped.get("message").startswith("inconclusive: ")
    plain = root.find("testsuite/testcase[@name='client-reply-routing']/skipped")
    assert plain.get("message").startswith("skipped: ")


def test_the_junit_schema_is_not_vacuous(junit_schema):
    """The vendored Jenkins xunit schema refuses what junit-xml used to write."""
    junit_schema.validate(junit.render(passing_report()))
    suite = 'name="s" tests="1" failures="0" errors="0"'
    assert junit_schema.is_valid(f'<testsuites><testsuite {suite} time="3.952">'
                                 '<testcase name="a"/></testsuite></testsuites>')
    bad = [
        f'<testsuites><testsuite {suite} disabled="0"><testcase name="a"/></testsuite>'
        '</testsuites>',
        f'<testsuites><testsuite {suite} time="3.9520000000000004"><testcase name="a"/>'
        '</testsuite></testsuites>',
        '<testsuites><testsuite tests="1" failures="0" errors="0"><testcase name="a"/>'
        '</testsuite></testsuites>',
        f'<testsuites><testsuite {suite}><testcase/></testsuite></testsuites>',
        f'<testsuites><testsuite {suite}><testcase name="a"><passed/></testcase>'
        '</testsuite></testsuites>',
    ]
    for document in bad:
        assert not junit_schema.is_valid(document), document


def test_junit_times_are_rounded_to_milliseconds(junit_schema):
    """Durations whose float sum is 3.9520000000000004 (what junit-xml wrote as the
    suite's time, which Jenkins' schema refuses): every time has three decimals."""
    report = replace(passing_report(), checks=tuple(
        replace(result, duration=duration)
        for result, duration in zip(passing_report().checks, (1.1, 2.2, 0.652), strict=True)),
        duration=3.9520000000000004)
    document = junit.render(report)
    junit_schema.validate(document)
    root = ET.fromstring(document.encode())
    times = [element.get("time") for element in root.iter()
             if element.tag in ("testsuites", "testsuite", "testcase")]
    assert times == ["3.952", "3.952", "1.100", "2.200", "0.652"]
    assert all("disabled" not in element.attrib for element in root.iter())


# Gradescope -----------------------------------------------------------------------------

@pytest.mark.parametrize("make", [sample_report, passing_report, failed_build_report])
def test_gradescope_is_valid_against_the_schema(make, gradescope_schema):
    gradescope_schema.validate(json.loads(gradescope.render(make())))


def test_gradescope_scores_and_statuses():
    report = sample_report()
    results = json.loads(gradescope.render(report))
    assert results["score"] == report.score == 25
    assert sum(t["score"] for t in results["tests"]) == report.score
    # 85 at stake, less the 5 of the check the grader could not run (issue 25).
    assert sum(t["max_score"] for t in results["tests"]) == report.max_score == 80
    assert [t["status"] for t in results["tests"]] == [
        "passed", "failed", "failed", "failed", "failed", "failed", "passed"]
    assert [t["number"] for t in results["tests"]] == [str(n) for n in range(1, 8)]
    assert results["tests"][1]["tags"] == ["Q1", "Q3"]
    assert results["tests"][2]["name"] == "server-restart: Title of server-restart"
    assert "Next step: set SO_REUSEADDR" in results["tests"][2]["output"]
    assert results["tests"][4]["output"].startswith("INCONCLUSIVE")
    # The student sees the concept picture; the instructor's traceback goes to extra_data.
    assert "Q2 · TIME_WAIT and SO_REUSEADDR" in results["output"]
    assert "KeyError" not in results["tests"][3]["output"]
    assert "KeyError: 'port'" in results["extra_data"]["grader_tracebacks"]["client-echo"]
    assert results["extra_data"]["concepts"]["Q2"] == "not shown"


def test_gradescope_shows_a_failed_builds_output_above_the_checks():
    results = json.loads(gradescope.render(failed_build_report()))
    output = results["output"]
    assert "building server: make ... failed with status 2" in output
    assert COMPILER_ERROR in output
    assert output.index(COMPILER_ERROR) < output.index("score 0/15")
    assert {t["output_format"] for t in results["tests"]} == {"text"}
    assert results["output_format"] == "text"


def test_gradescope_results_when_the_grader_could_not_grade(gradescope_schema):
    refused = json.loads(gradescope.not_graded("grade.toml: line 2: expected '='"))
    gradescope_schema.validate(refused)
    assert refused["score"] == 0 and refused["tests"] == []
    assert "could not be graded:\ngrade.toml: line 2: expected '='" in refused["output"]
    crashed = json.loads(gradescope.grader_crashed(TRACEBACK))
    gradescope_schema.validate(crashed)
    assert crashed["score"] == 0 and "internal problem" in crashed["output"]
    assert "KeyError" not in crashed["output"]  # the student sees no traceback
    assert crashed["extra_data"]["grader_traceback"] == TRACEBACK


def test_the_gradescope_schema_is_not_vacuous(gradescope_schema):
    good = json.loads(gradescope.render(passing_report()))
    for broken in ({**good, "visibility": "students"},
                   {**good, "tests": [{**good["tests"][0], "status": "error"}]},
                   {**good, "tests": [{**good["tests"][0], "max_points": 2}]},
                   {**good, "score": "25"},
                   {key: value for key, value in good.items() if key != "score"}
                   | {"tests": [{"name": "no score"}]}):
        assert not gradescope_schema.is_valid(broken), broken


# Markdown -------------------------------------------------------------------------------

def test_markdown_table_has_one_row_per_check():
    text = markdown.render(sample_report())
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(sample_report().checks)
    # a pipe in a verdict is escaped, so every row keeps its five cells
    assert all(row.replace("\\|", "").count("|") == 6 for row in rows)
    assert "| ❌ FAIL | `server-restart` | 0/20 | Q2 |" in text


def test_markdown_explains_each_concept_not_shown():
    text = markdown.render(sample_report())
    for heading in ("### Q1 · A connection is its four-tuple: partly shown",
                    "### Q2 · TIME\\_WAIT and SO\\_REUSEADDR: not shown",
                    "### Q4 · Ephemeral ports route replies: not tested",
                    "### Other checks: not passed"):
        assert heading in text
    assert "See: `grade concepts Q2`" in text
    assert "**Next step:** set SO\\_REUSEADDR between socket() and bind()" in text
    # details keep their layout in a fence longer than any backtick run inside them
    assert "  ````text\n  It printed\n      bind: Address already in use" in text
    assert text.rstrip().endswith("· 3.1 s**")


def test_markdown_shows_a_failed_builds_output_fenced_before_the_checks():
    text = markdown.render(failed_build_report())
    assert "```text\nbuilding server: make ... failed with status 2" in text
    assert f"    {COMPILER_ERROR}\n```" in text  # as it is, fenced: no escaping inside
    assert text.index(COMPILER_ERROR) < text.index("| ❌ FAIL | `server-starts`")


def test_markdown_for_a_full_score():
    text = markdown.render(passing_report())
    assert "### Q1, Q2: shown" in text
    assert "**score 35/35 · 1.0 s**" in text


def test_markdown_and_terminal_tell_the_same_sections():
    """Both lay out the same sections (grader.report.common), in the same order."""
    report = sample_report()
    plain = terminal.render(report)
    headings = [line[4:].rsplit(": ", 1)[0].replace("\\_", "_")
                for line in markdown.render(report).splitlines() if line.startswith("### ")]
    positions = [plain.index(heading) for heading in headings]
    assert positions == sorted(positions)


# GitHub annotations ---------------------------------------------------------------------

def test_annotations_one_per_check_that_lost_points():
    lines = github.annotations(sample_report()).splitlines()
    assert [line.split("::")[1] for line in lines] == [
        "warning title=server-concurrency", "error title=server-restart",
        "error title=client-echo", "warning title=client-ephemeral-ports"]
    restart = lines[1]
    assert restart == ("::error title=server-restart::restart could not bind :41873 "
                       "(100%25 of 24 sockets in TIME_WAIT)%0ANext step: set SO_REUSEADDR "
                       "between socket() and bind()")
    assert "grader problem" in lines[2]
    assert github.annotations(passing_report()) == ""


def test_annotation_escaping():
    assert github.escape_data("50%\r\ndone") == "50%25%0D%0Adone"
    assert github.escape_property("a:b,c%") == "a%3Ab%2Cc%25"
