"""Gradings' worker processes forked from one that has imported the grader already.

Starting `python -m grader.batch.worker` costs about 0.45 s of CPU before it grades
anything (Python, trio, the grader, the Docker SDK): a seventh of what a student costs
a batch on Docker. So a local batch starts this process once (`python -m
grader.batch.forkserver`): it imports all that, then forks a worker for each grading,
which runs grader.batch.worker's `main` exactly as a freshly started one would.

The batch sends each request on a SOCK_SEQPACKET socket: the worker's argv (JSON) with
its stdin, stdout and stderr attached as descriptors. The answer is the worker's pid
with a pidfd attached, and, once the worker ended, a notice of its exit status. The
forkserver's own stdin is its lifeline: it ends with the batch, even a killed one (each
worker has a lifeline of its own, its stdin). It ignores SIGINT: a Ctrl-C reaches every
process of the batch's group, the workers included, which cancel their gradings.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Callable

from .forked_workers import MESSAGE_SIZE


def main(control_fd: int) -> None:
    # What every worker imports, imported once here (the pods' engines included).
    from ..pod import docker, podman  # noqa: F401
    from . import worker

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=control_fd)
    waker_read, waker_write = os.pipe()
    os.set_blocking(waker_write, False)
    signal.set_wakeup_fd(waker_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector via the pipe
    selector = selectors.DefaultSelector()
    for fd in (control.fileno(), sys.stdin.fileno(), waker_read):
        selector.register(fd, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fd == waker_read:
                os.read(waker_read, 4096)
                _report_exits(control)
            elif key.fd == sys.stdin.fileno():
                if not os.read(key.fd, 4096):
                    return  # the batch is gone
            else:
                message, fds, _, _ = socket.recv_fds(control, MESSAGE_SIZE, 3)
                if not message:
                    return
                _fork_worker(control, json.loads(message), fds,
                             [selector, control, waker_read, waker_write], worker.main)


def _fork_worker(control: socket.socket, argv: list[str], fds: list[int],
                 ours: list, run: Callable[[list[str]], int]) -> None:
    """Fork a worker on the descriptors `fds` (its stdin, stdout, stderr); tell the batch
    its pid, with a pidfd to wait on."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _become_worker(argv, fds, ours, run)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
    finally:
        os.close(pidfd)


def _become_worker(argv: list[str], fds: list[int], ours: list,
                   run: Callable[[list[str]], int]) -> None:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for resource in ours:
            if isinstance(resource, int):
                os.close(resource)
            else:
                resource.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        try:
            code = run(argv)
        except SystemExit as exit:  # argparse's, for one
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _report_exits(control: socket.socket) -> None:
    """Reap the workers that ended and tell the batch their status (as Popen says it:
    negative for a signal)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        try:
            control.send(json.dumps({"exited": pid, "status": code}).encode())
        except OSError:
            return


if __name__ == "__main__":
    main(int(sys.argv[1]))
