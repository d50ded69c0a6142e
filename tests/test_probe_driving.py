"""The probe's connections advanced together under one epoll (grader/probe/driving.py):
a peer that floods us is read up to the cap and no further, and cannot keep the probe
past its deadline or its other tasks from running; and a payload larger than
the socket's buffers goes out whole to a slow reader. Real loopback sockets, served by
small threads here. And the local backend's probe runs as a container's does, without
the rest of the grader."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import trio

from grader.probe import messages as m
from grader.probe.connections import ConnectionGroups


@contextmanager
def serving(handle: Callable[[socket.socket], None], clients: int = 1) -> Iterator[int]:
    """A loopback listener whose accepted connections are each handled by a thread."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(clients)
        listener.settimeout(10)

        def accept_all() -> None:
            for _ in range(clients):
                conn, _ = listener.accept()
                threading.Thread(target=handle_and_close, args=(conn,), daemon=True).start()

        def handle_and_close(conn: socket.socket) -> None:
            with conn, suppress(OSError):  # the probe closed it: the test is over
                handle(conn)

        acceptor = threading.Thread(target=accept_all, daemon=True)
        acceptor.start()
        yield listener.getsockname()[1]
        acceptor.join(10)


def _open(port: int, count: int = 1) -> m.Open:
    return m.Open("g", "127.0.0.1", port, count, ("127.0.0.1",), 10, "burst", 10)


def test_a_peer_that_floods_cannot_hold_the_probe_past_its_deadline():
    def flood(conn: socket.socket) -> None:
        conn.settimeout(20)
        chunk = b"x" * 65536
        for _ in range(200_000):  # bounded: at most ~13 GB, ended far sooner by the close
            conn.sendall(chunk)

    async def main() -> tuple[m.Ends, m.Replies, float, int]:
        groups = ConnectionGroups()
        ticks = 0

        async def ticking() -> None:
            nonlocal ticks
            while True:
                await trio.sleep(0.05)
                ticks += 1

        with serving(flood) as port:
            await groups.open(_open(port))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ticking)
                started = trio.current_time()
                ends = await groups.await_end(m.AwaitEnd("g", 1.0))
                replies = await groups.read(m.Read("g", 5.0, until=b"\n", max_bytes=1 << 20))
                took = trio.current_time() - started
                nursery.cancel_scope.cancel()
            await groups.close_all()
        return ends, replies, took, ticks

    ends, replies, took, ticks = trio.run(main)
    assert ends.still_open == (0,) and not ends.closed_by_peer and not ends.reset
    assert replies.replies[0].outcome == "too-long"
    assert len(replies.replies[0].data) == 1 << 20
    assert took < 10, took
    assert ticks >= 5, f"other tasks ran only {ticks} times in {took:.1f} s of flood"


def test_a_payload_larger_than_the_socket_buffers_goes_out_whole_to_a_slow_reader():
    payload = random.Random(7).randbytes(8 << 20) + b"\n"

    def slow_echo_of_size(conn: socket.socket) -> None:
        conn.settimeout(20)
        received = 0
        while received < len(payload) and (chunk := conn.recv(16384)):
            received += len(chunk)
        conn.sendall(f"{received}\n".encode())

    async def main() -> m.Replies:
        groups = ConnectionGroups()
        with serving(slow_echo_of_size) as port:
            await groups.open(_open(port))
            replies = await groups.exchange(m.Exchange("g", (payload,), 30, until=b"\n"))
            await groups.close_all()
        return replies

    reply = trio.run(main).replies[0]
    assert (reply.outcome, reply.data) == ("complete", f"{len(payload)}\n".encode()), reply


def test_the_local_probe_runs_as_in_a_container_importing_nothing_of_the_grader():
    import subprocess

    from grader.pod.probe_bundle import local_probe_command

    command = local_probe_command()
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], input=b"",
                          capture_output=True, timeout=60, check=True)
    imported = {line.rsplit("|", 1)[-1].strip()
                for line in done.stderr.decode().splitlines() if line.startswith("import time")}
    assert "sgprobe.service" in imported and "trio" in imported
    assert not {name for name in imported if name.split(".")[0] == "grader"}
