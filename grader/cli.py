"""The `grade` command line: parses arguments, calls the library, picks renderers and
maps the outcome to an exit status. Everything else lives in the library."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TextIO

import trio

from .arguments import STDOUT, add_engine_url, percent, positive_int, unwritable_reason
from .assignments import DEFAULT_ASSIGNMENT, bundled_names, load_assignment
from .batch.cluster_security import run_certs_command
from .batch.cluster_worker import remove_stale_scratch, run_worker_command
from .batch.command import run_batch_command
from .errors import BackendUnavailable, GraderError, exception_leaves
from .grading.runner import grade
from .inert import inert
from .integrations.commands import run_export, run_init_ci
from .loading.assignment import Assignment
from .loading.submission import load_submission
from .pod import BACKENDS, ENGINES, choose_backend, make_backend
from .report import FILE_FORMATS, github, gradescope, markdown, terminal
from .results import GradeReport, student_view
from .starter import write_starter

EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_GRADER_PROBLEM, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

DESCRIPTION = """\
Grade a student's TCP server and client. The grader runs them in a private loopback
network (a pod), drives them with its own probe, and reports which socket ideas of the
ports quiz (Q1..Q5) the code shows: many clients on one port, four-tuples, ephemeral
ports, TIME_WAIT and SO_REUSEADDR."""

EPILOG = """\
A submission folder named like a command (concepts, batch, ...) is graded when given as
a path: grade ./concepts. Bare `grade concepts` runs the command.

Report options take - for stdout (one of them at most): the terminal report then goes to
stderr, with the GitHub annotations, so stdout holds the report alone.

other commands:
  grade concepts [Q]       the quiz's ideas and which checks show each
  grade cleanup [--all]    remove containers left by crashed grading runs
  grade batch DIR --out R  grade a whole class (see grade batch --help)
  grade worker --scheduler tls://HOST:8786 --certs DIR --pods N
                           a grading worker for batches on a Dask cluster
  grade cluster-certs DIR  the CA, certificates and results key such a cluster needs
  grade init-ci            write a GitHub Actions workflow into a student repository
  grade new-assignment DIR write a starter folder for an assignment of your own
  grade export gradescope  write a Gradescope autograder zip
  grade export gradebook   a batch's grades for Canvas, Moodle or CSV (see grade export -h)

exit status: 0 when the score reaches --fail-under (default: the full score),
1 when it does not, 2 for bad input or an unusable backend, 3 when the grader could
not run a check (a grader problem: that check is left out of the maximum), 130 when
interrupted.
Checks the assignment hides from students (visibility) are one line each, and the
score and the exit status count only the checks shown; --json has everything.

in GitHub Actions: with GITHUB_STEP_SUMMARY set, the Markdown report is appended to
that file; with GITHUB_ACTIONS set, checks that lost points are printed as annotations.

examples:
  grade submission/                          grade with the default (echo) assignment
  grade submission/ --json report.json       also write the JSON report
  grade submission/ --html report.html       also write the report as a page, with pictures
  grade submission/ --clients 2000           a harder concurrency check
  grade submission/ --assignment my-course/echo-v2   an instructor's own assignment
"""


FORMAT_NAMES = {"json": "JSON", "junit": "JUnit XML", "gradescope": "Gradescope (results.json)",
                "markdown": "Markdown", "html": "HTML"}


def _grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("submission", help="folder holding the server and the client "
                        "(and optionally a grade.toml saying how to build and run them); one named "
                        "like a command is graded as a path: ./concepts")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME|PATH",
                        help="a bundled assignment (%(choices)s) or the folder of your own "
                        "(default: %(default)s)".replace("%(choices)s",
                                                         ", ".join(bundled_names())))
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="where programs run: docker or podman (sandboxed pods), local "
                        "(plain processes, not sandboxed), or auto: docker when a daemon "
                        "answers, else podman when its service answers, else local "
                        "(default: %(default)s)")
    add_engine_url(parser)
    parser.add_argument("--run-as", metavar="USER",
                        help="local backend, as root: run the student's programs as USER, "
                        "and kill every process of USER once the builds are done and again "
                        "when the grading ends (give a user that runs nothing else; "
                        "Gradescope's export does)")
    parser.add_argument("--image", help="container image for the pod (default: the "
                        "assignment's, or $SOCKET_GRADER_IMAGE)")
    parser.add_argument("--clients", type=positive_int, metavar="N",
                        help="connections held open at once in server-concurrency "
                        "(default: the assignment's)")
    parser.add_argument("--fail-under", type=percent, default=100.0, metavar="PERCENT",
                        help="exit 0 when the score is at least PERCENT (0..100) of the "
                        "maximum (default: %(default)g)")
    for name in FILE_FORMATS:
        parser.add_argument(f"--{name}", metavar="FILE",
                            help=f"also write the {FORMAT_NAMES[name]} report to FILE "
                            "(- for stdout)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the total line")
    return parser


def _version() -> str:
    try:
        version = metadata.version("socket-grader")
    except metadata.PackageNotFoundError:  # Gradescope's export runs grader/ uninstalled
        version = "(not installed as a package)"
    return f"grade (socket-grader) {version}"


def run_grade(argv: Sequence[str]) -> int:
    parser = _grade_parser()
    args = parser.parse_args(argv)
    _check_report_targets(parser, args)
    try:
        return _grade(args)
    except BaseException as exc:
        if args.gradescope is not None:  # Gradescope shows a run without one as "failed"
            reason = _usage_error(exc)
            _write_report(args.gradescope, gradescope.not_graded(reason) if reason
                          else gradescope.grader_crashed(traceback.format_exc()))
        raise


def _check_report_targets(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Before any grading: a typo in a report's path must not cost a whole run."""
    targets = {f"--{name}": getattr(args, name) for name in FILE_FORMATS
               if getattr(args, name) is not None}
    to_stdout = [option for option, target in targets.items() if target == STDOUT]
    if len(to_stdout) > 1:
        parser.error(f"{' and '.join(to_stdout)} both ask for stdout (-): give all but "
                     "one of them a file")
    for option, target in targets.items():
        reason = unwritable_reason(target)
        if reason is not None:
            parser.error(f"{option} {inert(target)}: cannot write the report there: {reason}")


def _grade(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment)
    if args.clients:
        assignment = assignment.with_params("server-concurrency", clients=args.clients)
    submission = load_submission(args.submission, assignment)
    image = args.image or os.environ.get("SOCKET_GRADER_IMAGE")
    backend, notice = choose_backend(args.backend, assignment, image, args.engine_url,
                                     args.run_as)
    # With a report on stdout, the terminal's goes to stderr so that stdout holds it alone.
    to_stdout = STDOUT in (getattr(args, name) for name in FILE_FORMATS)
    out = sys.stderr if to_stdout else sys.stdout
    live = terminal.LiveTerminal(out, terminal.wants_colour(out))
    if notice:
        print(f"notice: {notice}", file=sys.stderr)
    if not args.quiet:
        live.say(terminal.header(assignment.name, args.submission, backend.name))
    report = trio.run(grade, submission, assignment, backend, None if args.quiet else live)
    if args.quiet:
        live.say(terminal.conclusion(report, live.style).rsplit("\n", 1)[-1])
    else:
        live.say("\n" + terminal.conclusion(report, live.style, grader_frames=True))
    _write_files(report, args)
    _github_actions(report, out)
    # What the student sees decides: an exit status from hidden checks would tell of them.
    shown = student_view(report)
    if shown.left_out:
        return EXIT_GRADER_PROBLEM
    return EXIT_OK if shown.percent >= args.fail_under else EXIT_BELOW


def _write_files(report: GradeReport, args: argparse.Namespace) -> None:
    for name, render in FILE_FORMATS.items():
        target = getattr(args, name)
        if target is not None:
            _write_report(target, render(report))


def _github_actions(report: GradeReport, out: TextIO) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as stream:
                stream.write(markdown.render(report))
        except OSError as exc:
            raise GraderError(f"{summary}: cannot append the step summary: "
                              f"{exc.strerror}") from None
    if os.environ.get("GITHUB_ACTIONS"):  # the runner reads commands on stderr too
        print(github.annotations(report), end="", file=out, flush=True)


def _write_report(target: str, text: str) -> None:
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _write_atomically(Path(target), text)


def _write_atomically(target: Path, text: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        raise GraderError(f"{target}: cannot write the report: {exc.strerror}") from None


def run_concepts(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="grade concepts",
                                     description="An assignment's ideas (for the bundled "
                                     "ones: the ports quiz's), in the project's words, and "
                                     "the checks that show each.")
    parser.add_argument("concept", nargs="?", help="one concept's id, e.g. Q2 (default: all)")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME|PATH",
                        help="whose concepts (default: %(default)s)")
    args = parser.parse_args(argv)
    assignment = load_assignment(args.assignment)
    catalogue = assignment.concepts
    if args.concept:
        catalogue = tuple(c for c in catalogue if c.id.lower() == args.concept.lower())
        if not catalogue:
            known = ", ".join(c.id for c in assignment.concepts)
            raise GraderError(f"no concept {args.concept!r} in {assignment.name}: choose one "
                              f"of {known}")
    print(terminal.concepts_page(catalogue, (p.check for p in assignment.checks)), end="")
    return EXIT_OK


def run_cleanup(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade cleanup",
        description="Remove the containers and volumes of grading runs whose grader is gone "
        "(crashed or killed), on Docker and on Podman, and the scratch space of grading "
        "workers (`grade worker`) that died. Runs still in progress are left alone unless "
        "--all.")
    parser.add_argument("--all", action="store_true",
                        help="remove every socket-grader container and volume, even of "
                        "runs in progress")
    parser.add_argument("--backend", choices=("auto", *ENGINES), default="auto",
                        help="the engine to clean (default: every engine that answers)")
    add_engine_url(parser)
    args = parser.parse_args(argv)
    from .pod.docker import DockerBackend

    scratch = remove_stale_scratch()
    if scratch:
        print(f"removed {scratch} scratch folder(s) of grading workers that are gone")
    assignment = load_assignment(DEFAULT_ASSIGNMENT)
    engines = ENGINES if args.backend == "auto" else (args.backend,)
    cleaned = 0
    for name in engines:
        backend = make_backend(name, assignment, engine_url=args.engine_url)
        reason = backend.unavailable_reason(image=False)
        if reason is not None:
            if args.backend != "auto":
                raise BackendUnavailable(reason)
            print(f"{name}: skipped: {reason}")
            continue
        assert isinstance(backend, DockerBackend)  # every engine's backend is one
        containers, volumes = backend.remove_leftovers(everything=args.all)
        print(f"{name} ({backend.engine_url}): removed {containers} container(s) and "
              f"{volumes} volume(s)")
        cleaned += 1
    if not cleaned:
        raise BackendUnavailable("no container engine answered: nothing to clean")
    return EXIT_OK


def run_new_assignment(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="grade new-assignment",
        description="Write a starter assignment folder: the plan (assignment.toml: "
        "built-in checks and one of its own), the student's handout (README.md), an "
        "example check written against grader.api (checks.py), and a reference solution "
        "(reference/) that passes every check. Adapt it, then grade with "
        "--assignment DIR. See docs/writing-an-assignment.md.")
    parser.add_argument("folder", type=Path, metavar="DIR", help="where to write it")
    parser.add_argument("--name", help="the assignment's name (default: DIR's name)")
    parser.add_argument("--title", help="its title, as reports show it")
    parser.add_argument("--force", action="store_true",
                        help="write into DIR even when it holds files")
    args = parser.parse_args(argv)
    written = write_starter(args.folder, args.name, args.title, args.force)
    for path in written:
        print(f"wrote {path}")
    print(f"\nnext: grade {args.folder / 'reference'} --assignment {args.folder}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "new-assignment": run_new_assignment,
    "cleanup": run_cleanup,
    "concepts": run_concepts, "init-ci": run_init_ci, "export": run_export,
    "batch": run_batch_command, "worker": run_worker_command,
    "cluster-certs": run_certs_command}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    if command and Path(argv[0]).is_dir():
        print(f"notice: running the command `grade {argv[0]}`; to grade the folder "
              f"{argv[0]}, run `grade ./{argv[0]}`", file=sys.stderr)
    try:
        return command(argv[1:]) if command else run_grade(argv)
    except BaseException as exc:
        # trio's nurseries wrap what their tasks raised in exception groups.
        leaves = list(exception_leaves(exc))
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            print("grade: interrupted; every program and pod of this run was stopped",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        reason = _usage_error(exc)
        if reason is not None:
            print(f"grade: error: {reason}", file=sys.stderr)
            return EXIT_USAGE
        raise


def _usage_error(exc: BaseException) -> str | None:
    """What to tell the user when `exc` is bad input or an unusable backend (every
    exception in it a GraderError: exit status 2); None for anything else (a crash)."""
    leaves = list(exception_leaves(exc))
    if leaves and all(isinstance(leaf, GraderError) for leaf in leaves):
        return inert(str(leaves[0]))
    return None




def entry_point() -> None:
    sys.exit(main())


__all__ = ["Assignment", "main"]
