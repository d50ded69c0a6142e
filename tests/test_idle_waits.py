"""Waits that end once the student's server sits idle (pod/idleness.py), and the
programs they must never cut short: a server slow to start, or slow to answer, passes.

A wait on the server ends early only when its CPU time, read by the backend, stood still
for IDLE_AFTER seconds, and the probe had nothing unread: then the server is blocked or
asleep, and nothing more is coming. An unknown CPU time is never taken for idle.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from grader import Status, grade, load_assignment, load_submission
from grader.pod.idleness import IDLE_AFTER, until_idle

from .conftest import REFERENCE, compose_reference

HOSTILE = REFERENCE.parents[1] / "tests" / "hostile"


def _when_idle(readings) -> float | None:
    """The (virtual) time until_idle returned for a program whose CPU time at time t is
    readings(t), or None when it had not within a minute."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    found: list[float] = []

    async def cpu_seconds() -> float | None:
        return readings(trio.current_time())

    async def main() -> None:
        with trio.move_on_after(60):
            await until_idle(cpu_seconds)
            found.append(trio.current_time())

    trio.run(main, clock=clock)
    return found[0] if found else None


def test_a_refused_conclusion_is_asked_again_without_a_new_window():
    """The probe refuses to conclude while it fed the server lately; once it agrees, the
    wait ends at the next look, not a whole quiet window later."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    found: list[float] = []

    async def cpu_seconds() -> float | None:
        return 1.5

    async def decided() -> bool:
        return trio.current_time() >= IDLE_AFTER + 1.0

    async def main() -> None:
        with trio.move_on_after(60):
            await until_idle(cpu_seconds, decided=decided)
            found.append(trio.current_time())

    trio.run(main, clock=clock)
    assert found and IDLE_AFTER + 1.0 <= found[0] < IDLE_AFTER + 1.5


def test_a_program_using_no_cpu_is_idle_after_the_quiet_window():
    ended = _when_idle(lambda now: 1.5)
    assert ended is not None and IDLE_AFTER <= ended < IDLE_AFTER + 0.5


def test_a_busy_program_is_never_idle():
    assert _when_idle(lambda now: now * 0.2) is None


def test_a_program_whose_cpu_time_is_unknown_is_never_idle():
    assert _when_idle(lambda now: None) is None


def test_idleness_counts_from_the_last_cpu_used():
    ended = _when_idle(lambda now: min(now, 5.0) * 0.5)
    assert ended is not None and 5.0 + IDLE_AFTER <= ended < 5.0 + IDLE_AFTER + 0.5


def test_a_trickle_of_cpu_below_one_percent_counts_as_idle():
    """A timer waking a blocked server now and then (1 ms a second) is still idle."""
    ended = _when_idle(lambda now: now * 0.001)
    assert ended is not None


def _slowed(tmp_path, name: str, before: str, after: str):
    folder = compose_reference(tmp_path / name, "python")
    server = folder / "server.py"
    text = server.read_text()
    assert before in text
    server.write_text(text.replace(before, after, 1))
    return folder


SLOW_START = ("    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n",
              "    time.sleep(5)\n    listener = socket.socket(socket.AF_INET, "
              "socket.SOCK_STREAM)\n")
SLOW_REPLIES = ("                conn.sendall(data)\n",
                "                time.sleep(0.2)\n                conn.sendall(data)\n")


@pytest.mark.slow
@pytest.mark.parametrize("slowness", [SLOW_START, SLOW_REPLIES], ids=["start-5s", "reply-200ms"])
def test_a_slow_but_correct_server_passes_every_check(tmp_path, backend, slowness):
    folder = _slowed(tmp_path, "slow", *slowness)
    assignment = load_assignment("echo")
    report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
    assert {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS} == {}, [
        (c.id, c.summary) for c in report.checks if c.status is not Status.PASS]
    for check in report.checks:
        assert not check.evidence.get("server_idle_seconds"), check.id


@pytest.mark.slow
def test_a_server_that_never_reads_is_failed_once_it_sits_idle(tmp_path, backend):
    """Round after round it would wait out 10 s deadlines; once the server used no CPU
    for IDLE_AFTER seconds with requests unanswered, the answer is known, and said."""
    folder = compose_reference(tmp_path / "never-reads", "python")
    server = HOSTILE / "accepts-never-reads" / "server.py"
    (folder / "server.py").write_text(server.read_text())
    # server-same-ip's rounds wait 5 s, only 2 s more than the idleness takes to show, and
    # server-concurrency's 10 s: on a loaded machine (the full suite, four workers beside
    # Docker) the deadline could come first (the same verdict, said without the idleness:
    # seen once in server-concurrency). Longer rounds leave the idleness time to be seen,
    # which is what is tested; an idle server still ends each wait after IDLE_AFTER.
    assignment = (load_assignment("echo")
                  .with_params("server-same-ip", round_timeout=20.0)
                  .with_params("server-concurrency", round_timeout=20.0))
    report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
    checks = {c.id: c for c in report.checks}
    for check_id in ("server-concurrency", "server-same-ip"):
        check = checks[check_id]
        assert check.status is Status.FAIL, (check_id, check.summary)
        # Both backends read the server's CPU time on this machine (the engine is local).
        assert check.evidence["server_idle_seconds"] == IDLE_AFTER, check_id
        assert f"sat idle (it used no CPU) for {IDLE_AFTER:g} s" in check.summary


def test_the_probe_refuses_to_conclude_while_it_feeds_the_server():
    """A server sent a request a byte at a time uses next to no CPU: it waits on us. A
    wait ends early only once `quiet` seconds passed since the last byte we sent."""
    import socket

    from grader.probe import messages as m
    from grader.probe.connections import ConnectionGroups

    async def main() -> list[int]:
        groups = ConnectionGroups()
        ended = []
        with socket.socket() as listener:  # takes the bytes, never answers
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            port = listener.getsockname()[1]
            await groups.open(m.Open("g", "127.0.0.1", port, 1, ("127.0.0.1",), 10,
                                     "burst", 10))
            async with trio.open_nursery() as nursery:
                # six bytes a second apart: fed until t = 5
                nursery.start_soon(groups.send, m.Send("g", (b"abcdef",), 60, slice_size=1,
                                                       pause=1.0))
                nursery.start_soon(groups.read, m.Read("g", 60, until=b"\n"))
                for moment in (2.5, 5.5, 8.5):  # feeding, quiet too short, quiet enough
                    await trio.sleep_until(moment)
                    ended.append((await groups.conclude(m.Conclude("g", IDLE_AFTER))).ended)
            await groups.close_all()
        return ended

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == [0, 0, 1]
