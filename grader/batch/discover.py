"""Finding the students in a submissions folder, and unpacking their archives safely.

Each subfolder, `.zip`, `.tar.gz` or `.tgz` of the folder is one student; the student's
id is the name without its extension. Archives are untrusted: an entry with an absolute
path, a `..` component, a link or a device is refused, and so is an archive whose
entries add up to more than a size cap or a file-count cap (the message says which).
Sizes are counted while the bytes are written, so an archive that lies about its sizes
in its headers is stopped at the cap too.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import InputError
from .zip_directory import DirectoryTooLarge, check_directory

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 2000
MAX_HEADER = 4096  # bytes of a tar entry's long name or extended header
NAME_SHOWN = 120  # characters of an entry's name a message quotes
NAMES_LISTED = 8  # students or submissions named in an error before "..."
IGNORED_NAMES = {"__MACOSX", ".DS_Store"}
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StudentEntry:
    """One student's submission as found: a folder, or an archive to unpack."""

    student: str
    source: Path

    @property
    def is_archive(self) -> bool:
        return not self.source.is_dir()


@dataclass(frozen=True)
class Discovery:
    students: tuple[StudentEntry, ...]
    ignored: tuple[str, ...]  # names that are neither a folder nor a known archive

    def chosen(self, named: tuple[str, ...], folder: Path) -> tuple[str, ...]:
        """The students `named` stands for, each item one value of `--only`: a value that
        is a student's id names that student, commas and all; any other value is ids
        separated by commas. Raises InputError naming every id with no submission."""
        known = [entry.student for entry in self.students]
        chosen, unknown = [], []
        for value in named:
            names = [value] if value in known else [
                name.strip() for name in value.split(",") if name.strip()]
            for name in names:
                (chosen if name in known else unknown).append(name)
        if unknown:
            listed = ", ".join(known[:NAMES_LISTED]) + (
                ", ..." if len(known) > NAMES_LISTED else "")
            raise InputError(folder, f"no submission for {', '.join(map(repr, unknown))} "
                                     f"(students: {listed or 'none'})")
        return tuple(dict.fromkeys(chosen))


def student_id(name: str) -> str | None:
    """The student id a folder or archive name stands for; None if it is neither."""
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def discover(folder: Path) -> Discovery:
    """The students in `folder`, sorted by id. Hidden entries are passed over. A student
    with more than one submission (`alice/` and `alice.zip`, say: an archive unpacked next
    to itself) is refused up front, with every such student's names: which one to grade is
    the instructor's choice, and a guess could grade an older version silently."""
    if not folder.is_dir():
        raise InputError(folder, "no such folder (give the folder holding one subfolder or "
                                 "archive per student)")
    found: dict[str, list[Path]] = {}
    ignored = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
            continue
        if entry.is_dir():
            student = entry.name
        elif entry.is_file() and (archive_id := student_id(entry.name)) is not None:
            student = archive_id
        else:
            ignored.append(entry.name)
            continue
        found.setdefault(student, []).append(entry)
    several = [" and ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
               for paths in found.values() if len(paths) > 1]
    if several:
        listed = "; ".join(several[:NAMES_LISTED]) + ("; ..." if len(several) > NAMES_LISTED
                                                      else "")
        raise InputError(folder, f"more than one submission for a student: {listed}. Keep "
                                 "one each: move the other out of this folder, or rename it "
                                 "to start with '.' (such names are passed over)")
    students = tuple(StudentEntry(s, p[0]) for s, p in sorted(found.items()))
    return Discovery(students, tuple(ignored))


class UnsafeArchive(InputError):
    """An archive we refuse to unpack; the message says which entry and why."""


def shown(name: str) -> str:
    """An entry's name as a message quotes it: at most NAME_SHOWN characters."""
    return repr(name if len(name) <= NAME_SHOWN else name[:NAME_SHOWN] + "...")


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose long name or extended (pax) header is refused before it is
    read when it is larger than MAX_HEADER: a small archive could otherwise make the
    unpacker hold a name of hundreds of megabytes."""

    def _proc_gnulong(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        _refuse_large_header(self)
        return super()._proc_gnulong(tarfile)  # type: ignore[misc]

    def _proc_pax(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        _refuse_large_header(self)
        return super()._proc_pax(tarfile)  # type: ignore[misc]


def _refuse_large_header(info: tarfile.TarInfo) -> None:
    if info.size > MAX_HEADER:
        raise tarfile.HeaderError(f"an entry's header of {info.size} bytes (more than "
                                  f"{MAX_HEADER}: names that long are refused)")


def unpack(archive: Path, target: Path, max_bytes: int = MAX_BYTES,
           max_files: int = MAX_FILES) -> Path:
    """Unpack `archive` into the new folder `target` and return the submission's root.

    The root is `target` itself, or its only subfolder when the archive holds just one
    folder (students often zip the folder rather than its contents). On any refusal the
    partly unpacked folder is removed and UnsafeArchive says why.
    """
    target.mkdir(parents=True)
    try:
        budget = _Budget(archive, max_bytes, max_files)
        if archive.name.lower().endswith(".zip"):
            _unpack_zip(archive, target, budget)
        else:
            _unpack_tar(archive, target, budget)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return _submission_root(target)


class _Budget:
    def __init__(self, archive: Path, max_bytes: int, max_files: int) -> None:
        self.archive = archive
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.bytes = 0
        self.files = 0

    def add_file(self, name: str) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise UnsafeArchive(self.archive, f"more than {self.max_files} entries (the "
                                "file-count cap); leave build products and dependencies out")

    def add_bytes(self, count: int, name: str) -> None:
        self.bytes += count
        if self.bytes > self.max_bytes:
            raise UnsafeArchive(self.archive, f"unpacks to more than "
                                f"{_size(self.max_bytes)} (the size cap), reached at "
                                f"{shown(name)}")


def _safe_parts(archive: Path, name: str) -> tuple[str, ...]:
    """The path components of an entry name, refusing anything that leaves the folder."""
    if "\x00" in name:
        raise UnsafeArchive(archive, f"entry {shown(name)}: NUL byte in its name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(archive, f"entry {shown(name)}: absolute path")
    parts = tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(archive, f"entry {shown(name)}: '..' would leave the submission "
                                     "folder")
    return parts


def _destination(target: Path, parts: tuple[str, ...]) -> Path:
    destination = target.joinpath(*parts)
    # Every parent was made by us as a real folder, never a link; still, check.
    for parent in destination.parents:
        if parent == target:
            break
        if parent.is_symlink():
            raise UnsafeArchive(target, f"{parent}: a link inside the unpacked folder")
    return destination


def _copy(source: BinaryIO, destination: Path, budget: _Budget, name: str,
          executable: bool) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o755 if executable else 0o644
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         mode)
    with os.fdopen(descriptor, "wb") as out:
        while chunk := source.read(_CHUNK):
            budget.add_bytes(len(chunk), name)
            out.write(chunk)


def _unpack_zip(archive: Path, target: Path, budget: _Budget) -> None:
    try:
        with archive.open("rb") as handle:
            check_directory(handle, budget.max_files)
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                budget.add_file(info.filename)  # skipped ones count too
                parts = _safe_parts(archive, info.filename)
                if not parts or parts[0] in IGNORED_NAMES:
                    continue
                mode = info.external_attr >> 16
                if info.flag_bits & 0x1:
                    raise UnsafeArchive(archive, f"entry {shown(info.filename)} is encrypted")
                if stat.S_ISLNK(mode):
                    raise UnsafeArchive(archive, f"entry {shown(info.filename)} is a symbolic "
                                        "link (links are refused: include the file itself)")
                if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise UnsafeArchive(archive, f"entry {shown(info.filename)} is not a "
                                        "regular file or folder")
                destination = _destination(target, parts)
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                with zipped.open(info) as source:
                    _copy(source, destination, budget, info.filename, bool(mode & 0o111))
    except DirectoryTooLarge as exc:
        raise UnsafeArchive(archive, f"more than {budget.max_files} entries (the file-count "
                            f"cap): {exc}; leave build products and dependencies out") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise UnsafeArchive(archive, f"not a readable zip archive: {exc}") from None
    except OSError as exc:
        raise _unwritable(archive, exc) from None


def _unpack_tar(archive: Path, target: Path, budget: _Budget) -> None:
    try:
        # Streaming mode: members are read one at a time, never all listed first.
        with tarfile.open(archive, mode="r|gz", tarinfo=_BoundedTarInfo) as tarred:
            for member in _members(tarred):
                budget.add_file(member.name)  # skipped ones count too
                parts = _safe_parts(archive, member.name)
                if not parts or parts[0] in IGNORED_NAMES:
                    continue
                if member.issym() or member.islnk():
                    raise UnsafeArchive(archive, f"entry {shown(member.name)} is a "
                                        f"{'symbolic' if member.issym() else 'hard'} link "
                                        "(links are refused: include the file itself)")
                if not (member.isreg() or member.isdir()):
                    raise UnsafeArchive(archive, f"entry {shown(member.name)} is not a "
                                        "regular file or folder (devices and pipes are "
                                        "refused)")
                destination = _destination(target, parts)
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                source = tarred.extractfile(member)
                assert source is not None
                with source:
                    _copy(source, destination, budget, member.name, bool(member.mode & 0o111))
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UnsafeArchive(archive, f"not a readable .tar.gz archive: {exc}") from None
    except OSError as exc:
        raise _unwritable(archive, exc) from None


def _unwritable(archive: Path, exc: OSError) -> UnsafeArchive:
    if isinstance(exc, FileExistsError):
        return UnsafeArchive(archive, f"entry {shown(str(exc.filename))} appears twice")
    if exc.filename is None:  # gzip's own errors are OSErrors without a file name
        return UnsafeArchive(archive, f"not a readable archive: {exc}")
    return UnsafeArchive(archive, f"cannot unpack {shown(str(exc.filename))}: {exc.strerror}")


def _members(tarred: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := tarred.next()) is not None:
        yield member


def _submission_root(target: Path) -> Path:
    entries = [e for e in target.iterdir() if e.name not in IGNORED_NAMES]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return target


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):g} MiB" if count >= 1024 * 1024 else f"{count} bytes"
