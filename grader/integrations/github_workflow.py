"""`grade init-ci`: the GitHub Actions workflow that grades a student repository on
every push, with the Docker backend (GitHub's Ubuntu runners have Docker).

Two runners for the grading step: `grade` (the default) or `pytest --grade` (the pytest
plugin: the same checks and verdicts as pytest items; run from outside the repository).
"""

from __future__ import annotations

from pathlib import Path

from ..assignments import bundled_names
from ..errors import GraderError

WORKFLOW_PATH = Path(".github/workflows/grade.yml")
PLACEHOLDER_URL = "https://github.com/YOUR-COURSE/socket-grader.git"

TEMPLATE = """\
# Grades this repository's TCP server and client with socket-grader on every push.
# Written by `grade init-ci --assignment {assignment}{runner_option}`.
#
# The job fails when the score is below FAIL_UNDER percent of the maximum. The JUnit
# report is uploaded as the artifact "grade-results"; the per-check table and the quiz
# concepts (Q1..Q5) appear on the run's summary page, failed checks as annotations.
name: grade

"on":
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

env:
  # >>> CHANGE ME: the git URL of your course's copy of socket-grader. <<<
  GRADER_GIT_URL: "{grader_url}"
  # The branch or tag of socket-grader to install.
  GRADER_REF: "main"
  # The Docker image for the grading pod: needs python3 (gcc and make for C code).
  SOCKET_GRADER_IMAGE: "python:3.12-bookworm"
  # Pass when the score is at least this percent of the maximum.
  FAIL_UNDER: "100"

jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - name: Check out the submission
        uses: actions/checkout@v4

      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.12"

      - name: Install the grader
        # Editable, so the grader finds its bundled assignments in its source folder.
        # From outside the repository: `python -m` imports from its working directory,
        # and a student's pip/ folder there would run in place of pip.
        working-directory: ${{{{ runner.temp }}}}
        run: >-
          python -m pip install --src "$RUNNER_TEMP/grader-src"
          -e "git+$GRADER_GIT_URL@$GRADER_REF#egg=socket-grader"
{install_pytest}
      - name: Pull the pod image
        run: docker pull "$SOCKET_GRADER_IMAGE"

{grade_step}
      - name: Upload the JUnit report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: grade-results
          path: grade-results.xml
          if-no-files-found: warn
"""


RUNNERS = ("grade", "pytest")

GRADE_STEP = """\
      - name: Grade
        # Its exit status is the job's: 0 when the score reaches FAIL_UNDER.
        run: >-
          grade . --assignment {assignment} --backend docker
          --fail-under "$FAIL_UNDER" --junit grade-results.xml
"""

PYTEST_INSTALL = """\
      - name: Install pytest
        working-directory: ${{ runner.temp }}
        run: python -m pip install "pytest>=8"
"""

# pytest runs from the runner's temporary folder with a configuration file of its own
# (-c /dev/null): nothing of the repository takes part (no pytest.ini, conftest.py, test
# file, or module shadowing the grader's; the plugin refuses the rest, isolation.py).
# Only the assignment's own tests run after the checks, in the same pod.
PYTEST_STEP = """\
      - name: Grade
        # pytest --grade: one test per check. Its exit status is the job's: 0 when the
        # score reaches FAIL_UNDER and no other test failed.
        working-directory: ${{{{ runner.temp }}}}
        run: >-
          pytest -c /dev/null --rootdir . --grade "$GITHUB_WORKSPACE"
          --grade-assignment {assignment} --grade-backend docker
          --grade-fail-under "$FAIL_UNDER" --junitxml "$GITHUB_WORKSPACE/grade-results.xml"
          -p no:cacheprovider
"""


def workflow_text(assignment: str, grader_url: str = PLACEHOLDER_URL,
                  runner: str = "grade") -> str:
    """The workflow for a bundled assignment (the runner installs the grader fresh, so
    only the assignments it ships with exist there), grading with `runner`."""
    if assignment not in bundled_names():
        raise GraderError(f"init-ci needs the name of a bundled assignment "
                          f"({', '.join(bundled_names())}), not {assignment!r}: the CI "
                          "runner installs the grader, and only those come with it")
    if runner not in RUNNERS:
        raise GraderError(f"init-ci --runner: {runner!r} is not one of {', '.join(RUNNERS)}")
    pytest = runner == "pytest"
    return TEMPLATE.format(
        assignment=assignment, grader_url=grader_url,
        runner_option=" --runner pytest" if pytest else "",
        install_pytest="\n" + PYTEST_INSTALL if pytest else "",
        grade_step=(PYTEST_STEP if pytest else GRADE_STEP).format(assignment=assignment))


def write_workflow(repository: Path, assignment: str, *, force: bool = False,
                   runner: str = "grade") -> Path:
    """Write the workflow into `repository`; an existing one only with `force`."""
    if not repository.is_dir():
        raise GraderError(f"{repository}: no such folder")
    target = repository / WORKFLOW_PATH
    if target.exists() and not force:
        raise GraderError(f"{target} exists; use --force to replace it")
    text = workflow_text(assignment, runner=runner)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"{target}: cannot write the workflow: {exc.strerror}") from None
    return target
