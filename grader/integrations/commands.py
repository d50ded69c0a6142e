"""The `grade init-ci` and `grade export` (gradescope, gradebook) commands: parse
arguments, call the library, say what it wrote.

Errors are GraderErrors; `grade` prints them on one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..assignments import DEFAULT_ASSIGNMENT, load_assignment
from ..term.gradebook import FORMATS, MISSING, export_gradebook, save_gradebook
from ..term.roster import load_roster
from .github_workflow import RUNNERS, write_workflow
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
    parser.add_argument("--runner", choices=RUNNERS, default="grade",
                        help="the grading step: grade (the report as `grade` prints it), or "
                        "pytest (`pytest --grade .`: one test per check, and the "
                        "repository's own tests after them, in the same pod) "
                        "(default: %(default)s)")
    args = parser.parse_args(argv)
    target = write_workflow(args.dir, args.assignment, force=args.force, runner=args.runner)
    print(f"wrote {target}: set GRADER_GIT_URL at its top, then commit and push it")
    return 0


EXPORT_EPILOG = """\
gradebook: the roster (--roster) is a CSV file with a header row; columns in any order,
names matched without regard to case or spaces, other columns ignored (so an LMS's own
gradebook export with a student_id column added works):
  student_id      required: the batch's student id (a submission's folder or archive name)
  name            the student's name (or Student, Full name, First name + Last name)
  canvas_id       Canvas's user ID (the column ID of Canvas's export)
  sis_user_id     Canvas's SIS User ID          sis_login_id   Canvas's SIS Login ID
  section         Canvas's Section
  username, idnumber, email                     Moodle's user identifiers
Canvas needs canvas_id, sis_user_id or sis_login_id on every row; Moodle one of
username, idnumber or email filled on every row (in Moodle's import, "Map from" that
column "Map to" username, useridnumber or useremail).

Every roster student gets a row. A graded student gets the score. One with no
submission gets an empty cell, or 0 with --missing zero. One whose grading failed
(status error in grades.csv) or did not finish gets an empty cell whatever --missing
says, and is listed on stderr for you to look at. Submissions not on the roster are not
in the file and are listed on stderr.

examples:
  grade export gradescope --assignment echo
  grade export gradebook results/ --format canvas --roster roster.csv \\
      --column "Echo (12345)" --out canvas-grades.csv
  grade export gradebook results/ --format moodle --roster roster.csv \\
      --missing zero --concepts --out moodle-grades.csv
"""


def run_export(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade export", epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Files for a learning platform:\n"
        "  gradescope  the grader packaged as a Gradescope autograder (a zip)\n"
        "  gradebook   a batch's grades as a file Canvas or Moodle imports into its\n"
        "              gradebook, or a plain CSV for any other LMS\n"
        "See grade export gradescope -h and grade export gradebook -h.")
    platforms = parser.add_subparsers(dest="platform", required=True, metavar="WHAT")
    gradescope = platforms.add_parser(
        "gradescope", help="the autograder zip for a Gradescope programming assignment",
        description="The autograder zip (setup.sh, run_autograder, the grader's source and "
        "the assignment) to upload as a Gradescope programming assignment's autograder. "
        "Gradescope has no Docker: submissions run with the local backend inside "
        "Gradescope's container.")
    gradescope.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME|PATH",
                            help="a bundled assignment or the folder of your own "
                            "(default: %(default)s)")
    gradescope.add_argument("--out", type=Path, metavar="FILE.zip",
                            help="where to write the zip (default: gradescope-NAME.zip)")
    gradebook = platforms.add_parser(
        "gradebook", help="a batch's grades for the LMS gradebook (Canvas, Moodle, CSV)",
        epilog=EXPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write the grades of a `grade batch` results folder as a file for\n"
        "the LMS's gradebook import: one row per student of the roster.")
    gradebook.add_argument("results", type=Path, metavar="RESULTS",
                           help="the folder `grade batch --out` wrote")
    gradebook.add_argument("--format", required=True, choices=FORMATS,
                           help="canvas: Canvas's gradebook CSV (Student, ID, SIS User ID, "
                           "SIS Login ID, Section, the assignment, a Points Possible row); "
                           "moodle: for Moodle's CSV grade import; csv: a plain table")
    gradebook.add_argument("--roster", required=True, type=Path, metavar="ROSTER.csv",
                           help="maps the batch's student ids to the LMS's (see below)")
    gradebook.add_argument("--out", required=True, type=Path, metavar="FILE",
                           help="where to write the file")
    gradebook.add_argument("--missing", choices=MISSING, default="empty",
                           help="the cell of a roster student with no submission "
                           "(default: %(default)s)")
    gradebook.add_argument("--concepts", action="store_true",
                           help="add a column per quiz concept Q1..Q5: 1 shown, 0.5 partly "
                           "shown, 0 not shown, empty not tested")
    gradebook.add_argument("--column", metavar="TITLE",
                           help="the grade column's title; for Canvas `Name (ID)` with the "
                           "assignment's ID from its URL, so Canvas matches it (default: "
                           "the assignment's name)")
    args = parser.parse_args(argv)
    if args.platform == "gradebook":
        return _export_gradebook(args)
    assignment = load_assignment(args.assignment)
    target = args.out or Path(f"gradescope-{assignment.name}.zip")
    write_autograder_zip(assignment, target)
    print(f"wrote {target}: upload it as the autograder of a Gradescope programming "
          "assignment (Ubuntu base image)")
    return 0


def _export_gradebook(args: argparse.Namespace) -> int:
    roster = load_roster(args.roster)
    export = export_gradebook(args.results, roster, args.format, missing=args.missing,
                              concepts=args.concepts, column=args.column)
    save_gradebook(export, args.out)
    for line in export.warnings():
        print(f"grade: warning: {line}", file=sys.stderr)
    cell = "0" if args.missing == "zero" else "empty"
    print(f"wrote {args.out} ({args.format}): {export.rows} students of the roster, "
          f"{len(export.graded)} graded, {len(export.missing)} without a submission "
          f"({cell}), {len(export.ungraded)} not graded (empty)")
    return 0
