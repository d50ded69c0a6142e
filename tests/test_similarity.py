"""Similar submissions: a disguised copy is found, independent programs are not, and code
both students kept from the handout's starter files makes no pair similar. The result
is evidence for the instructor (similarity.csv, a section of report.html), never a score.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.term import find_similar, similarity_csv, similarity_section

from .conftest import REFERENCE

DATA = Path(__file__).parent / "data" / "similarity"
# Two echo servers written independently (threads; a selectors event loop), and a
# handout file of helpers that students are told to keep.
THREADS, SELECTORS, STARTER = DATA / "threads", DATA / "selectors", DATA / "starter"
RENAMES = {"raise_fd_limit": "bump_open_files", "serve": "echo_forever", "conn": "peer",
           "data": "chunk", "listener": "srv", "port": "where", "soft": "cur",
           "hard": "top", "main": "start"}


def _disguised_copy(source: Path, target: Path) -> Path:
    """A copy of `source` with other names, no comments or docstrings, the functions in
    another order: what a student who copied does to hide it."""
    target.mkdir()
    for path in sorted(source.glob("*.py")):
        text = path.read_text()
        text = re.sub(r'(?s)^""".*?"""\n', "", text)
        text = re.sub(r"(?m)^\s*#.*\n|  # .*$", "", text)
        for old, new in RENAMES.items():
            text = re.sub(rf"\b{old}\b", new, text)
        blocks = re.split(r"(?m)^(?=def )", text)
        head, functions = blocks[0], blocks[1:]
        (target / path.name).write_text(head + "".join(reversed(functions)))
    return target


def _class(tmp_path: Path, students: dict[str, list[Path]]) -> dict[str, Path]:
    """Submission folders made of the given files or folders."""
    folders = {}
    for number, (student, parts) in enumerate(students.items()):
        folder = tmp_path / f"student-{number}"  # the id need not be a file name here
        folder.mkdir(parents=True)
        for part in parts:
            if part.is_dir():
                shutil.copytree(part, folder, dirs_exist_ok=True)
            else:
                shutil.copy(part, folder / part.name)
        folders[student] = folder
    return folders


def test_a_disguised_copy_is_found_with_its_passages(tmp_path):
    alice = tmp_path / "alice"
    shutil.copytree(REFERENCE / "python" / "correct", alice)
    bob = _disguised_copy(alice, tmp_path / "bob")
    assert "raise_fd_limit" not in (bob / "server.py").read_text()  # really renamed
    carol = _class(tmp_path, {"carol": [THREADS]})["carol"]
    report = find_similar({"alice": alice, "bob": bob, "carol": carol})
    assert [(p.first, p.second) for p in report.pairs] == [("alice", "bob")]
    pair = report.pairs[0]
    assert pair.first_share > 0.8 and pair.second_share > 0.8
    assert {p.file for p in pair.first_passages} == {"client.py", "server.py"}
    for passage in pair.first_passages + pair.second_passages:
        folder = alice if passage in pair.first_passages else bob
        lines = (folder / passage.file).read_text().split("\n")
        assert passage.text == "\n".join(lines[passage.first_line - 1:passage.last_line])
    assert any("echo_forever" in p.text for p in pair.second_passages)


def test_two_independent_programs_are_not_similar(tmp_path):
    folders = _class(tmp_path, {"dave": [THREADS], "erin": [SELECTORS],
                                "frank": [REFERENCE / "python" / "correct"]})
    report = find_similar(folders)
    assert report.pairs == ()
    assert (report.students, report.files, report.comparisons) == (3, 4, 5)
    # Well below the threshold, not just under it.
    assert find_similar(folders, threshold=0.2).pairs == ()


def test_starter_code_alone_does_not_make_a_pair_similar(tmp_path):
    starter = STARTER / "common.py"
    folders = _class(tmp_path, {"dave": [THREADS, starter], "erin": [SELECTORS, starter]})
    # Without knowing the handout, the file both kept is a long shared passage (about
    # 40 % of each one's code) ...
    shared = find_similar(folders, threshold=0.3)
    assert [(p.first, p.second) for p in shared.pairs] == [("dave", "erin")]
    assert {p.file for p in shared.pairs[0].first_passages} == {"common.py"}
    # ... which the starter files remove entirely, given as a file or as a folder.
    assert find_similar(folders, [starter], threshold=0.01).pairs == ()
    assert find_similar(folders, [STARTER], threshold=0.01).pairs == ()


def test_a_copy_of_more_than_the_starter_is_still_found(tmp_path):
    starter = STARTER / "common.py"
    folders = _class(tmp_path, {"dave": [THREADS, starter], "erin": [SELECTORS, starter],
                                "gina": [THREADS, starter]})
    report = find_similar(folders, [starter])
    assert [(p.first, p.second) for p in report.pairs] == [("dave", "gina")]
    assert {p.file for p in report.pairs[0].first_passages} == {"server.py"}


def test_similarity_csv_has_both_shares_and_the_shared_lines(tmp_path):
    folders = _class(tmp_path, {"=evil": [THREADS], "gina": [THREADS], "erin": [SELECTORS]})
    rows = list(csv.DictReader(io.StringIO(similarity_csv(find_similar(folders)))))
    assert len(rows) == 1
    row = rows[0]
    assert (row["first"], row["second"]) == ("'=evil", "gina")
    assert row["first_share"] == row["second_share"] == "1.00"
    assert int(row["shared_tokens"]) > 100
    assert int(row["first_shared_lines"]) > 30 and row["first_files"] == "server.py"


def test_the_report_section_is_escaped_and_self_contained(tmp_path):
    hostile = tmp_path / "x"
    hostile.mkdir()
    (hostile / "server.py").write_text(
        (THREADS / "server.py").read_text().replace('"echo"', '"</pre><script>alert(1)'
                                                    '</script>"'))
    folders = _class(tmp_path, {"<b>mallory</b>": [hostile], "gina": [THREADS]})
    page = similarity_section(find_similar(folders))
    assert "<script>" not in page and "<b>mallory</b>" not in page
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page and "&lt;/pre&gt;&lt;script&gt;" in page
    assert "not a verdict" in page and "no score depends on it" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert 'class="side-by-side"' in page and "server.py, lines " in page
    folded = similarity_section(find_similar(folders), limit=0)
    assert "href" not in folded and "similarity.csv lists every pair" in folded
    empty = similarity_section(find_similar(_class(tmp_path / "y", {"a": [THREADS],
                                                                   "b": [SELECTORS]})))
    assert "No pair of the 2 submissions" in empty


def test_the_public_surface_and_the_optional_dependency():
    import grader.term

    assert set(grader.term.__all__) == {
        "FORMATS", "MISSING", "SIMILARITY_STYLE", "GradebookExport", "Passage", "Roster",
        "RosterEntry", "SimilarPair", "SimilarityReport", "export_gradebook", "find_similar",
        "load_roster", "save_gradebook", "similarity_csv", "similarity_section"}
    # Only find_similar loads copydetect (and matplotlib with it): `grade` never does.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, grader.cli, grader.term; "
         "print('copydetect' in sys.modules)"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


def test_without_copydetect_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "copydetect", None)
    with pytest.raises(GraderError, match=r"socket-grader\[term\]"):
        find_similar({"a": THREADS})


# --- in the batch: `grade batch` compares the class at its end ----------------------------

def _batch(submissions: Path, out: Path, assignment: Path, *extra: str) -> tuple[int, str, str]:
    from grader.cli import main

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr = io.StringIO(), io.StringIO()
    try:
        status = main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                       "--jobs", "2", "--assignment", str(assignment), *extra])
    finally:
        sys.stdout, sys.stderr = saved
    return status, stdout.getvalue(), stderr.getvalue()


def _pairs(out: Path) -> list[tuple[str, str]]:
    with open(out / "similarity.csv", newline="") as stream:
        return [(row["first"], row["second"]) for row in csv.DictReader(stream)]


def _handout_assignment(tmp_path: Path, setting: str) -> Path:
    """A copy of the echo assignment whose handout gives the students client.py."""
    assignment = tmp_path / "echo"
    shutil.copytree(REFERENCE.parents[1] / "assignments" / "echo", assignment)
    (assignment / "handout").mkdir()
    shutil.copy(REFERENCE / "python" / "correct" / "client.py", assignment / "handout")
    with open(assignment / "assignment.toml", "a") as plan:
        plan.write(setting)
    return assignment


def test_the_batch_lists_a_copied_pair_and_not_an_unrelated_one(tmp_path):
    """alice wrote the reference; bob copied it with other names; carol wrote her own
    server. All three kept the handout's client.py, which the assignment names."""
    submissions = tmp_path / "submissions"
    shutil.copytree(REFERENCE / "python" / "correct", submissions / "alice")
    _disguised_copy(submissions / "alice", submissions / "bob")
    (submissions / "carol").mkdir()
    for path in (THREADS / "server.py", REFERENCE / "python" / "correct" / "client.py"):
        shutil.copy(path, submissions / "carol")
    assignment = _handout_assignment(tmp_path, '\n[similarity]\nstarter = ["handout/client.py"]\n')
    out = tmp_path / "results"
    status, printed, errors = _batch(submissions, out, assignment)
    assert status == 0, errors
    assert _pairs(out) == [("alice", "bob")]
    assert "similar submissions: 1 pair listed of 3 submissions compared" in printed
    grades = (out / "grades.csv").read_text()
    page = (out / "report.html").read_text()
    assert page.count('id="similar-submissions"') == 1 and "no score depends on it" in page
    assert 'class="side-by-side"' in page and "<h3>bob</h3>" in page
    assert page.index("Similar submissions") < page.index("<h2>Students</h2>")

    # Run again with nothing changed: the comparison is not made again.
    status, printed, _ = _batch(submissions, out, assignment)
    assert status == 0 and "unchanged since the last comparison" in printed
    assert _pairs(out) == [("alice", "bob")]

    # Without the starter setting, the client everyone kept makes every pair similar.
    plan = assignment / "assignment.toml"
    plan.write_text(plan.read_text().replace('starter = ["handout/client.py"]', ""))
    status, printed, _ = _batch(submissions, out, assignment)
    assert status == 0 and "3 pairs listed" in printed
    assert sorted(_pairs(out)) == [("alice", "bob"), ("alice", "carol"), ("bob", "carol")]
    assert (out / "grades.csv").read_text() == grades  # evidence, never a verdict


def test_without_copydetect_the_batch_says_so_once_and_goes_on(tmp_path, monkeypatch):
    submissions = tmp_path / "submissions"
    (submissions / "ann").mkdir(parents=True)  # nothing to grade: quick
    out = tmp_path / "results"
    out.mkdir()
    (out / "similarity.csv").write_text("first,second\nold,pair\n")  # an earlier run's
    monkeypatch.setitem(sys.modules, "copydetect", None)
    status, printed, errors = _batch(submissions, out, REFERENCE.parents[1] / "assignments"
                                     / "echo")
    assert status == 0
    assert errors.count("copydetect is not installed") == 1
    assert "copydetect is not installed" not in printed
    assert "socket-grader[term]" in errors
    assert not (out / "similarity.csv").exists()
    assert "Not compared: copydetect is not installed" in (out / "report.html").read_text()
    assert (out / "grades.csv").exists()


def test_a_comparison_past_its_deadline_is_stopped_and_the_batch_goes_on(tmp_path):
    submissions = tmp_path / "submissions"
    (submissions / "ann").mkdir(parents=True)
    out = tmp_path / "results"
    status, printed, errors = _batch(submissions, out, REFERENCE.parents[1] / "assignments"
                                     / "echo", "--similarity-timeout", "0.05")
    assert status == 0, errors
    assert "did not finish within 0.05 s and was stopped" in errors
    assert not (out / "similarity.csv").exists() and not (out / "work").exists()
    status, printed, _ = _batch(submissions, out, REFERENCE.parents[1] / "assignments"
                                / "echo", "--no-similarity")
    assert status == 0 and "not compared (--no-similarity)" in printed


@pytest.mark.parametrize(("setting", "says"), [
    ('starter = ["missing.py"]', "similarity.starter[0]: 'missing.py': no such file"),
    ('starter = ["../echo/assignment.toml"]', "no absolute path, no '..'"),
    ('starter = ["/etc/passwd"]', "no absolute path"),
    ("starter = [3]", "similarity.starter[0]: expected the path of a starter file"),
    ('starter = "handout"', "similarity.starter: expected a list"),
    ("threshold = 0", "similarity.threshold: a share of a student's code"),
    ("threshold = 1.5", "not 1.5"),
    ("starter_files = []", "similarity.starter_files: unknown key"),
])
def test_a_bad_similarity_setting_is_a_clear_error(tmp_path, setting, says):
    from grader.assignments import load_assignment
    from grader.errors import InputError

    assignment = _handout_assignment(tmp_path, f"\n[similarity]\n{setting}\n")
    with pytest.raises(InputError) as caught:
        load_assignment(str(assignment))
    assert says in str(caught.value)


def test_the_similarity_setting_names_files_and_folders_of_the_assignment(tmp_path):
    from grader.assignments import load_assignment

    assignment = _handout_assignment(
        tmp_path, '\n[similarity]\nstarter = ["handout", "handout/client.py"]\nthreshold = 0.3\n')
    settings = load_assignment(str(assignment)).similarity
    assert settings.starter == (assignment / "handout", assignment / "handout" / "client.py")
    assert settings.threshold == 0.3
    assert load_assignment("echo").similarity.starter == ()
