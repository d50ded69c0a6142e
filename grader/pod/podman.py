"""The Podman backend: the Docker backend's pods, on Podman's Docker-compatible service.

`podman system service` serves the Docker API, so the pod recipe is the same one (see
docker.py and container_recipe.py): a pause container owning the network namespace,
joined containers, a tmpfs volume at /submission, the port 443 sysctl. What differs is
said here and only here.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import docker
from docker.types import Ulimit
from docker.utils import parse_bytes

from .container_recipe import Size
from .docker import DockerBackend, DockerPod
from .docker_program import DockerProgram
from .engine import Engine


class PodmanProgram(DockerProgram):
    def _killed_at_memory_limit(self, state: dict[str, Any], exit_code: int) -> bool:
        # Podman 4 never sets OOMKilled (containers/podman#13102, fixed in 5.x). In a pod,
        # the kernel's OOM killer is what sends a SIGKILL the grader did not send: the
        # student's programs run as an unprivileged user in their own PID namespace.
        return bool(state.get("OOMKilled")) or (exit_code == 128 + signal.SIGKILL
                                                and not self.needed_kill)


# argv: nofile nproc program args...: set both limits (soft and hard; never above the
# hard limit it was given, which it could not raise), then become the program. Any image
# the pod runs on has python3 (the probe needs it).
SET_LIMITS_THEN_EXEC = (
    "import os, resource as r, sys\n"
    "for kind, value in zip((r.RLIMIT_NOFILE, r.RLIMIT_NPROC), sys.argv[1:3]):\n"
    "    hard = r.getrlimit(kind)[1]\n"
    "    value = int(value) if hard == r.RLIM_INFINITY else min(int(value), hard)\n"
    "    r.setrlimit(kind, (value, value))\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n")


# Podman's default seccomp profile allows unshare, clone of new namespaces, mount and
# setns to everyone (nested containers): in a pod, `unshare -Urnm` gave a student program
# every capability in a user namespace of its own. This profile refuses them, as Docker's
# default does for a container without CAP_SYS_ADMIN, with the keyring, bpf, ptrace,
# io_uring and the kernel's admin calls. It is a deny-list written for this project (every
# other syscall allowed: capabilities, all dropped, guard the rest, as in Podman's
# own allow-list, which names nearly all). Podman's Docker API takes a profile's path, read by
# the service, where Docker takes its content: the service must see the grader's files
# (a local socket); one that cannot refuses to create the container, never runs unconfined.
SECCOMP_PROFILE = Path(__file__).with_name("podman-seccomp.json").resolve()


class PodmanPod(DockerPod):
    backend = "podman"
    program_class = PodmanProgram
    lifecycle_one_at_a_time = True

    def _security_options(self) -> list[str]:
        return [*super()._security_options(), f"seccomp={SECCOMP_PROFILE}"]

    def _ulimits(self, size: Size) -> list[Ulimit]:
        # Podman's default nofile and nproc are far above a usual host's hard limits, and
        # a container asking for more than those cannot start ("error setting rlimit").
        return [*super()._ulimits(size), Ulimit(name="nproc", soft=size.pids, hard=size.pids)]

    def _command(self, argv: list[str], size: Size) -> list[str]:
        # Podman's init is catatonit (at /run/podman-init with `init=True`), which signals
        # only its child: `sh -c` of a compound command would die of SIGTERM and take the
        # container down, the program never seeing it. A second catatonit with -g signals
        # the child's whole process group, as Docker's tini does with
        # TINI_KILL_PROCESS_GROUP.
        init = ["/run/podman-init", "-g", "--"]
        if not self.engine.rootless:
            return [*init, *argv]
        # Rootless, Podman's Docker API drops the ulimits it is given (they are set only
        # for root), and without a pids cgroup the per-user process limit is all that
        # stops a fork bomb: the program gets them from a wrapper before it starts
        # (isolated, -I: a module of the submission, its working folder, is never
        # imported in place of the wrapper's own).
        limits = [str(self.settings.nofile), str(size.pids)]
        return [*init, "python3", "-I", "-S", "-c", SET_LIMITS_THEN_EXEC, *limits, *argv]

    def _student_options(self, role: str, copies: int = 1) -> dict[str, Any]:
        options = super()._student_options(role, copies)
        # A read-only Podman container gets writable tmpfs mounts at /run and /var/tmp
        # besides ours (containers.conf read_only_tmpfs); /var/tmp made read-only again,
        # as on Docker (/run is root's).
        return {**options, "tmpfs": {"/var/tmp": "ro,size=64k"}}

    def _volume_options(self, size: str | None = None) -> dict[str, str]:
        # Podman 4.3 takes `size=` in the options as a disk quota request and refuses it
        # on a filesystem without project quotas; tmpfs's own `nr_blocks` (pages) is not
        # parsed, and reaches the tmpfs mount as the same cap.
        pages = -(-parse_bytes(size or self.settings.workdir_size)
                  // os.sysconf("SC_PAGE_SIZE"))
        return {"type": "tmpfs", "device": "tmpfs",
                "o": f"nr_blocks={pages},uid={self.student_uid},gid={self.student_uid}"}


class PodmanBackend(DockerBackend):
    name = "podman"
    product = "Podman"
    service = "service"
    address_variable = "CONTAINER_HOST"
    pod_class = PodmanPod
    advice = ("Start `podman system service` (see the README's Backends section), set "
              "CONTAINER_HOST or --engine-url, or grade with --backend local (not sandboxed)")

    def _engine_of(self, client: docker.DockerClient, version: dict[str, Any],
                   info: dict[str, Any]) -> Engine:
        # Podman's Docker-compatible /info claims every limit and never says rootless;
        # its own /libpod/info says which cgroup controllers it can really use.
        host = client.api._result(client.api._get(client.api._url("/libpod/info")),
                                  True)["host"]
        controllers = set(host.get("cgroupControllers") or ())
        return Engine(client, self.engine_url, self.product, str(version.get("Version", "?")),
                      bool(host.get("security", {}).get("rootless")),
                      str(host.get("cgroupVersion", "?")).removeprefix("v"),
                      tuple(c for c in ("memory", "pids", "cpu") if c not in controllers))

    @classmethod
    def default_url(cls) -> str:
        """CONTAINER_HOST, else the service's own socket: /run/podman/podman.sock for
        root, $XDG_RUNTIME_DIR/podman/podman.sock for anyone else (rootless)."""
        if os.environ.get(cls.address_variable):
            return os.environ[cls.address_variable]
        if os.geteuid() == 0:
            return "unix:///run/podman/podman.sock"
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
        return f"unix://{runtime}/podman/podman.sock"
