"""The grader's side of the conversation with the probe running inside a pod."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import TypeVar

import trio

from ..errors import GraderError
from ..probe.messages import Request, from_wire, to_wire

ResultT = TypeVar("ResultT")

# Beyond an operation's own deadline, how long the probe may take to answer at all.
ANSWER_MARGIN = 10.0


class ProbeError(GraderError):
    """The probe failed or did not answer: a grader problem, never the student's."""


class ProbeSession:
    def __init__(self, send_stream: trio.abc.SendStream,
                 receive_stream: trio.abc.ReceiveStream,
                 last_words: Callable[[], str] = str) -> None:
        """`last_words` returns what the probe printed on stderr, for when it dies."""
        self._send_stream = send_stream
        self._last_words = last_words
        self._receive_stream = receive_stream
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[trio.Event, list[dict]]] = {}
        self._send_lock = trio.Lock()
        self._closed_reason: str | None = None

    async def read_answers(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Dispatch the probe's answers to their callers, until the probe's output ends."""
        task_status.started()
        buffer = b""
        try:
            while chunk := await self._receive_stream.receive_some(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._deliver(json.loads(line))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            said = self._last_words().strip()
            self._closed_reason = "the probe exited" + (f"; it said:\n{said}" if said else "")
            for event, _ in self._waiting.values():
                event.set()

    def _deliver(self, answer: dict) -> None:
        waiter = self._waiting.get(answer.get("id"))
        if waiter is not None:  # callers that gave up are no longer waiting
            event, box = waiter
            box.append(answer)
            event.set()

    async def call(self, request: Request[ResultT]) -> ResultT:
        """Run one probe operation and return its typed result. The operation bounds
        itself (`request.budget`); the probe has ANSWER_MARGIN more to answer at all."""
        op = request.op
        if self._closed_reason:
            raise ProbeError(f"probe operation {op!r} impossible: {self._closed_reason}")
        request_id = next(self._ids)
        event, box = trio.Event(), []
        self._waiting[request_id] = (event, box)
        wait = request.budget + ANSWER_MARGIN
        try:
            line = json.dumps({"id": request_id, "op": op, "args": to_wire(request)})
            with trio.move_on_after(wait):
                async with self._send_lock:
                    await self._send_stream.send_all(line.encode() + b"\n")
                await event.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ProbeError(f"could not reach the probe for {op!r}: {exc}") from exc
        finally:
            del self._waiting[request_id]
        if not box:
            reason = self._closed_reason or f"no answer within {wait:.0f} s"
            raise ProbeError(f"probe operation {op!r} failed: {reason}")
        answer = box[0]
        if not answer["ok"]:
            raise ProbeError(f"probe operation {op!r} failed: {answer['error']}\n"
                             f"{answer.get('traceback', '')}")
        return from_wire(request.result_type(), answer["result"])

    async def aclose(self) -> None:
        await self._send_stream.aclose()
