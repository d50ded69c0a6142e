"""The `grade init-ci` and `grade export` commands: parse arguments, call the library.

Errors are GraderErrors; `grade` prints them on one line and exits with status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ..loading.assignment import DEFAULT_ASSIGNMENT, load_assignment
from .github_workflow import write_workflow
from .gradescope_zip import write_autograder_zip


def run_init_ci(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade init-ci",
        description="Write .github/workflows/grade.yml into a student repository: on every "
        "push GitHub installs the grader, grades the repository with the Docker backend, "
        "shows the checks and quiz concepts on the run's page and uploads the JUnit report. "
        "Edit GRADER_GIT_URL at the top of the file to point at your course's copy.")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME",
                        help="a bundled assignment (default: %(default)s)")
    parser.add_argument("--dir", type=Path, default=Path("."), metavar="REPOSITORY",
                        help="the repository's top folder (default: the current folder)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing workflow file")
    args = parser.parse_args(argv)
    target = write_workflow(args.dir, args.assignment, force=args.force)
    print(f"wrote {target}: set GRADER_GIT_URL at its top, then commit and push it")
    return 0


def run_export(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade export",
        description="Package the grader for a learning platform. `gradescope`: the "
        "autograder zip (setup.sh, run_autograder, the grader's source and the assignment) "
        "to upload as a Gradescope programming assignment's autograder. Gradescope has no "
        "Docker: submissions run with the local backend inside Gradescope's container.")
    parser.add_argument("platform", choices=("gradescope",))
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME|PATH",
                        help="a bundled assignment or the folder of your own "
                        "(default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="FILE.zip",
                        help="where to write the zip (default: gradescope-NAME.zip)")
    args = parser.parse_args(argv)
    assignment = load_assignment(args.assignment)
    target = args.out or Path(f"gradescope-{assignment.name}.zip")
    write_autograder_zip(assignment, target)
    print(f"wrote {target}: upload it as the autograder of a Gradescope programming "
          "assignment (Ubuntu base image)")
    return 0
