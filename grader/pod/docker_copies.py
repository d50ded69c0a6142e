"""Copies of a student's program run together in ONE container of a Docker (or Podman)
pod: `Pod.run_copies` on the engines.

Creating, starting and removing a container costs the engine about 0.15 s of CPU, five
times what a copy of a client costs itself, and every grading runs eight copies of the
student's client at once. So the copies share one container, sized for all of them
(the sum of their limits, the same budget as a container each), and the grader's small
launcher (copies_launcher.py) is its main program: it starts each copy as its own
process group, feeds its stdin, keeps its output apart and capped, and kills it at the
deadline, as the engine and the container's init did for each.
"""

from __future__ import annotations

import base64
import binascii
import json
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from . import copies_launcher
from .attached_streams import DemuxedOutput
from .base import Completed
from .container_recipe import shell_argv
from .engine import force_remove
from .processes import CappedOutput

if TYPE_CHECKING:
    from .docker import DockerPod

# Isolated (-I): the submission's folder, the working directory, is not on its import
# path, so no module of the student's is ever imported in place of the launcher's own.
LAUNCHER_ARGV = ["python3", "-I", "-S", "-c", Path(copies_launcher.__file__).read_text()]
STOP_GRACE = 0.5  # seconds between SIGTERM and SIGKILL at the deadline, as for one run
ANSWER_MARGIN = 5.0  # seconds the launcher's answers may take past the copies' deadline
KILLED = 128 + signal.SIGKILL


async def run_in_one_container(pod: DockerPod, role: str, runs: Sequence[tuple[str, bytes]],
                               timeout: float,
                               ended: Callable[[int], Awaitable[None]] | None) -> list[Completed]:
    """Each (command, stdin) of `runs` as a copy of `role`, all in one new container of
    `pod`; `ended(index)` is awaited as each copy's answer arrives."""
    started = time.monotonic()
    answers: dict[int, Completed] = {}
    request = {"copies": [{"argv": shell_argv(command),
                           "stdin": base64.b64encode(stdin).decode()}
                          for command, stdin in runs],
               "timeout": timeout, "grace": STOP_GRACE, "cap": pod.output_cap}
    container = await pod.create_student(role, LAUNCHER_ARGV, stdin=True, copies=len(runs))

    async def answered(answer: dict[str, Any]) -> None:
        index = int(answer["copy"])
        answers[index] = _completed(runs[index][0], answer, pod.output_cap)
        if ended is not None:
            await ended(index)

    done = False
    try:
        stream = await pod.attach(container)
        await pod.lifecycle(container.start)
        output = DemuxedOutput(stream)
        with trio.move_on_after(timeout + STOP_GRACE + copies_launcher.LINGER
                                + ANSWER_MARGIN) as deadline:
            await stream.send_all(json.dumps(request).encode() + b"\n")
            done = await _read_answers(output, answered)
        await stream.aclose()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await pod.lifecycle(force_remove, container)
    complaint = output.stderr.value().decode(errors="replace")
    if not done and not deadline.cancelled_caught and "Traceback" in complaint:
        raise RuntimeError(f"the grader's launcher of the {role} copies failed: "
                           f"{complaint[-1500:]}")
    # A copy the launcher never answered for: past our deadline, it was stopped there;
    # before it, the launcher was killed (by a copy: they run as one user) and took
    # the copy with it.
    return [answers.get(index) or Completed(
                command, None if deadline.cancelled_caught else KILLED, b"", b"",
                time.monotonic() - started)
            for index, (command, _) in enumerate(runs)]


async def _read_answers(output: DemuxedOutput,
                        answered: Callable[[dict[str, Any]], Awaitable[None]]) -> bool:
    """Hand each of the launcher's answers (a JSON object a line) to `answered`; True
    once it said it is done, False if its output ended first."""
    pending = b""
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        while chunk := await output.receive_some():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue
                if answer.get("done"):
                    return True
                await answered(answer)
    return False


def _completed(command: str, answer: dict[str, Any], cap: int) -> Completed:
    def output(name: str) -> bytes:
        kept = CappedOutput(cap)
        with suppress(binascii.Error, TypeError):
            kept.add(base64.b64decode(answer.get(name) or ""))
        kept.dropped += int(answer.get(f"{name}_dropped") or 0)
        return kept.value()

    exit_code = answer.get("exit_code")
    return Completed(command, None if exit_code is None else int(exit_code),
                     output("stdout"), output("stderr"), float(answer.get("seconds") or 0.0))
