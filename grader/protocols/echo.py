"""The echo protocol: each connection sends a line of its own and must get exactly that
line back, on that connection. A token seen on the wrong connection is cross-talk
between connections, which a four-tuple-correct server never shows."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from .base import Answer, Protocol, Round

if TYPE_CHECKING:
    from ..grading.connections import ConnectionGroup
    from ..probe.messages import Reply

SHOWN = 60  # characters of a reply kept as evidence


class EchoProtocol(Protocol):
    name = "echo"
    incomplete = "no newline"

    async def round(self, group: ConnectionGroup, number: int, timeout: float,
                    order_seed: int | None = None) -> Round:
        nonce = secrets.token_hex(4)
        tokens = [f"{group.name}:{i}:{number}:{nonce}".encode() for i in range(group.size)]
        owner = {token: index for index, token in enumerate(tokens)}
        replies = await group.exchange([token + b"\n" for token in tokens], until=b"\n",
                                       timeout=timeout, order_seed=order_seed)
        return Round(number, tuple(_judge(reply, tokens[i], owner, group.local[i])
                                   for i, reply in enumerate(replies)))


def _judge(reply: Reply, token: bytes, owner: dict[bytes, int],
           local: tuple[str, int]) -> Answer:
    line = reply.data.rstrip(b"\n").rstrip(b"\r")
    text = line[:SHOWN].decode(errors="replace")
    if reply.outcome == "complete":
        outcome = ("answered" if line == token else "misrouted" if line in owner
                   else "wrong")
    elif reply.outcome in ("eof", "closed"):
        outcome = "closed"
    elif reply.outcome == "too-long":
        outcome = "wrong"
    elif reply.outcome in ("reset", "send-failed"):
        outcome, text = reply.outcome, reply.error
    else:
        outcome = "timed-out"
    return Answer(reply.connection, local, outcome, token.decode(), text)
