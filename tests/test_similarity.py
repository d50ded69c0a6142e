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
