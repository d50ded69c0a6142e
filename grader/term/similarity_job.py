"""The batch's comparison of a class for similar submissions, in a process of its own:

    python -m grader.term.similarity_job JOB.json

so that the batch (grader.batch.similar) can stop it at its deadline, and never loads
copydetect itself. The job names each student's submission (a folder, or an archive that
is unpacked here with the batch's own caps), the starter files and the threshold, and
the results folder. It writes similarity.csv there and, for report.html, the section in
.similarity/section.html, then prints one JSON line: what it compared and found, or
{"error": ...}.

Each run also stores a key of what it compared (every file's name, size and time of
change, the starter files, the threshold): when the next batch asks about the same
submissions, the stored outputs are reused rather than made again, so grading one
student again (`--only`) does not compare a class that did not change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..batch.discover import UnsafeArchive, unpack
from ..batch.records import write_atomically
from ..errors import GraderError
from .similarity import find_similar, similarity_csv
from .similarity_html import similarity_section

SIMILARITY_CSV = "similarity.csv"
STATE_FOLDER = ".similarity"
SECTION = "section.html"
STATE = "state.json"
FORMAT = 1  # of the stored outputs: a new one makes them again


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Compare the job's class (or reuse the stored outputs of the same class); what was
    compared and found, as the JSON line says it."""
    results = Path(job["results"])
    state_folder = results / STATE_FOLDER
    key = class_key(job)
    stored = _stored_state(state_folder)
    if stored.get("key") == key and (results / SIMILARITY_CSV).is_file() \
            and (state_folder / SECTION).is_file():
        return {**stored["summary"], "reused": True}
    started = time.perf_counter()
    scratch = Path(job["scratch"])
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        folders, refused = _folders(job, scratch)
        report = find_similar(folders, [Path(p) for p in job["starter"]],
                              threshold=job["threshold"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = dataclasses.replace(report, skipped=(*refused, *report.skipped))
    state_folder.mkdir(parents=True, exist_ok=True)
    write_atomically(results / SIMILARITY_CSV, similarity_csv(report))
    write_atomically(state_folder / SECTION, similarity_section(report))
    summary = {"students": report.students, "pairs": len(report.pairs),
               "files": report.files, "skipped": len(report.skipped),
               "seconds": round(time.perf_counter() - started, 2)}
    write_atomically(state_folder / STATE, json.dumps({"key": key, "summary": summary}) + "\n")
    return {**summary, "reused": False}


def class_key(job: dict[str, Any]) -> str:
    """What the comparison depends on: every file of every submission and of the starter
    code by name, size and time of change (links not followed), and the settings."""
    digest = hashlib.sha256(json.dumps(
        [FORMAT, job["threshold"], job["max_bytes"], job["max_files"]]).encode())
    for label, path in [*sorted(job["submissions"].items()),
                        *(("starter", p) for p in job["starter"])]:
        digest.update(json.dumps([label, path, *_listing(Path(path))]).encode())
    return digest.hexdigest()


def _listing(root: Path) -> list[tuple[str, int, int]]:
    if not root.is_dir():
        return [_entry(root, root.name)]
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            found.append(_entry(path, path.relative_to(root).as_posix()))
    return found


def _entry(path: Path, name: str) -> tuple[str, int, int]:
    try:
        stat = path.lstat()
    except OSError:
        return (name, -1, -1)
    return (name, stat.st_size, stat.st_mtime_ns)


def _stored_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and isinstance(state.get("summary"), dict) else {}


def _folders(job: dict[str, Any], scratch: Path) -> tuple[dict[str, Path], list[str]]:
    """Each student's folder: theirs, or their archive unpacked under `scratch` (the
    batch's caps; a refused archive is left out, with why)."""
    folders, refused = {}, []
    for number, (student, source) in enumerate(sorted(job["submissions"].items())):
        path = Path(source)
        if path.is_dir():
            folders[student] = path
            continue
        try:  # a numbered folder: a student's id need not be a usable file name
            folders[student] = unpack(path, scratch / str(number), job["max_bytes"],
                                      job["max_files"])
        except (UnsafeArchive, GraderError, OSError) as exc:
            refused.append(f"{student}: archive not unpacked ({exc})")
    return folders, refused


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        outcome = run_job(job)
    except GraderError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
