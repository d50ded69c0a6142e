"""The echo protocol: each connection sends a line of its own and must get exactly that
line back, on that connection. A token seen on the wrong connection is cross-talk
between connections, which a four-tuple-correct server never shows."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from .base import Answer, ClientJob, Protocol, Round

if TYPE_CHECKING:
    from ..grading.connections import ConnectionGroup
    from ..probe.messages import Reply

SHOWN = 60  # characters of a reply kept as evidence


LINES_PER_RUN = 12


class EchoProtocol(Protocol):
    """Each connection sends a line of its own; the server echoes it on that connection.
    A client run is given lines on its standard input and must print each echo."""

    name = "echo"
    incomplete = "no newline"

    def __init__(self) -> None:
        super().__init__()
        self.nonce = secrets.token_hex(3)

    def lines(self, label: str, count: int = LINES_PER_RUN) -> list[str]:
        """Lines unique to this grading and to `label`, so no reply can be guessed."""
        return [f"{label}-{i + 1}-{self.nonce} the four-tuple tells connections apart"
                for i in range(count)]

    def client_job(self, index: int) -> ClientJob:
        lines = self.lines(f"client{index + 1}")
        stdin = "".join(line + "\n" for line in lines).encode()
        return ClientJob(stdin=stdin, expected=tuple(lines), marker=lines[0].encode())

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
