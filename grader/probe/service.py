"""The probe's side of its conversation with the grader: JSON lines over stdin/stdout.

Each request is {"id": n, "op": name, "args": {...}} (a request of messages.py); each
answer is {"id": n, "ok": true, "result": {...}} or {"id": n, "ok": false, "error": ...}.
Requests run concurrently, so a recorder can wait while connections are opened.
The probe ends when its stdin closes.
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from . import messages as m
from .connections import ConnectionGroups
from .kernel import ephemeral_port_range, read_counters, read_listeners, read_socket_table
from .recorder import Recorder, open_recording_listener


def raise_open_file_limit() -> tuple[int, int]:
    """Lift the soft limit on open files to the hard limit: thousands of sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft, hard


class Probe:
    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._groups = ConnectionGroups()
        self._recorders: dict[str, Recorder] = {}
        self._recorder_ids = itertools.count(1)
        self.open_files = raise_open_file_limit()
        self.handlers: dict[type[m.Request], Callable[[Any], Awaitable[Any]]] = {
            m.Hello: self.hello, m.ReadSocketTable: self.socket_table,
            m.ReadListeners: self.listeners, m.ReadCounters: self.counters,
            m.Open: self._groups.open, m.Send: self._groups.send, m.Read: self._groups.read,
            m.Exchange: self._groups.exchange, m.HalfClose: self._groups.half_close,
            m.AwaitEnd: self._groups.await_end, m.Abort: self._groups.abort,
            m.Close: self._groups.close, m.Conclude: self._groups.conclude,
            m.RecordStart: self.record_start,
            m.RecordRelease: self.record_release, m.RecordResult: self.record_result}

    async def hello(self, _: m.Hello) -> m.Greeting:
        return m.Greeting(self.open_files, ephemeral_port_range())

    async def socket_table(self, request: m.ReadSocketTable) -> m.SocketTable:
        return m.SocketTable(tuple(read_socket_table(request.port, request.time_wait)))

    async def listeners(self, request: m.ReadListeners) -> m.Listeners:
        found, source = read_listeners(request.port)
        return m.Listeners(tuple(found), source)

    async def counters(self, _: m.ReadCounters) -> m.Counters:
        return m.Counters(read_counters())

    async def record_start(self, request: m.RecordStart) -> m.RecordStarted:
        listener = await open_recording_listener(request.host, 0)
        recorder = Recorder(request)
        recorder.port = listener.socket.getsockname()[1]
        recorder_id = f"recorder-{next(self._recorder_ids)}"
        self._recorders[recorder_id] = recorder
        await self._nursery.start(recorder.run, listener, request.idle_timeout)
        return m.RecordStarted(recorder_id, recorder.port)

    async def record_release(self, request: m.RecordRelease) -> m.Done:
        recorder = self._recorders.get(request.recorder)
        if recorder is not None:
            recorder.barrier.set()
        return m.Done()

    async def record_result(self, request: m.RecordResult) -> m.Recording:
        recorder = self._recorders[request.recorder]
        with trio.move_on_after(request.timeout):
            await recorder.finished.wait()
        if recorder.finished.is_set():
            del self._recorders[request.recorder]
        return recorder.result()

    async def close(self) -> None:
        await self._groups.close_all()


async def _answer(probe: Probe, message: dict, reply: Callable[[dict], Awaitable[None]],
                  ) -> None:
    request_id = message.get("id")
    kind = m.REQUESTS.get(message.get("op", ""))
    if kind is None:
        await reply({"id": request_id, "ok": False,
                     "error": f"unknown op {message.get('op')!r}"})
        return
    try:
        request = m.from_wire(kind, message.get("args", {}))
        result = await probe.handlers[kind](request)
    except Exception as exc:  # reported to the grader, which turns it into an error verdict
        detail = "".join(traceback.format_exception_only(exc)).strip()
        await reply({"id": request_id, "ok": False, "error": detail,
                     "traceback": traceback.format_exc()})
        return
    await reply({"id": request_id, "ok": True, "result": m.to_wire(result)})


async def serve(stdin: trio.abc.ReceiveStream, stdout: trio.abc.SendStream) -> None:
    write_lock = trio.Lock()

    async def reply(message: dict) -> None:
        async with write_lock:
            await stdout.send_all(json.dumps(message).encode() + b"\n")

    async with trio.open_nursery() as nursery:
        probe = Probe(nursery)
        buffer = b""
        try:
            while chunk := await stdin.receive_some(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        nursery.start_soon(_answer, probe, json.loads(line), reply)
        finally:
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await probe.close()


def main() -> None:
    async def run() -> None:
        await serve(trio.lowlevel.FdStream(sys.stdin.fileno()),
                    trio.lowlevel.FdStream(sys.stdout.fileno()))

    trio.run(run)
