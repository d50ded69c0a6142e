"""Nothing of the submission takes part in `pytest --grade DIR`'s session.

A student who writes a `conftest.py`, a test file or pytest's settings into their folder
could otherwise make pytest report what they like (a hook wrapper turning every failed
check into a pass) or run code of theirs on the machine that runs pytest. So with
`--grade`, before pytest loads its first conftest.py (pytest_load_initial_conftests,
which pytest calls after reading its settings and loading the installed plugins):

- pytest looks for conftest.py files only in the assignment's folder (its anchor and
  confcutdir are the assignment's), and collects only the assignment's `tests/`, never
  the current folder or `testpaths`: the submission's and its neighbours' (another
  student's, in a course folder) conftest.py and test files are never imported;
- pytest must not have read its settings (addopts, pythonpath, plugins) from a file in
  the submission, nor may a folder of the submission be on Python's import path (where
  `python -m pytest` run inside it puts it: its modules would be imported in place of
  the grader's and pytest's), nor may test paths be given (only the plan and the
  assignment's tests run): any of these is refused with a usage error saying how to run
  it instead, never graded.

What stays out of reach of this plugin: settings that disable it before it loads (an
ini file's `addopts = -p no:grader.pytest_plugin` read from the submission, with a
conftest.py of theirs answering `--grade`). Only the command line can keep those out,
by running pytest from a folder outside the submission with a configuration file of its
own (`-c /dev/null`): see SAFE_COMMAND.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

INSTRUCTOR_TESTS = "tests"  # the assignment folder's subfolder of pytest tests

SAFE_COMMAND = ("run pytest from a folder outside the submission, with no configuration "
                "file of the submission's: `cd /tmp && pytest -c /dev/null --rootdir . "
                "--grade {folder} ...`, or grade with `grade {folder} --junit FILE`")


def instructor_tests(assignment_folder: Path) -> Path | None:
    """The assignment's own pytest tests, when it has any."""
    folder = assignment_folder / INSTRUCTOR_TESTS
    return folder if folder.is_dir() else None


def confine(early_config: pytest.Config, submission: Path, assignment_folder: Path) -> None:
    """Refuse a session where the submission could take part; otherwise make pytest load
    conftest.py files from the assignment's folder only. `submission` is resolved."""
    namespace = early_config.known_args_namespace
    refusal = _refusal(early_config, submission, assignment_folder, namespace.file_or_dir)
    if refusal:
        raise pytest.UsageError(f"socket-grader: {refusal}")
    # pytest's own pytest_load_initial_conftests (trylast) reads these two next.
    namespace.file_or_dir = [str(instructor_tests(assignment_folder) or assignment_folder)]
    namespace.confcutdir = str(assignment_folder)


def _refusal(early_config: pytest.Config, submission: Path, assignment_folder: Path,
             test_paths: list[str]) -> str:
    """Why the submission could take part in this session, and what to do instead ("" when
    it cannot take part)."""
    safe_command = SAFE_COMMAND.format(folder=submission)
    inipath = early_config.inipath
    if inipath is not None and _within(inipath.resolve(), submission):
        return (f"pytest read its settings from {inipath}, a file of the submission (its "
                f"addopts, pythonpath or plugins could change or fake the grading); "
                f"{safe_command}")
    # Entries that are no folder or archive (an editable install's path hook) import nothing.
    on_path = next((entry for entry in sys.path if Path(entry).exists()
                    and _within(Path(entry).resolve(), submission)), None)
    if on_path is not None:
        return (f"{on_path or '.'} is on Python's import path (python -m pytest puts the "
                "current folder there): modules of the submission would be imported in "
                f"place of the grader's; {safe_command}")
    if test_paths:
        return (f"pytest --grade runs the assignment's checks and its {INSTRUCTOR_TESTS}/ "
                f"only, not the test paths given ({' '.join(test_paths)}): put tests of "
                f"your own in the assignment's {INSTRUCTOR_TESTS}/ folder")
    assignment = assignment_folder.resolve()
    if _within(assignment, submission) or _within(submission, assignment):
        return (f"the assignment's folder {assignment_folder} and the submission overlap: "
                "keep the assignment, its checks and tests, out of the student's folder")
    return ""


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
