"""`grade init-ci`: the GitHub Actions workflow that grades a student repository on
every push, with the Docker backend (GitHub's Ubuntu runners have Docker)."""

from __future__ import annotations

from pathlib import Path

from ..assignments import bundled_names
from ..errors import GraderError

WORKFLOW_PATH = Path(".github/workflows/grade.yml")
PLACEHOLDER_URL = "https://github.com/YOUR-COURSE/socket-grader.git"

TEMPLATE = """\
# Grades this repository's TCP server and client with socket-grader on every push.
# Written by `grade init-ci --assignment {assignment}`.
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
        run: >-
          python -m pip install --src "$RUNNER_TEMP/grader-src"
          -e "git+$GRADER_GIT_URL@$GRADER_REF#egg=socket-grader"

      - name: Pull the pod image
        run: docker pull "$SOCKET_GRADER_IMAGE"

      - name: Grade
        # Its exit status is the job's: 0 when the score reaches FAIL_UNDER.
        run: >-
          grade . --assignment {assignment} --backend docker
          --fail-under "$FAIL_UNDER" --junit grade-results.xml

      - name: Upload the JUnit report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: grade-results
          path: grade-results.xml
          if-no-files-found: warn
"""


def workflow_text(assignment: str, grader_url: str = PLACEHOLDER_URL) -> str:
    """The workflow for a bundled assignment (the runner installs the grader fresh, so
    only the assignments it ships with exist there)."""
    if assignment not in bundled_names():
        raise GraderError(f"init-ci needs the name of a bundled assignment "
                          f"({', '.join(bundled_names())}), not {assignment!r}: the CI "
                          "runner installs the grader, and only those come with it")
    return TEMPLATE.format(assignment=assignment, grader_url=grader_url)


def write_workflow(repository: Path, assignment: str, *, force: bool = False) -> Path:
    """Write the workflow into `repository`; an existing one only with `force`."""
    if not repository.is_dir():
        raise GraderError(f"{repository}: no such folder")
    target = repository / WORKFLOW_PATH
    if target.exists() and not force:
        raise GraderError(f"{target} exists; use --force to replace it")
    text = workflow_text(assignment)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"{target}: cannot write the workflow: {exc.strerror}") from None
    return target
