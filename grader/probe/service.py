"""The probe's side of its conversation with the grader: JSON lines over stdin/stdout.

Each request is {"id": n, "op": name, "args": {...}}; each answer is
{"id": n, "ok": true, "result": {...}} or {"id": n, "ok": false, "error": "..."}.
Requests run concurrently, so a recorder can wait while connections are opened.
The probe ends when its stdin closes.
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import traceback

import trio

from .connections import ConnectionGroups
from .recorder import Recorder, open_recording_listener
from .socket_table import ephemeral_port_range, read_socket_table


def raise_open_file_limit() -> dict:
    """Lift the soft limit on open files to the hard limit: thousands of sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return {"soft": soft, "hard": hard}


class Probe:
    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._groups = ConnectionGroups()
        self._recorders: dict[str, Recorder] = {}
        self._recorder_ids = itertools.count(1)
        self.open_files = raise_open_file_limit()

    async def op_hello(self) -> dict:
        return {"open_files": self.open_files, "port_range": list(ephemeral_port_range())}

    async def op_socket_table(self, port: int | None = None) -> dict:
        return {"entries": read_socket_table(port)}

    async def op_open(self, **args) -> dict:
        return await self._groups.open(**args)

    async def op_exchange(self, group: str, round: int, timeout: float,
                          interleave_seed: int | None = None) -> dict:
        return await self._groups.exchange(group, round, timeout, interleave_seed)

    async def op_await_eof(self, group: str, timeout: float) -> dict:
        return await self._groups.await_eof(group, timeout)

    async def op_close(self, group: str) -> dict:
        return await self._groups.close(group)

    async def op_record_start(self, expected: int, barrier_timeout: float,
                              idle_timeout: float, host: str = "127.0.0.1") -> dict:
        listener = await open_recording_listener(host, 0)
        recorder = Recorder(expected, barrier_timeout)
        recorder.port = listener.socket.getsockname()[1]
        recorder_id = f"recorder-{next(self._recorder_ids)}"
        self._recorders[recorder_id] = recorder
        await self._nursery.start(recorder.run, listener, idle_timeout)
        return {"recorder": recorder_id, "port": recorder.port}

    async def op_record_release(self, recorder: str) -> dict:
        """Let the recorder echo now: the caller knows the barrier can no longer be met."""
        record = self._recorders.get(recorder)
        if record is not None:
            record.barrier.set()
        return {}

    async def op_record_result(self, recorder: str, timeout: float) -> dict:
        record = self._recorders[recorder]
        with trio.move_on_after(timeout):
            await record.finished.wait()
        result = record.result()
        result["finished"] = record.finished.is_set()
        if record.finished.is_set():
            del self._recorders[recorder]
        return result

    async def close(self) -> None:
        await self._groups.close_all()


async def _answer(probe: Probe, request: dict, reply) -> None:
    request_id = request.get("id")
    op = getattr(probe, f"op_{request.get('op', '')}", None)
    if op is None:
        await reply({"id": request_id, "ok": False, "error": f"unknown op {request.get('op')!r}"})
        return
    try:
        result = await op(**request.get("args", {}))
    except Exception as exc:  # reported to the grader, which turns it into an error verdict
        detail = "".join(traceback.format_exception_only(exc)).strip()
        await reply({"id": request_id, "ok": False, "error": detail,
                     "traceback": traceback.format_exc()})
        return
    await reply({"id": request_id, "ok": True, "result": result})


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
