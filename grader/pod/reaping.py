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
import threading
import time
from collections.abc import Iterator
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Keep orphaned descendants below this process (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def process_files(name: str) -> Iterator[tuple[int, str]]:
    """Each process's pid and the text of its /proc/<pid>/<name>, where it could be read
    (a process may end meanwhile, or not be ours to read)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / name).read_text()
        except OSError:
            continue
        yield int(entry.name), text


def stat_fields(stat: str) -> list[str]:
    """The fields of a /proc/<pid>/stat after the ')' that ends the command name:
    state, ppid, pgrp, ..."""
    return stat.rsplit(")", 1)[1].split()


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process."""
    parents = {}
    for pid, stat in process_files("stat"):
        try:
            fields = stat_fields(stat)
        except IndexError:
            continue
        if fields[0] != "Z":
            parents[pid] = int(fields[1])
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


class Spawns:
    """The programs this process started itself, and how many starts are under way. An
    escapee is a child of ours in a session of its own that is NOT one of these; while a
    start is under way its child exists before its pid is known, so no escapee is picked
    then (another pod's server being started is not an escapee)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pids: set[int] = set()
        self.under_way = 0

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        with self.lock:
            self.under_way += 1
        try:
            yield
        finally:
            with self.lock:
                self.under_way -= 1

    def started(self, pid: int) -> None:
        with self.lock:
            self.pids.add(pid)

    def ended(self, pid: int) -> None:
        with self.lock:
            self.pids.discard(pid)


SPAWNS = Spawns()
START_WAIT = 5.0  # seconds escapee hunting waits for starts under way to be registered


def adopted() -> list[int]:
    """Children of this process that left its session and that it did not start: programs
    that escaped their process group (double fork and setsid) and that this process, a
    child subreaper, adopted when their parent died. Empty while starts stay under way
    (see Spawns): better to leave an escapee to the sweep than kill a program starting."""
    me, session = os.getpid(), os.getsid(0)
    deadline = time.monotonic() + START_WAIT
    while True:
        with SPAWNS.lock:
            if not SPAWNS.under_way:
                ours = set(SPAWNS.pids)
                parents = _parents()
                break
        if time.monotonic() > deadline:
            return []
        time.sleep(0.01)
    found = []
    for pid, parent in parents.items():
        if parent != me or pid in ours:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getsid(pid) != session:
                found.append(pid)
    return found


def kill_adopted() -> list[int]:
    """Kill every adopted escapee (see `adopted`) with its tree, and collect it."""
    killed = []
    for pid in adopted():
        killed += kill_tree(pid, include_root=True)
        for _ in range(50):  # reap it (it is ours now), without touching other children
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            time.sleep(0.01)
    return killed


def processes_of(uid: int) -> list[int]:
    """Every live process running as `uid`."""
    found = []
    for pid, status in process_files("status"):
        uids = next((line.split()[1:] for line in status.splitlines()
                     if line.startswith("Uid:")), [])
        if str(uid) in uids and "State:\tZ" not in status:
            found.append(pid)
    return found


def kill_user(uid: int, rounds: int = 20) -> bool:
    """Stop, then kill, every process of `uid` (a user that runs nothing but student
    programs), until none is left or `rounds` passes; whether none is left."""
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            return True
        _signal_all(pids, signal.SIGSTOP)
        _signal_all(sorted(set(pids) | set(processes_of(uid))), signal.SIGKILL)
        time.sleep(0.02)
    return not processes_of(uid)
