"""What travels with one student's grading to another machine: bytes and settings, never
a path of this machine.

- The submission. An archive the student handed in travels as it is, and is unpacked
  where it is graded by the per-student worker process (grader.batch.worker, under its
  deadline, memory cap and the archive caps), exactly as on this machine.
  A folder travels as a .tar.gz made here of what a pod would take of it: the same size
  and entry caps (`grader.pod.copying`), regular files, folders and symbolic links (as
  links, never followed); it is unpacked with the standard library's `data` filter, and
  a link that leads out of the folder is made again afterwards, so the pod leaves it out
  with the same note as on this machine.
- The assignment folder (assignment.toml, checks.py, concepts.toml, the handout, data
  files), as a .tar.gz.
- The settings: backend, image, the per-student deadline, the archive caps, and the
  plan's parameters changed in memory (`plan_overrides`, e.g. `--clients`).
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GraderError, InputError
from ..pod.copying import plan_copy
from .discover import ARCHIVE_SUFFIXES, MAX_BYTES, MAX_FILES, StudentEntry

if TYPE_CHECKING:
    from ..loading.assignment import Assignment

ASSIGNMENT_MAX_BYTES = 32 * 1024 * 1024
ARCHIVE_SLACK = 1024 * 1024  # an archive's own bytes beyond what it may unpack to


@dataclass(frozen=True)
class Job:
    """One student's grading, as it travels (plain data: `dataclasses.asdict` of it)."""

    student: str
    submission_name: str  # the archive's own name ("alice.zip"), or "<student>" for a folder
    submission: bytes  # the archive's bytes, or our .tar.gz of the folder
    from_folder: bool
    assignment: bytes  # .tar.gz of the assignment folder
    backend: str
    image: str | None
    deadline: float  # seconds, for the grading where it runs
    max_bytes: int = MAX_BYTES
    max_files: int = MAX_FILES
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


def pack_submission(entry: StudentEntry, max_bytes: int) -> tuple[str, bytes, bool]:
    """(name, bytes, from_folder) of a student's submission, ready to travel."""
    if not entry.is_archive:
        return entry.student, pack_folder(entry.source, entry.student), True
    size = entry.source.stat().st_size
    if size > max_bytes + ARCHIVE_SLACK:
        raise InputError(entry.source, f"the archive is {size / 2**20:.1f} MiB, more than "
                         f"it may unpack to ({max_bytes / 2**20:g} MiB, the size cap)")
    return entry.source.name, entry.source.read_bytes(), False


def pack_folder(folder: Path, top: str) -> bytes:
    """A .tar.gz of `folder` under the name `top`: what a pod takes of it (with the same
    caps and the same InputError when one is exceeded), links as links."""
    plan_copy(folder)  # the pod's caps, with its own messages
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tarred:
        tarred.add(folder, arcname=top, recursive=False)
        for directory, dirs, files in os.walk(folder):  # never follows links
            dirs.sort()
            for name in [*dirs, *sorted(files)]:
                path = Path(directory, name)
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                    tarred.add(path, arcname=f"{top}/{path.relative_to(folder)}",
                               recursive=False)
    return buffer.getvalue()


def pack_assignment(assignment: Assignment) -> bytes:
    """The assignment's folder as a .tar.gz; refused when a pod could not take it whole."""
    folder = assignment.path
    try:
        plan = plan_copy(folder, max_bytes=ASSIGNMENT_MAX_BYTES)
    except InputError as exc:
        raise GraderError(f"the assignment folder cannot be sent to the workers: "
                          f"{exc}") from None
    if plan.notes:
        raise GraderError(f"the assignment folder {folder} cannot be sent to the workers "
                          f"whole: {'; '.join(plan.notes)}")
    return pack_folder(folder, folder.name)


def stage_job(job: Job, scratch: Path) -> tuple[Path, Path]:
    """(the submission, the assignment's folder), placed in `scratch` (empty, ours): a
    folder as our bundle made it, or the student's archive as a file, still packed (the
    grading's worker process unpacks it). Raises InputError for a name that is no archive."""
    assignment_root = _extract(job.assignment, scratch / "assignment")
    if job.from_folder:
        return _extract(job.submission, scratch / "folder"), assignment_root
    name = Path(job.submission_name).name
    if not name.lower().endswith(ARCHIVE_SUFFIXES):
        raise InputError(name, "not an archive (.zip, .tar.gz, .tgz)")
    archive = scratch / name
    archive.write_bytes(job.submission)
    return archive, assignment_root


def _extract(data: bytes, target: Path) -> Path:
    """A .tar.gz made by `pack_folder`: its one top folder, unpacked under `target`."""
    target.mkdir(parents=True)
    outward: list[tarfile.TarInfo] = []

    def keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        try:
            return tarfile.data_filter(member, path)
        except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
            if member.issym():
                outward.append(member)  # made after everything else: never written through
                return None
            raise

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tarred:
        tops = {Path(m.name).parts[0] for m in tarred.getmembers()}
        if len(tops) != 1:
            raise GraderError("a bundle must hold one folder")
        tarred.extractall(target, filter=keep)
    for member in outward:
        link = target / member.name
        if link.parent.resolve().is_relative_to(target.resolve()) and not link.exists():
            os.symlink(member.linkname, link)
    return target / tops.pop()


def plan_overrides(assignment: Assignment) -> dict[str, dict[str, Any]]:
    """The parameters of `assignment`'s plan that differ from its folder's own (changed in
    memory, e.g. by `--clients`): check id -> {name: value}. They travel as JSON."""
    from ..assignments import load_assignment

    own = {p.check.id: p.params for p in load_assignment(str(assignment.path)).checks}
    changed: dict[str, dict[str, Any]] = {}
    for planned in assignment.checks:
        before = own.get(planned.check.id, {})
        diff = {k: v for k, v in planned.params.items() if k not in before or before[k] != v}
        if diff:
            try:
                json.dumps(diff)
            except (TypeError, ValueError):
                raise GraderError(f"check {planned.check.id}: parameters {diff!r} cannot be "
                                  "handed to a grading worker (not JSON)") from None
            changed[planned.check.id] = diff
    return changed
