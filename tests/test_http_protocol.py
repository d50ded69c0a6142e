"""The http protocol's framing of the probe's replies, without sockets."""

from __future__ import annotations

import trio

from grader.probe.messages import Reply
from grader.protocols.http import HttpProtocol, response_bytes


class OneReadGroup:
    """A connection group whose bodies arrive whole on the first read."""

    def __init__(self, bodies: dict[int, bytes]) -> None:
        self.bodies = bodies

    async def read(self, *, timeout, lengths=(), connections=(), **_):
        return tuple(Reply(c, "complete", self.bodies[c]) for c in connections)


def test_a_request_whose_connection_never_opened_gets_its_own_answer():
    """A server that died while we opened connections left fewer heads than requests:
    each request still gets an answer, "not-connected" for the missing ones (this was a
    ValueError from zip(strict=True): a grader error instead of the student's fail)."""
    answer = response_bytes(200, "OK", b"hello\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    heads = [Reply(0, "complete", head + b"\r\n\r\n"), Reply(1, "reset", b"", "ECONNRESET")]
    methods = [b"GET"] * 4

    far_deadline = 1e9  # the fake group answers at once
    responses = trio.run(HttpProtocol()._bodies, OneReadGroup({0: body}), heads, methods,
                         far_deadline)

    assert [r.outcome for r in responses] == ["complete", "reset", "not-connected",
                                              "not-connected"]
    assert responses[0].body == b"hello\n" and responses[0].ok
    assert responses[2].describe() == "no response: the connection could not be opened"
