"""The JUnit XML report (`grade --junit FILE`), for CI test views and LMS importers.

One testsuite per run, one testcase per check. A testcase's classname files it under its
quiz concept ("echo.Q2"; "echo.other" for checks without one) so test views group the
checks by the idea they show. Only a passed check is a passing testcase:

    fail, partial   <failure>  message: the verdict; text: details, next step, evidence
    error           <error>    the grader broke: its traceback, never the student's fault
    skipped         <skipped>  a check it depends on did not pass
    inconclusive    <skipped>  message starts "inconclusive:": not shown, and not a pass
    hidden          <skipped>  classname ASSIGNMENT.hidden, message "hidden until ...: N
                               points": a student's CI is the student's view
                               (results.student_view), nothing of its result

Each build is a testcase before the checks (classname ASSIGNMENT.build, name
build-ROLE), its line and output as the terminal prints them in system-out; a build that
failed is a <failure> with the build's output (a compiler's errors) as its text, which
the checks it stopped point to.

Written with xml.etree against the Jenkins xunit plugin's junit-10.xsd (what Jenkins,
GitLab, GitHub's test reporters and pytest's own --junitxml agree on): no `disabled`
attribute, and every time in seconds with three decimals. junit-xml wrote both wrong and
could only be patched by parsing its output again.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..results import BuildResult, CheckResult, GradeReport, Status, Withheld, student_view
from . import terminal
from .common import feedback_text, group, number, points, withheld_text

HIDDEN_GROUP = "hidden"
BUILD_GROUP = "build"

# What XML 1.0 cannot hold, even escaped; a parser refuses the whole file for one of them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_OUTCOMES = ("failure", "error", "skipped")


def render(report: GradeReport) -> str:
    report = student_view(report)
    cases = [*(_build(report.assignment, build) for build in report.builds),
             *(_testcase(report.assignment, result) for result in report.checks),
             *(_withheld(report.assignment, item) for item in report.withheld)]
    counts = {outcome: str(sum(case.find(outcome) is not None for case in cases))
              for outcome in _OUTCOMES}
    totals = {"tests": str(len(cases)), "failures": counts["failure"],
              "errors": counts["error"], "time": seconds(report.duration)}
    root = ET.Element("testsuites", totals)
    suite = ET.SubElement(root, "testsuite", {"name": report.assignment, **totals,
                                              "skipped": counts["skipped"]})
    properties = ET.SubElement(suite, "properties")
    for name, value in {
            "submission": report.submission,
            "backend": report.backend,
            "score": number(report.score),
            "max_score": number(report.max_score),
            "percent": f"{report.percent:.1f}",
            **({"hidden_points": number(report.withheld_points)} if report.withheld else {}),
            **{f"concept.{c.id}": str(c.status) for c in report.concepts}}.items():
        ET.SubElement(properties, "property", name=_xml_text(name), value=_xml_text(value))
    suite.extend(cases)
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def seconds(duration: float) -> str:
    """A time as the schema's SUREFIRE_TIME reads it: at most three decimals."""
    return f"{max(duration, 0.0):.3f}"


def _testcase(assignment: str, result: CheckResult) -> ET.Element:
    stdout = (f"{result.title}\npoints: {points(result)}\n"
              f"quiz: {' '.join(result.concepts) or '-'}\nverdict: {result.summary}")
    case = _case(result.id, f"{assignment}.{group(result)}", result.duration)
    text = feedback_text(result)
    if result.status in (Status.FAIL, Status.PARTIAL):
        _outcome(case, "failure", result.summary, text, str(result.status))
    elif result.status is Status.ERROR:
        _outcome(case, "error", result.summary, feedback_text(result, traceback=True),
                 "grader-error")
    elif result.status is Status.INCONCLUSIVE:
        _outcome(case, "skipped", f"inconclusive: {result.summary}", text)
    elif result.status is Status.SKIPPED:
        _outcome(case, "skipped", result.summary, text)
    _system_out(case, stdout)
    return case


def _build(assignment: str, build: BuildResult) -> ET.Element:
    case = _case(f"build-{build.role}", f"{assignment}.{BUILD_GROUP}", build.duration)
    if not build.ok:
        _outcome(case, "failure", f"your {build.role} did not build: {build.command}",
                 build.output or "(no output)", "build")
    _system_out(case, terminal.plain_builds([build]))
    return case


def _withheld(assignment: str, item: Withheld) -> ET.Element:
    case = _case(item.id, f"{assignment}.{HIDDEN_GROUP}", 0.0)
    _outcome(case, "skipped", withheld_text(item))
    _system_out(case, f"{item.title}\n{withheld_text(item)}")
    return case


def _case(name: str, classname: str, duration: float) -> ET.Element:
    return ET.Element("testcase", name=_xml_text(name), classname=_xml_text(classname),
                      time=seconds(duration))


def _outcome(case: ET.Element, tag: str, message: str, text: str | None = None,
             kind: str | None = None) -> None:
    element = ET.SubElement(case, tag, message=_xml_text(message))
    if kind is not None:
        element.set("type", kind)
    element.text = None if text is None else _xml_text(text)


def _system_out(case: ET.Element, text: str) -> None:
    ET.SubElement(case, "system-out").text = _xml_text(text)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
