"""A local batch forks its gradings' workers from a process that has imported the grader
already (grader/batch/forkserver.py): each worker still has its own stdin, stdout,
stderr and exit status, and a batch whose forkserver is gone starts workers as before."""

from __future__ import annotations

import json
import os
import signal

import trio

from grader.batch.forked_workers import running_forkserver

from .conftest import REFERENCE


async def _output(worker) -> tuple[bytes, bytes, int]:
    out, err = bytearray(), bytearray()

    async def collect(stream, sink):
        while chunk := await stream.receive_some(65536):
            sink += chunk

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect, worker.stdout, out)
            nursery.start_soon(collect, worker.stderr, err)
        status = await worker.wait()
    return bytes(out), bytes(err), status


def test_a_forked_worker_grades_and_reports_its_own_status():
    async def body():
        async with running_forkserver() as forkserver:
            good = await forkserver.start([
                "--assignment", "echo", "--backend", "local",
                str(REFERENCE / "python" / "correct")])
            bad = await forkserver.start(["--backend", "local", "missing-assignment"])
            parent = _parent(good.pid)
            return (parent == forkserver.pid, await _output(good), await _output(bad))

    forked, (out, _, status), (_, err, bad_status) = trio.run(body)
    assert forked  # a child of the forkserver, not of this process
    report = json.loads(out.decode().strip().splitlines()[-1])["report"]
    assert report["score"] == report["max_score"] and status == 0
    assert bad_status == 2 and b"--assignment" in err  # argparse's own exit and message


def test_without_its_forkserver_a_batch_starts_workers_as_before():
    async def body():
        async with running_forkserver() as forkserver:
            first = await forkserver.start(["--help"])
            await _output(first)
            os.kill(forkserver.pid, signal.SIGKILL)
            with trio.fail_after(10):
                while not forkserver.broken:
                    await trio.sleep(0.05)
            return await forkserver.start(["--help"])

    assert trio.run(body) is None  # grade_in_worker then starts the worker itself


def _parent(child: int) -> int:
    with open(f"/proc/{child}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])
