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
"""

from __future__ import annotations

from junit_xml import TestCase, TestSuite, to_xml_report_string

from ..results import BuildResult, CheckResult, GradeReport, Status, Withheld, student_view
from . import terminal
from .common import feedback_text, group, number, points, withheld_text

HIDDEN_GROUP = "hidden"
BUILD_GROUP = "build"


def render(report: GradeReport) -> str:
    report = student_view(report)
    suite = TestSuite(
        report.assignment,
        [*(_build(report.assignment, build) for build in report.builds),
         *(_testcase(report.assignment, result) for result in report.checks),
         *(_withheld(report.assignment, item) for item in report.withheld)],
        properties={
            "submission": report.submission,
            "backend": report.backend,
            "score": number(report.score),
            "max_score": number(report.max_score),
            "percent": f"{report.percent:.1f}",
            **({"hidden_points": number(report.withheld_points)} if report.withheld else {}),
            **{f"concept.{c.id}": str(c.status) for c in report.concepts},
        },
    )
    return to_xml_report_string([suite], prettyprint=True, encoding="utf-8")


def _testcase(assignment: str, result: CheckResult) -> TestCase:
    stdout = (f"{result.title}\npoints: {points(result)}\n"
              f"quiz: {' '.join(result.concepts) or '-'}\nverdict: {result.summary}")
    case = TestCase(result.id, classname=f"{assignment}.{group(result)}",
                    elapsed_sec=round(result.duration, 3), stdout=stdout)
    text = feedback_text(result)
    if result.status in (Status.FAIL, Status.PARTIAL):
        case.add_failure_info(result.summary, text, str(result.status))
    elif result.status is Status.ERROR:
        case.add_error_info(result.summary, feedback_text(result, traceback=True),
                            "grader-error")
    elif result.status is Status.INCONCLUSIVE:
        case.add_skipped_info(f"inconclusive: {result.summary}", text)
    elif result.status is Status.SKIPPED:
        case.add_skipped_info(result.summary, text)
    return case


def _build(assignment: str, build: BuildResult) -> TestCase:
    case = TestCase(f"build-{build.role}", classname=f"{assignment}.{BUILD_GROUP}",
                    elapsed_sec=round(build.duration, 3),
                    stdout=terminal.build_line(build, terminal.Style(colour=False)))
    if not build.ok:
        case.add_failure_info(f"your {build.role} did not build: {build.command}",
                              build.output or "(no output)", "build")
    return case


def _withheld(assignment: str, item: Withheld) -> TestCase:
    case = TestCase(item.id, classname=f"{assignment}.{HIDDEN_GROUP}",
                    stdout=f"{item.title}\n{withheld_text(item)}")
    case.add_skipped_info(withheld_text(item))
    return case
