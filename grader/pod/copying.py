"""What of a submission folder goes into a pod, the same for every backend.

Regular files, folders and symbolic links that stay inside the submission are copied.
Left out, each with a note for the student: a symbolic link that leads out of the folder
(it is never followed, so nothing outside is copied), and special files (a FIFO would
block a plain copy forever; devices and sockets mean nothing in a pod).
A submission bigger than MAX_BYTES or with more than MAX_ENTRIES entries is refused
with an InputError naming the cap, before anything is copied: a huge file must not fill
the host's /tmp or the pod's size-capped work folder silently.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import InputError

MAX_BYTES = 32 * 1024 * 1024
MAX_ENTRIES = 5000
STUDENT_UID = 65534


def shown(name: str) -> str:
    """A file name safe to print and to put in JSON (non-UTF-8 bytes become U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass
class Plan:
    """The entries to copy, relative to the submission folder, in a stable order."""

    root: Path
    entries: list[tuple[str, os.stat_result]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_copy(folder: str | Path, max_bytes: int = MAX_BYTES,
              max_entries: int = MAX_ENTRIES) -> Plan:
    root = Path(os.path.realpath(folder))
    plan = Plan(root)
    total = 0
    biggest = ("", 0)
    for directory, dirs, files in os.walk(root):  # never follows symbolic links
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(path)
                if target != str(root) and not target.startswith(str(root) + os.sep):
                    plan.notes.append(
                        f"{shown(relative)} was left out: it is a symbolic link to "
                        f"{shown(os.readlink(path))}, outside your submission folder")
                    continue
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                plan.notes.append(f"{shown(relative)} was left out: not a regular file or "
                                  "folder (a FIFO, socket or device)")
                continue
            plan.entries.append((relative, info))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
                biggest = max(biggest, (relative, info.st_size), key=lambda b: b[1])
            if len(plan.entries) > max_entries:
                raise InputError(folder, f"more than {max_entries} files and folders: a "
                                 f"submission may hold at most {max_entries} (remove build "
                                 "output, virtual environments, .git)")
            if total > max_bytes:
                raise InputError(folder, f"bigger than {_mib(max_bytes)}, the most a "
                                 f"submission may hold (the biggest file is "
                                 f"{shown(biggest[0])}: {_mib(biggest[1])})")
    return plan


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def copy_to(plan: Plan, target: Path) -> None:
    """Copy the planned entries into `target` (created), links as links."""
    target.mkdir(parents=True)
    for relative, info in plan.entries:
        source, destination = plan.root / relative, target / relative
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), destination)
        elif stat.S_ISDIR(info.st_mode):
            destination.mkdir()
        else:
            shutil.copy2(source, destination, follow_symlinks=False)
    # Folders' modes last, so a read-only folder does not stop its own copy.
    for relative, info in plan.entries:
        if stat.S_ISDIR(info.st_mode):
            os.chmod(target / relative, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)


def tar_bytes(fill: Callable[[tarfile.TarFile], None]) -> bytes:
    """The tar archive `fill` writes, ending right after its end-of-archive blocks.

    tarfile pads an archive with zeros up to a 10 KiB record. Podman's put_archive stops
    reading at the end-of-archive blocks and then fails the whole upload with "passing
    bulk input to subprocess: write |1: broken pipe" if the padding is still being
    written (buildah#6573; seen here under load on rootless Podman)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        fill(archive)
    return buffer.getvalue()[:archive.offset]


def tar_of(plan: Plan, uid: int = STUDENT_UID) -> bytes:
    """The planned entries as a tar whose files belong to the student user (`uid`)."""
    def fill(archive: tarfile.TarFile) -> None:
        for relative, _ in plan.entries:
            info = archive.gettarinfo(str(plan.root / relative), arcname=relative)
            info.uid = info.gid = uid
            info.uname = info.gname = "nobody"
            if info.isreg():
                with open(plan.root / relative, "rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
    return tar_bytes(fill)


def tar_of_files(files: Mapping[str, bytes], uid: int = STUDENT_UID) -> bytes:
    """Files of the grader's own (relative path -> bytes) as a tar owned by the student
    user, with their folders, readable by all."""
    folders = sorted({str(parent) for name in files for parent in PurePosixPath(name).parents
                      if str(parent) != "."})

    def fill(archive: tarfile.TarFile) -> None:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            info.uid = info.gid = uid
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            info.uid = info.gid = uid
            archive.addfile(info, io.BytesIO(data))
    return tar_bytes(fill)
