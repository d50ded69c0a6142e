"""Verdict stability: the same code must get the same verdict every time.

    python benchmarks/verdict_stability.py [--runs 5] [--jobs 2] [--backends local,docker]
                                           [--only NAME,...] [--skip-hostile]

Grades every reference submission (reference/echo/*/correct and each faulty one; Go, Node
and Java ones on the local backend only, where their toolchains are) and every
case of tests/hostile/ `--runs` times, `--jobs` at a time (two gradings beside each
other on two cores, as `grade batch --jobs 2` does), on each available backend. Prints
each check whose status changed between runs of one submission (expected: none) and the
spread of each submission's score. References are graded with the echo assignment as it
is; hostile cases with the same checks under the short limits tests/test_hostile.py uses
(a build that never ends would otherwise take its full two minutes every run).
Exit status 1 when any status changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.assignments import load_assignment  # noqa: E402
from grader.batch import BatchOptions, run_batch  # noqa: E402
from grader.errors import GraderError  # noqa: E402
from grader.pod import choose_backend  # noqa: E402
from tests.conftest import REFERENCE, compose_reference  # noqa: E402
from tests.test_hostile import CASES, HOSTILE, SMALL_PARAMS, _prepare  # noqa: E402
from tests.test_runtime_references import TOOLCHAINS  # noqa: E402

HOSTILE_LIMITS = {"build_timeout": 8.0, "start_timeout": 4.0, "stop_grace": 1.0,
                  "check_timeout": 60.0, "output_cap": 16384}


def references() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for language_dir in sorted(p for p in REFERENCE.iterdir() if p.is_dir()):
        found.append((language_dir.name, None))
        faulty = language_dir / "faulty"
        if faulty.is_dir():
            found += [(language_dir.name, p.name) for p in sorted(faulty.iterdir())
                      if p.is_dir()]
    return found


def hostile_assignment(folder: Path) -> Path:
    """The echo assignment's plan with the hostile tests' short limits and small loads."""
    source = (REPO / "assignments" / "echo" / "assignment.toml").read_text()
    lines, section = [], ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
            lines.append(line)
            if section.startswith("checks."):
                params = SMALL_PARAMS.get(section.removeprefix("checks."), {})
                lines += [f"{k} = {v!r}" for k, v in params.items()]
            continue
        key = stripped.split("=")[0].strip()
        if section == "limits" and key in HOSTILE_LIMITS:
            lines.append(f"{key} = {HOSTILE_LIMITS[key]!r}")
        elif section.startswith("checks.") and key in SMALL_PARAMS.get(
                section.removeprefix("checks."), {}):
            continue  # replaced above
        else:
            lines.append(line)
    shutil.copytree(REPO / "assignments" / "echo", folder)  # its checks.py and handout too
    (folder / "assignment.toml").write_text("\n".join(lines) + "\n")
    return folder


def make_class(folder: Path, runs: int, backend: str, only: set[str],
               hostile: bool) -> dict[str, dict[str, str]]:
    """Two classes (references, hostile cases), each submission `runs` times:
    class -> student -> the submission's name."""
    classes: dict[str, dict[str, str]] = {"references": {}, "hostile": {}}
    for language, faulty in references():
        name = f"{language}-{faulty or 'correct'}"
        if only and name not in only:
            continue
        if language in TOOLCHAINS and (backend != "local" or not all(
                shutil.which(tool) for tool in TOOLCHAINS[language])):
            # The pod image holds no Go, Node or Java: their builds would only fail.
            print(f"{backend}: {name} skipped (needs {', '.join(TOOLCHAINS[language])} "
                  "on the local backend)")
            continue
        for run in range(runs):
            student = f"{name}__{run + 1}"
            compose_reference(folder / "references" / student, language, faulty)
            classes["references"][student] = name
    for case in CASES if hostile else ():
        if (only and case.name not in only) or (backend == "local" and not case.local):
            continue
        for run in range(runs):
            student = f"{case.name}__{run + 1}"
            # Staged apart: _prepare puts a neighbour ("other-student") beside it.
            staged = folder / "staging" / student / "submission"
            shutil.copytree(REFERENCE / "python" / "correct", staged)
            shutil.copytree(HOSTILE / case.name, staged, dirs_exist_ok=True)
            _prepare(case.name, staged)
            (folder / "hostile").mkdir(exist_ok=True)
            staged.rename(folder / "hostile" / student)
            classes["hostile"][student] = case.name
    return classes


def grade_class(submissions: Path, assignment_path: Path, backend: str,
                jobs: int) -> dict[str, dict[str, str] | str]:
    """student -> {check id: status}, or the error that stopped the grading."""
    assignment = load_assignment(str(assignment_path))
    with tempfile.TemporaryDirectory(prefix="stability-out-") as out:
        batch = trio.run(run_batch, submissions, Path(out), assignment,
                         BatchOptions(backend=backend, jobs=jobs, force=True))
    graded: dict[str, dict[str, str] | str] = {}
    for result in batch.results:
        if result.report is None:
            graded[result.student] = f"error: {result.error}"
        else:
            graded[result.student] = {c.id: str(c.status) for c in result.report.checks}
            graded[result.student]["score"] = f"{result.report.score:g}"
    return graded


def compare(graded: dict[str, dict[str, str] | str], names: dict[str, str]) -> list[str]:
    """One line per grading that could not finish, and per (submission, check) whose
    status differed between runs."""
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for student, statuses in graded.items():
        name = names[student]
        if isinstance(statuses, str):
            seen[name]["(grading)"].add(statuses)
            continue
        for check, status in statuses.items():
            seen[name][check].add(status)
    changed = [f"{student}: the grading itself ended in {statuses}"
               for student, statuses in sorted(graded.items()) if isinstance(statuses, str)]
    for name in sorted(seen):
        for check, statuses in sorted(seen[name].items()):
            if len(statuses) > 1:
                changed.append(f"{name}: {check}: {' / '.join(sorted(statuses))}")
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--backends", default="local,docker",
                        help="comma-separated; unavailable ones are skipped")
    parser.add_argument("--only", default="", help="comma-separated submission names")
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    echo = load_assignment("echo")
    any_changed = False
    for backend in args.backends.split(","):
        try:
            choose_backend(backend, echo)
        except (GraderError, ImportError) as exc:
            print(f"{backend}: skipped ({exc})")
            continue
        scratch = Path(tempfile.mkdtemp(prefix="stability-"))
        try:
            classes = make_class(scratch, args.runs, backend, only, not args.skip_hostile)
            plans = {"references": REPO / "assignments" / "echo",
                     "hostile": hostile_assignment(scratch / "hostile-assignment")}
            for kind, names in classes.items():
                if not names:
                    continue
                started = time.monotonic()
                kinds = len(set(names.values()))
                print(f"{backend}: {kind}: {kinds} submissions x {args.runs} runs, "
                      f"--jobs {args.jobs} ...", flush=True)
                graded = grade_class(scratch / kind, plans[kind], backend, args.jobs)
                changed = compare(graded, names)
                any_changed |= bool(changed)
                print(f"  {len(graded)} gradings in {time.monotonic() - started:.0f} s: "
                      f"{len(changed)} problem(s): a status that changed between runs, or "
                      "a grading that ended in an error")
                for line in changed:
                    print(f"    {line}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return 1 if any_changed else 0


if __name__ == "__main__":
    sys.exit(main())
