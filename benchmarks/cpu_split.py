"""Where a benchmark's CPU time went on this machine, split by who spent it.

    with CpuSplit() as split:
        ...  # the work, run in this process and its children
    print(split.seconds)  # {"grader (this process and its children)": ..., ...}

Read from the kernel's own counters before and after: the machine's busy time
(/proc/stat), this process and the children it waited for (getrusage), the engine's
daemons (their /proc/<pid>/stat), and the containers (cgroup v1 cpuacct of Docker's and
Podman's parents, which keep the time of containers already removed). What is left is the
rest of the machine: the engine's per-container shims and runc, the kernel, other load.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
DAEMONS = ("dockerd", "containerd")
CONTAINER_CGROUPS = (Path("/sys/fs/cgroup/cpuacct/docker"),
                     Path("/sys/fs/cgroup/cpuacct/machine.slice"),
                     Path("/sys/fs/cgroup/cpuacct/libpod_parent"))


def machine_busy_seconds() -> float:
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / TICK


def grader_seconds() -> float:
    return sum(usage.ru_utime + usage.ru_stime for usage in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def daemon_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in DAEMONS:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


def container_seconds() -> float | None:
    found = [path / "cpuacct.usage" for path in CONTAINER_CGROUPS
             if (path / "cpuacct.usage").exists()]
    if not found:
        return None
    return sum(int(path.read_text()) for path in found) / 1e9


def _snapshot() -> dict[str, float | None]:
    return {"machine": machine_busy_seconds(), "grader": grader_seconds(),
            "daemons": daemon_seconds(), "containers": container_seconds()}


class CpuSplit:
    def __enter__(self) -> CpuSplit:
        self._before = _snapshot()
        self.seconds: dict[str, float] = {}
        return self

    def __exit__(self, *_: object) -> None:
        after = _snapshot()
        spent = {key: after[key] - self._before[key]  # type: ignore[operator]
                 for key in after if after[key] is not None and self._before[key] is not None}
        self.seconds = {
            "grader (this process and its children)": spent["grader"],
            f"engine daemons ({', '.join(DAEMONS)})": spent["daemons"],
        }
        if "containers" in spent:
            self.seconds["containers (students' programs, the probe)"] = spent["containers"]
        self.seconds["rest of the machine (shims, runc, kernel, other load)"] = (
            spent["machine"] - sum(self.seconds.values()))
        self.seconds = {key: round(value, 1) for key, value in self.seconds.items()}
