"""The report as a page (`grade --html FILE`): real gradings of references (local backend)
rendered and looked at in headless Chromium, and reports built by hand for what real
runs rarely give (hostile text, hidden checks, skipped checks, older reports)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from grader.assignments import load_assignment
from grader.cli import main
from grader.report import FILE_FORMATS, gradescope, html
from grader.results import CheckResult, GradeReport, Status, Visibility

from .conftest import compose_reference
from .test_batch import _read_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAULTY = "no-reuseaddr-server"
# Everything a picture is drawn from, by the id of its <figure>.
FIGURES = ("one-port", "same-ip", "who-closes", "restart", "client-ports", "burst")
GOOD_PALE, BAD_PALE, PARTLY = (0xDC, 0xEF, 0xE3), (0xF8, 0xDC, 0xD9), (0xFF, 0xF4, 0xD6)
LINK, PRINTED_ERROR = (0x3B, 0x6F, 0xB6), (0xFB, 0xF3, 0xF2)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The correct Python reference and one faulty one, graded through the command line
    with --json and --html; the faulty one in a folder whose name is HTML."""
    base = tmp_path_factory.mktemp("pages")
    graded = {}
    for name, faulty, folder in (("correct", None, "correct"),
                                 (FAULTY, FAULTY, 'faulty <i>&"x')):
        submission = compose_reference(base / folder, "python", faulty)
        page, data = base / f"{name}.html", base / f"{name}.json"
        main([str(submission), "--backend", "local", "--clients", "100", "--quiet",
              "--json", str(data), "--html", str(page)])
        graded[name] = (page, GradeReport.from_json(json.loads(data.read_text())))
    return graded


def test_html_is_a_file_format():
    assert FILE_FORMATS["html"] is html.render


def test_the_page_draws_every_picture_from_the_grading(pages):
    page_file, report = pages["correct"]
    page = page_file.read_text()
    assert report.score == report.max_score
    for key in FIGURES:
        figure = re.search(rf'<figure id="fig-{key}">(.*?)</figure>', page, re.S)
        assert figure and "<svg" in figure[1], key
    assert 'class="absent"' not in page
    for concept in report.catalogue:
        assert f'id="idea-{concept.id}"' in page
        assert f"✓ {concept.id} shown" in page
    # The picture's numbers are the evidence's: the port, the connections, the copies.
    port = report.check("server-starts").evidence["port"]
    assert f"TCP :{port}" in page
    assert "100 connections open at once, from 100 source IPs" in page
    for copy_port in report.check("client-ephemeral-ports").evidence["copy_ports"]:
        assert f">{copy_port}<" in page


def test_a_failed_check_shows_what_was_seen(pages):
    page_file, report = pages[FAULTY]
    page = page_file.read_text()
    restart = report.check("server-restart")
    assert restart.status is Status.FAIL
    figure = re.search(r'<figure id="fig-restart">(.*?)</figure>', page, re.S)[1]
    assert "<svg" in figure and "could not listen" in figure
    assert "Address already" in figure and "Address already in use" in page
    assert f"{restart.evidence['time_wait_on_port']} sockets in TIME_WAIT" in figure
    assert "◐ Q2 partly shown" in page and "Next step:" in page


def test_a_stored_report_renders_the_same_page(pages):
    """Pictures read the result model only: the JSON report carries all they need."""
    for page_file, report in pages.values():
        again = GradeReport.from_json(json.loads(json.dumps(report.to_json())))
        assert html.render(again) == html.render(report) == page_file.read_text()


def test_the_page_needs_nothing_but_itself(pages):
    for page_file, _ in pages.values():
        page = page_file.read_text()
        assert not re.search(r"https?://", page)
        for needs_more in ("<script", "<link", "<iframe", "<img", "<object", "src=", "url(",
                           "@import", "xmlns", "xlink:"):
            assert needs_more not in page, needs_more
        assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))


def test_a_folder_name_is_text_on_the_page(pages):
    page = pages[FAULTY][0].read_text()
    assert "faulty &lt;i&gt;&amp;&quot;x" in page and "<i>" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("name", ["correct", FAULTY])
def test_the_page_renders_in_headless_chromium(pages, name, tmp_path):
    page_file, _ = pages[name]
    shot = tmp_path / "page.png"
    # Half scale: the whole page's colours in a quarter of the pixels.
    _chromium(page_file, "--force-device-scale-factor=0.5", f"--screenshot={shot}",
              "--window-size=900,7000")
    text = _chromium(page_file, "--dump-dom").decode()  # the page as Chromium read it
    width, height, pixels = _read_png(shot.read_bytes())
    assert (width, height) == (450, 3500)
    count = {colour: sum(1 for p in pixels if p[:3] == colour)
             for colour in (GOOD_PALE, BAD_PALE, PARTLY, LINK, PRINTED_ERROR)}
    assert sum(1 for p in pixels if p[:3] != (255, 255, 255)) > len(pixels) // 10
    assert count[LINK] > 2000, count  # the fan's bars: the pictures were drawn
    assert count[GOOD_PALE] > 1000, count  # the listening port, the verdicts shown
    if name == "correct":
        assert count[PARTLY] == count[BAD_PALE] == count[PRINTED_ERROR] == 0, count
        assert "✓ Q2 shown" in text and "score 100/100" in text
    else:
        assert count[PARTLY] > 100 and count[PRINTED_ERROR] > 200, count
        assert "◐ Q2 partly shown" in text and "Address already in use" in text
    if os.environ.get("SOCKET_GRADER_KEEP_SCREENSHOT"):
        shutil.copy(shot, Path(os.environ["SOCKET_GRADER_KEEP_SCREENSHOT"]) / f"{name}.png")


def _chromium(page: Path, *options: str) -> bytes:
    """Run headless Chromium on `page` with a fresh profile; its standard output."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--user-data-dir={profile}", *options, page.as_uri()],
            capture_output=True, timeout=90, check=True).stdout


# Reports built by hand -------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def _check(check_id: str, status: Status, evidence: dict, **extra) -> CheckResult:
    concepts = {"server-starts": ("Q1",), "server-restart": ("Q2",)}.get(check_id, ("Q1",))
    return CheckResult(check_id, f"Title of {check_id}", status, 0, 10, concepts,
                       extra.pop("summary", f"summary of {check_id}"), evidence, **extra)


def _report(*checks: CheckResult, submission: str = "submission/") -> GradeReport:
    return GradeReport("echo", submission, "local", checks, duration=1.0,
                       catalogue=load_assignment("echo").concepts)


def test_text_from_a_student_program_is_escaped_everywhere():
    restart = _check("server-restart", Status.FAIL, {
        "port": 4242, "connections": 3, "opened": 3, "answered_before_stop": 3,
        "time_wait_on_port": 3, "time_wait_examples": [HOSTILE], "restart_seconds": 0.1,
        "restart_exit_code": 1, "restart_stderr": HOSTILE + "\x07", "restart_listening": False},
        summary=HOSTILE, details=(f"It printed:\n    {HOSTILE}",), hint=HOSTILE)
    starts = _check("server-starts", Status.FAIL, {
        "port": 4242, "listeners": [], "udp_bound": [HOSTILE], "stderr": HOSTILE})
    page = html.render(_report(starts, restart, submission=HOSTILE))
    assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    assert "\\x07" in page and "\x07" not in page


SECRETS = {"summary": "SECRET-SUMMARY", "details": ("SECRET-DETAILS",), "hint": "SECRET-HINT"}


def _hidden_restart(visibility: str) -> CheckResult:
    evidence = {"port": 4242, "connections": 3, "opened": 3, "answered_before_stop": 3,
                "time_wait_on_port": 3, "time_wait_examples": ["SECRET-EVIDENCE"],
                "restart_seconds": 0.1, "restart_exit_code": 1,
                "restart_stderr": "SECRET-EVIDENCE", "restart_listening": False}
    return CheckResult("server-restart", "Restarts at once", Status.FAIL, 0, 18, ("Q2",),
                       SECRETS["summary"], evidence, SECRETS["details"], SECRETS["hint"],
                       visibility=Visibility(visibility))


@pytest.mark.parametrize(("visibility", "words"), [
    ("hidden", "hidden from students"), ("after_due_date", "hidden until the due date"),
    ("after_published", "hidden until grades are published")])
def test_a_hidden_check_shows_nothing_of_its_result(visibility, words):
    page = html.render(_report(_check("server-starts", Status.PASS, {"port": 4242,
                                                                     "listeners": ["x"]}),
                               _hidden_restart(visibility)))
    assert "SECRET" not in page
    assert f"server-restart is {words}" in page and f"{words}: 18 points" in page
    assert 'id="check-server-restart"' in page and "score 0/10" in page
    published = html.render(_report(_hidden_restart(visibility)), published=True)
    assert ("SECRET-EVIDENCE" in published) is (visibility != "hidden")


def test_a_picture_without_its_evidence_says_why():
    skipped = _check("server-restart", Status.SKIPPED, {},
                     summary="skipped: needs server-starts, which did not pass (fail)")
    older = _check("server-same-ip", Status.PASS, {"answered": 256})  # an older report
    page = html.render(_report(skipped, older))
    assert re.search(r'<figure id="fig-restart" class="absent">.*No picture: server-restart '
                     r"was skipped: needs server-starts", page, re.S)
    assert "server-same-ip did not record &#x27;source_ip&#x27;" in page


def test_the_http_assignment_renders_its_own_ideas(tmp_path):
    page_file = tmp_path / "http.html"
    submission = Path(__file__).parents[1] / "reference" / "http" / "python" / "correct"
    main([str(submission), "--assignment", "http", "--backend", "local", "--clients", "60",
          "--quiet", "--html", str(page_file)])
    page = page_file.read_text()
    for concept in ("stream", "http", "safety", "Q1", "Q2"):
        assert f'id="idea-{concept}"' in page
    for check_id in ("http-keep-alive", "http-traversal", "client-fetch"):
        assert f'id="check-{check_id}"' in page
    for key in FIGURES:
        assert f'<figure id="fig-{key}">' in page, key


def test_gradescope_output_is_text_not_html(pages):
    results = json.loads(gradescope.render(pages[FAULTY][1]))
    assert results["output_format"] == "text"


# The Content-Security-Policy of every page the grader writes -------------------------------

SMUGGLED_RED = (0xFF, 0x00, 0x00)
# What would reach a page if escaping ever failed once: a style and a style attribute.
SMUGGLED = ('<style>body { background: #ff0000 !important; }</style>'
            '<div style="background: #ff0000; height: 200px"></div>')


def _class_page() -> str:
    from grader.batch import StudentResult
    from grader.batch.outputs import class_report, summarize

    assignment = load_assignment("echo")
    results = [StudentResult("alice", _report(_check("server-starts", Status.PASS, {}))),
               StudentResult("bob", error="more than one submission")]
    return class_report(assignment, summarize(assignment, results), results)


PAGES = {"report": lambda: html.render(_report(_check(
             "server-restart", Status.FAIL, {}, details=("It printed: x",), hint="Do y."))),
         "error page": lambda: html.error_page("echo: not graded", "no server"),
         "class report": _class_page}


@pytest.mark.parametrize("name", PAGES)
def test_every_page_allows_its_own_style_and_nothing_else(name):
    import base64
    import hashlib

    page = PAGES[name]()
    head = page[:page.index("</head>")]
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', head)
    assert policy and head.index(policy[0]) < head.index("<style>")  # before what it governs
    directives = dict(d.strip().split(" ", 1) for d in policy[1].split(";"))
    assert directives["default-src"] == "'none'"
    [style] = re.findall(r"<style>(.*?)</style>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'"
    assert "script-src" not in directives and "<script" not in page
    assert " style=" not in page  # an attribute the policy would block


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize(("name", "own_colour"), [("report", BAD_PALE),
                                                  ("class report", (0xD6, 0xDA, 0xE0))])
def test_chromium_applies_the_pages_style_and_blocks_a_smuggled_one(name, own_colour,
                                                                    tmp_path):
    page = PAGES[name]()
    page_file, shot = tmp_path / "page.html", tmp_path / "page.png"
    page_file.write_text(page.replace("<body>\n", "<body>\n" + SMUGGLED, 1))
    _chromium(page_file, f"--screenshot={shot}", "--window-size=900,900")
    _, _, pixels = _read_png(shot.read_bytes())
    count = {colour: sum(1 for p in pixels if p[:3] == colour)
             for colour in (own_colour, SMUGGLED_RED)}
    assert count[own_colour] > 100, count  # "not shown" chips, the cards' borders: styled
    assert count[SMUGGLED_RED] == 0, count
