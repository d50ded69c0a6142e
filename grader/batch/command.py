"""`grade batch SUBMISSIONS_DIR --out RESULTS_DIR`: a whole class in one command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from ..arguments import add_engine_url, positive_int
from ..assignments import DEFAULT_ASSIGNMENT, bundled_names, load_assignment
from ..errors import GraderError
from ..inert import inert
from ..pod import BACKENDS, choose_backend
from .cluster_security import check_address, is_tls
from .discover import MAX_BYTES, MAX_FILES
from .progress import PlainProgress, RichProgress
from .run import SIMILARITY_TIMEOUT, BatchOptions, default_jobs, run_batch

DESCRIPTION = """\
Grade a whole class. Each subfolder, .zip or .tar.gz archive of SUBMISSIONS_DIR is one
student (the name without extension is the student's id; a student with both a folder
and an archive stops the batch before any grading, naming both). Writes per student
students/<id>/report.json and feedback, and for the class grades.csv, summary.json and
report.html into RESULTS_DIR. Running it again skips students already complete
(--force grades everyone again, --only some of them), so an interrupted batch is finished
by running it again. A student graded again keeps the earlier result in
students/<id>/history/; regrade.csv and report.html say whose grade changed. At the end
the submissions are compared for similar code (similarity.csv; needs copydetect).
With --cluster, the gradings run on the workers of a Dask cluster (`grade worker` on each
machine) over TLS with the certificates of `grade cluster-certs` (--certs; tcp:// only
with --insecure); the results are written here all the same."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade batch", description=DESCRIPTION)
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="RESULTS_DIR",
                        help="where results go (made if missing)")
    parser.add_argument("--jobs", type=positive_int, metavar="N",
                        help="gradings at once, each in its own pod (default: "
                        f"{default_jobs()}: four per CPU, at most one per GiB of memory: a "
                        "grading mostly waits on its programs, and no verdict depends on the "
                        "machine's load; with "
                        "--cluster: every pod of the workers)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="grade on the workers of the Dask scheduler at ADDRESS, e.g. "
                        "tls://10.0.0.5:8786 (needs socket-grader[cluster] and --certs)")
    parser.add_argument("--certs", type=Path, metavar="DIR",
                        help="with --cluster: the folder `grade cluster-certs` made (the "
                        "CA, the coordinator's certificate, the results key)")
    parser.add_argument("--insecure", action="store_true",
                        help="with --cluster: accept a tcp:// scheduler: no encryption, and "
                        "anyone who reaches it runs code on the workers and can send back "
                        "grades (a network only you reach)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="docker or podman (sandboxed pods), local (plain processes, NOT "
                        "sandboxed), or auto: docker, else podman; auto refuses to fall back "
                        "to local for a batch, since it runs other people's code "
                        "(default: auto)")
    add_engine_url(parser)
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, metavar="NAME|PATH",
                        help=f"a bundled assignment ({', '.join(bundled_names())}) or the "
                        "folder of your own (default: %(default)s)")
    parser.add_argument("--image", help="container image for the pods")
    parser.add_argument("--clients", type=positive_int, metavar="N",
                        help="connections held open at once in server-concurrency "
                        "(default: the assignment's)")
    parser.add_argument("--force", action="store_true",
                        help="grade every student again, even those already complete")
    parser.add_argument("--retry-errors", action="store_true",
                        help="grade again the students whose result is an error")
    parser.add_argument("--only", action="append", metavar="STUDENT,...",
                        help="grade again these students and no one else: a grade inquiry. "
                        "Ids separated by commas, or repeat the option; a value that is a "
                        "student's whole id names that student, so --only 'Liddell, Alice' "
                        "names one student if that is an id")
    parser.add_argument("--similarity-timeout", type=float, default=SIMILARITY_TIMEOUT,
                        metavar="SECONDS", help="stop comparing the submissions for similar "
                        "code after this long (default: %(default)g)")
    parser.add_argument("--no-similarity", action="store_true",
                        help="do not compare the submissions (an earlier similarity.csv is "
                        "left as it was)")
    parser.add_argument("--student-timeout", type=float, metavar="SECONDS",
                        help="stop one student's grading after this long (default: the "
                        "assignment's limits added up)")
    parser.add_argument("--max-size", type=float, default=MAX_BYTES / 2**20, metavar="MIB",
                        help="largest unpacked archive (default: %(default)g MiB)")
    parser.add_argument("--max-files", type=positive_int, default=MAX_FILES, metavar="N",
                        help="most entries in an archive (default: %(default)s)")
    return parser


def _cluster_backend(args: argparse.Namespace) -> str:
    """The backend the workers use: each checks it on its own machine (`auto`: Docker,
    else Podman, never the local backend), with its own engine address."""
    check_address(args.cluster, args.insecure)
    if args.certs is None:
        raise GraderError("--cluster needs --certs DIR, the folder `grade cluster-certs "
                          "DIR` made (README, Grading on several machines)")
    if args.engine_url:
        raise GraderError("--engine-url names this machine's engine; with --cluster each "
                          "worker uses its own (set DOCKER_HOST or CONTAINER_HOST where it "
                          "runs)")
    return args.backend


def _only(values: list[str] | None) -> tuple[str, ...]:
    """--only's values as given: which students they name is known once the submissions
    are found (Discovery.chosen), since a value may be an id with a comma in it."""
    if values is not None and not any(name.strip() for value in values
                                      for name in value.split(",")):
        raise GraderError("--only: name at least one student")
    return tuple(values or ())


def run_batch_command(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    only = _only(args.only)
    if args.similarity_timeout <= 0:
        raise GraderError("--similarity-timeout: a number of seconds above 0 (to skip the "
                          "comparison: --no-similarity)")
    assignment = load_assignment(args.assignment)
    if args.clients:
        assignment = assignment.with_params("server-concurrency", clients=args.clients)
    image = args.image or os.environ.get("SOCKET_GRADER_IMAGE")
    if args.cluster:
        backend_name = _cluster_backend(args)
    else:
        backend, notice = choose_backend(args.backend, assignment, image, args.engine_url)
        if not backend.sandboxed and args.backend == "auto":
            raise GraderError(f"{notice}. A batch runs other people's code: start Docker "
                              "or Podman, or pass --backend local to run it unsandboxed "
                              "anyway")
        if notice:
            print(f"notice: {notice}", file=sys.stderr)
        # Each grading's worker process must find the same engine this one found.
        os.environ.update(backend.environment())
        backend_name = backend.name
    options = BatchOptions(backend=backend_name, jobs=args.jobs or default_jobs(),
                           image=image,
                           force=args.force, retry_errors=args.retry_errors,
                           student_timeout=args.student_timeout,
                           max_bytes=int(args.max_size * 2**20), max_files=args.max_files,
                           only=only, similarity_timeout=None if args.no_similarity
                           else args.similarity_timeout)
    if sys.stdout.isatty():
        from rich.console import Console

        progress: PlainProgress | RichProgress = RichProgress(Console())
    else:
        progress = PlainProgress(sys.stdout)
    if args.cluster and not is_tls(args.cluster):
        print(f"notice: --insecure: {args.cluster} is neither encrypted nor authenticated: "
              "whoever reaches it runs code on the workers", file=sys.stderr)
    if backend_name == "local":
        where = "the workers' machines" if args.cluster else "this machine"
        print(f"notice: local backend: student programs run as plain processes on {where}, "
              "not sandboxed", file=sys.stderr)
    if args.cluster:
        from .cluster import open_cluster

        with open_cluster(args.cluster, args.certs, insecure=args.insecure,
                          limit=args.jobs) as site:
            batch = trio.run(run_batch, args.submissions, args.out, assignment, options,
                             progress, site)
    else:
        batch = trio.run(run_batch, args.submissions, args.out, assignment, options,
                         progress)
    counts = {s: sum(1 for r in batch.results if r.status == s)
              for s in ("graded", "error", "pending")}
    ignored = f"; ignored (not a folder or archive): {inert(', '.join(batch.ignored))}" \
        if batch.ignored else ""
    print(f"{len(batch.results)} students: {counts['graded']} graded, {counts['error']} "
          f"errors, {counts['pending']} pending; {len(batch.graded)} graded in this run "
          f"({batch.seconds:.1f} s){ignored}\n"
          f"gradebook: {args.out / 'grades.csv'}\nclass report: {args.out / 'report.html'}")
    if batch.regrade is not None:
        print(f"regrade: {batch.regrade.describe()} ({args.out / 'regrade.csv'})")
    if batch.similarity is not None:
        if batch.similarity.notice:  # said once, where warnings go
            print(f"notice: similar submissions {batch.similarity.notice}", file=sys.stderr)
        elif batch.similarity.status == "off":
            print(batch.similarity.describe())
        else:
            print(f"{batch.similarity.describe()}: {args.out / 'similarity.csv'}")
    return 0
