"""Finding and ending every process a grading started, even ones that left their group.

The local backend starts each student program in a session of its own, so killing a
grading process's group does not reach them. Two tools close that gap (Linux):
a grading worker makes itself a *child subreaper*, so anything its programs fork and
orphan stays below it in the process tree; and `kill_tree` ends a whole tree, found by
walking /proc, freezing it first so nothing forks while it is being killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Keep orphaned descendants below this process (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """Every live process below `root` in the process tree."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def kill_tree(root: int, include_root: bool, rounds: int = 20) -> list[int]:
    """SIGKILL every process below `root` (and `root` itself if asked); returns the pids
    signalled. The tree is stopped before it is killed, so no member forks in between;
    bounded to `rounds` passes."""
    killed: list[int] = []
    for _ in range(rounds):
        pids = descendants(root)
        if include_root and not killed:
            pids.insert(0, root)
        if not pids:
            break
        _signal_all(pids, signal.SIGSTOP)
        pids = sorted(set(pids) | set(descendants(root)))
        _signal_all(pids, signal.SIGKILL)
        killed += pids
        if root == os.getpid():
            reap_orphans()
        time.sleep(0.02)
    return killed


def reap_orphans() -> None:
    """Collect exited children (orphans a subreaper adopted); never blocks."""
    with contextlib.suppress(ChildProcessError):
        for _ in range(10000):
            pid, _status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
