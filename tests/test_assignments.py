"""Assignments as folders: the public API check authors import, the starter that
`grade new-assignment` writes, the tutorial assignment that lives in its own folder,
and the errors an instructor's folder gets (each naming the file and the key)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

import grader.api
from grader import GradeReport, InputError, Status, grade, load_assignment, load_submission
from grader.cli import main
from grader.pod import LocalBackend

from .conftest import REPO

UPPER = REPO / "docs" / "examples" / "upper"

PUBLIC_API = [
    "Answer", "Check", "CheckContext", "ClientJob", "Completed", "ConnectionGroup",
    "Diagnosis", "Failure", "Outcome", "Program", "Protocol", "Replies", "Round",
    "SocketTable", "StudentServer", "check", "counted", "diagnose",
    "diagnose_run", "endpoint", "failed", "four_tuple", "inconclusive", "passed",
    "printed_details", "printed_lines", "probe", "require_server", "scored",
    "source_addresses", "tail",
]


def test_the_public_api_for_check_authors_is_pinned():
    # A name added or removed here is a change every instructor's checks.py sees.
    assert sorted(grader.api.__all__) == sorted(PUBLIC_API)
    for name in PUBLIC_API:
        assert getattr(grader.api, name) is not None


def _grade(folder: Path, assignment_path: str, backend=None) -> GradeReport:
    assignment = load_assignment(assignment_path)
    return trio.run(grade, load_submission(folder, assignment), assignment,
                    backend or LocalBackend())


def _not_passed(report: GradeReport) -> dict[str, str]:
    return {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS}


# --- the tutorial: an assignment entirely in its own folder ---------------------------

@pytest.fixture(scope="module")
def tutorial_reports(tmp_path_factory, backend):
    correct = UPPER / "reference" / "correct"
    faulty = tmp_path_factory.mktemp("upper") / "one-recv-per-line"
    shutil.copytree(correct, faulty)
    shutil.copytree(UPPER / "reference" / "faulty" / "one-recv-per-line", faulty,
                    dirs_exist_ok=True)
    return {"correct": _grade(correct, str(UPPER), backend),
            "faulty": _grade(faulty, str(UPPER), backend)}


def test_tutorial_assignment_grades_its_own_references(tutorial_reports):
    correct, faulty = tutorial_reports["correct"], tutorial_reports["faulty"]
    assert _not_passed(correct) == {}, [(c.id, c.summary) for c in correct.checks]
    assert _not_passed(faulty) == {"upper-split-line": "fail"}
    split = faulty.check("upper-split-line")
    assert "before the newline" in split.summary and "buffer" in split.hint
    # Its own concept travels in the report, beside the built-in ones its checks show.
    assert [c.id for c in faulty.catalogue] == ["Q1", "Q2", "Q3", "Q4", "U1"]
    assert faulty.concept("U1").title == "TCP is a byte stream"
    assert GradeReport.from_json(faulty.to_json()).catalogue == faulty.catalogue


def test_tutorial_imports_nothing_but_the_public_api():
    source = (UPPER / "checks.py").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("from ", "import "))]
    assert all(line.startswith(("from grader.api import", "import secrets"))
               for line in imports), imports


# --- grade new-assignment ---------------------------------------------------------------

def test_new_assignment_writes_a_starter_that_grades_at_once(tmp_path, capsys):
    folder = tmp_path / "my-echo"
    assert main(["new-assignment", str(folder)]) == 0
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "README.md", "assignment.toml", "checks.py", "reference/client.py",
        "reference/server.py"]
    assert f"grade {folder / 'reference'} --assignment {folder}" in capsys.readouterr().out
    report = _grade(folder / "reference", str(folder))
    assert report.assignment == "my-echo"
    assert _not_passed(report) == {}, [(c.id, c.summary) for c in report.checks]
    assert "echo-long-line" in [c.id for c in report.checks]


def test_new_assignment_leaves_out_the_bytecode_an_installed_grader_has(tmp_path,
                                                                      monkeypatch):
    """pip compiles the starter's .py files where it installs the grader: their
    __pycache__ is no part of the starter (it was read as UTF-8 text, and crashed)."""
    import grader.starter as starter

    files = tmp_path / "installed-starter"
    shutil.copytree(starter.FILES, files)
    (files / "__pycache__").mkdir()
    (files / "__pycache__" / "checks.cpython-311.pyc").write_bytes(b"\xa7\r\r\n\x00binary")
    (files / "reference" / "server.pyc").write_bytes(b"\xa7\x00")
    monkeypatch.setattr(starter, "FILES", files)
    written = starter.write_starter(tmp_path / "my-echo")
    assert sorted(str(p.relative_to(tmp_path / "my-echo")) for p in written) == [
        "README.md", "assignment.toml", "checks.py", "reference/client.py",
        "reference/server.py"]


def test_new_assignment_refuses_a_folder_with_files_and_a_bad_name(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["new-assignment", str(tmp_path / "taken")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert main(["new-assignment", str(tmp_path / "x"), "--name", "no spaces"]) == 2
    assert "cannot name an assignment" in capsys.readouterr().err


# --- an instructor's folder, wrong in every way a test can name ------------------------

@pytest.fixture
def own(tmp_path):
    """A copy of the starter to break."""
    folder = tmp_path / "own"
    main(["new-assignment", str(folder)])
    return folder


def _error(folder: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_assignment(str(folder))
    return str(caught.value)


def test_a_syntax_error_in_checks_py_names_the_file_and_line(own):
    (own / "checks.py").write_text("from grader.api import check\n\ndef broken(:\n")
    message = _error(own)
    assert "checks.py" in message and "line 3" in message


def test_checks_py_raising_on_import_names_the_line(own):
    (own / "checks.py").write_text("x = 1\nraise RuntimeError('oops')\n")
    message = _error(own)
    assert "line 2" in message and "RuntimeError: oops" in message


def test_a_check_may_not_take_a_built_in_id(own):
    (own / "checks.py").write_text(
        "from grader.api import check, passed\n"
        "@check('server-starts', title='mine')\n"
        "async def mine(ctx):\n    return passed('ok')\n")
    assert "built-in check's id" in _error(own)


@pytest.mark.parametrize(("replace", "by", "words"), [
    ("[checks.echo-long-line]", "[checks.echo-lng-line]",
     ("checks.echo-lng-line", "no such check")),
    ('protocol = "echo"', 'protocol = "ecoh"', ("protocol", "no protocol named 'ecoh'")),
    ("[roles.client]", "[roles.klient]",
     ("client-ephemeral-ports", "'client' role", "klient")),
])
def test_a_plan_naming_what_nothing_defines_names_the_key(own, replace, by, words):
    plan = own / "assignment.toml"
    plan.write_text(plan.read_text().replace(replace, by))
    message = _error(own)
    assert "assignment.toml" in message
    for word in words:
        assert word in message


def test_a_check_showing_an_unknown_concept_is_an_error(own):
    checks = own / "checks.py"
    checks.write_text(checks.read_text().replace('concepts=("Q1",)', 'concepts=("Q9",)'))
    message = _error(own)
    assert "echo-long-line" in message and "'Q9'" in message


def test_the_folders_own_concepts_are_read_strictly(own):
    (own / "concepts.toml").write_text('[E1]\ntitle = "t"\nquestion = "q"\n')
    message = _error(own)
    assert "concepts.toml" in message and "E1.idea" in message


def test_a_submission_names_only_the_roles_the_assignment_declares(own, tmp_path):
    submission = tmp_path / "submission"
    shutil.copytree(own / "reference", submission)
    (submission / "grade.toml").write_text('[proxy]\nrun = "./proxy {port}"\n')
    with pytest.raises(InputError) as caught:
        load_submission(submission, load_assignment(str(own)))
    assert "proxy" in str(caught.value) and "server, client" in str(caught.value)
