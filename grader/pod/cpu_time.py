"""How much CPU time a student's program has used so far: a wait whose answer depends on
that program can end once it sits idle (no CPU used for a while), since nothing more
will come from it. Every reader answers None when it cannot tell, and then waits run to
their deadlines: an unknown is never taken for idle.
"""

from __future__ import annotations

import os
from pathlib import Path

from .reaping import process_files, stat_fields

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
CGROUPS = Path("/sys/fs/cgroup")


def process_tree_seconds(root: int) -> float | None:
    """CPU seconds used by `root` and every live process below it (with the children
    they already reaped); None once `root` has ended (a zombie included)."""
    used: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for pid, stat in process_files("stat"):
        try:
            fields = stat_fields(stat)
            if fields[0] == "Z":
                continue
            # utime, stime, cutime, cstime: fields 14 to 17 of proc(5)
            used[pid] = sum(int(value) for value in fields[11:15])
            children.setdefault(int(fields[1]), []).append(pid)
        except (IndexError, ValueError):
            continue
    if root not in used:
        return None
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / TICKS_PER_SECOND


def container_cpu_file(pid: int, container_id: str) -> Path | None:
    """The cgroup file counting the CPU time of the container whose first process is
    `pid` (seen from this machine), or None: the engine on another machine, or a cgroup
    that is not the container's own (rootless Podman on cgroup v1 shares the user's)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if container_id not in path:
            continue
        if "cpuacct" in controllers.split(","):
            candidate = CGROUPS / controllers / path.lstrip("/") / "cpuacct.usage"
            if not candidate.exists():  # mounted under a joint name (cpu,cpuacct)
                candidate = CGROUPS / "cpuacct" / path.lstrip("/") / "cpuacct.usage"
        elif controllers == "":
            candidate = CGROUPS / path.lstrip("/") / "cpu.stat"
        else:
            continue
        if candidate.exists():
            return candidate
    return None


def cgroup_seconds(path: Path) -> float | None:
    """CPU seconds in a cgroup's cpuacct.usage (v1, nanoseconds) or cpu.stat (v2)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    if path.name == "cpu.stat":
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return None
    return int(text.strip()) / 1e9
