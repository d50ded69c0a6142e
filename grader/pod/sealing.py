"""The local backend's copy of a submission: handed to the student's user for the builds
(--run-as), then sealed read-only before the programs run.

Both walk the copy by directory descriptors, never by path: each folder is opened with
O_NOFOLLOW relative to the one above it, and each entry is changed through that
descriptor without following a link. A link in the copy (one the build made, or a folder
swapped for a link) is never followed out of it, so nothing outside the copy is ever
changed, whatever the student's programs did to it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

MAX_DEPTH = 256  # folders deeper than this are left as they are (one descriptor a level)
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# A change to one entry: (descriptor of its folder, its name) or (its own descriptor,
# None) for a folder, with what lstat says of it.
Change = Callable[[int, str | None, os.stat_result], None]


def hand_over(folder: Path, uid: int, gid: int) -> None:
    """Give every entry of `folder` (itself included) to `uid`:`gid`."""
    _walk(folder, lambda fd, name, _: _chown(fd, name, uid, gid))


def seal(folder: Path, user: tuple[int, int] | None) -> None:
    """Make `folder` read-only for the programs. With `user` (the student's uid, gid, as
    handed over), what that user owns becomes ours again, readable by all and writable
    by none; anything else there (which that user could only have linked in) is left
    alone. Without, each entry just loses its write permissions."""
    owner = os.geteuid(), os.getegid()

    def change(fd: int, name: str | None, status: os.stat_result) -> None:
        mode = stat.S_IMODE(status.st_mode)
        if user is None:
            _chmod(fd, name, mode & ~0o222)
        elif status.st_uid == user[0]:
            _chown(fd, name, *owner)
            executable = stat.S_ISDIR(status.st_mode) or mode & 0o100
            _chmod(fd, name, 0o555 if executable else 0o444)

    _walk(folder, change)


def _chown(fd: int, name: str | None, uid: int, gid: int) -> None:
    if name is None:
        os.chown(fd, uid, gid)
    else:
        os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)


def _chmod(fd: int, name: str | None, mode: int) -> None:
    if name is None:
        os.chmod(fd, mode)
    else:  # never a link: Linux cannot chmod a link itself (Python raises then)
        os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)


def _walk(root: Path, change: Change) -> None:
    """Apply `change` to `root` and to every entry below it that is not a link, folder
    by folder (each changed before its entries are listed). An entry that cannot be
    changed, or vanished, is passed over."""
    try:
        top = os.open(root, _OPEN_FOLDER)
    except OSError:
        return
    try:
        _apply(change, top, None, os.fstat(top))
        _walk_below(top, change, 1)
    finally:
        os.close(top)


def _walk_below(folder_fd: int, change: Change, depth: int) -> None:
    for name, status in _entries(folder_fd):
        if stat.S_ISDIR(status.st_mode):
            if depth >= MAX_DEPTH:
                continue
            try:
                below = os.open(name, _OPEN_FOLDER, dir_fd=folder_fd)
            except OSError:  # swapped for a link or a file since it was listed
                continue
            try:
                _apply(change, below, None, os.fstat(below))
                _walk_below(below, change, depth + 1)
            finally:
                os.close(below)
        elif not stat.S_ISLNK(status.st_mode):
            _apply(change, folder_fd, name, status)


def _entries(folder_fd: int) -> Iterator[tuple[str, os.stat_result]]:
    try:
        with os.scandir(folder_fd) as listing:
            names = [entry.name for entry in listing]
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            yield name, os.stat(name, dir_fd=folder_fd, follow_symlinks=False)


def _apply(change: Change, fd: int, name: str | None, status: os.stat_result) -> None:
    # A link put in an entry's place after it was looked at: Python refuses to chmod it
    # (NotImplementedError or ValueError, by version) rather than follow it.
    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        change(fd, name, status)

