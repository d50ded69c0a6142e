"""What a protocol module provides: one round of request and reply on every connection
of a group, each reply judged.

A round's outcome per connection, in the words every report uses:
  answered   the right reply, on the right connection
  misrouted  the reply meant for ANOTHER connection of the group came back here
  wrong      a reply came back, but not the one expected
  closed     the server closed the connection instead of replying
  reset      the connection was reset
  send-failed  the request could not be sent (closed or reset before)
  timed-out  no (complete) reply within the round's deadline
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ..grading.connections import ConnectionGroup
    from ..pod.base import Pod

OUTCOMES = ("answered", "misrouted", "wrong", "closed", "reset", "send-failed", "timed-out")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Answer:
    """One connection's part of a round."""

    connection: int
    local: tuple[str, int]  # the connection's own (client) end
    outcome: str  # one of OUTCOMES
    sent: str  # what it sent, as a student reads it
    received: str  # what came back (shortened), or the error


@dataclass(frozen=True)
class Round:
    number: int
    answers: tuple[Answer, ...]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for answer in self.answers:
            counts[answer.outcome] += 1
        return counts

    @property
    def answered(self) -> int:
        return self.counts["answered"]

    @property
    def not_answered(self) -> list[int]:
        return [a.connection for a in self.answers if a.outcome != "answered"]

    def examples(self, limit: int = MAX_EXAMPLES) -> list[Answer]:
        return [a for a in self.answers if a.outcome != "answered"][:limit]


def examples(rounds: Iterable[Round], limit: int = MAX_EXAMPLES) -> list[dict]:
    """The first unanswered connections of some rounds, as evidence."""
    found = [{"round": r.number, "connection": a.connection, "local": list(a.local),
              "outcome": a.outcome, "sent": a.sent, "received": a.received}
             for r in rounds for a in r.examples(limit)]
    return found[:limit]


@dataclass(frozen=True)
class ClientJob:
    """One run of the student's client: what it is given, and what it must print."""

    stdin: bytes = b""
    placeholders: Mapping[str, str] = field(default_factory=dict)  # besides host and port
    expected: tuple[str, ...] = ()  # texts it must print, each unique to this run
    marker: bytes = b""  # what the server receives from this run alone (its request)


@dataclass(frozen=True)
class Replies:
    """How the grader's recording server answers a student's client. By default it
    mirrors what arrives; with a table, it reads a request up to `until`, finds its key
    (`key`, a regular expression's first group), and sends `table[key]` (else
    `missing`), closing the connection afterwards when `close` is set."""

    until: bytes = b""
    key: bytes = b""
    table: Mapping[str, bytes] = field(default_factory=dict)
    missing: bytes = b""
    close: bool = False


class Protocol(abc.ABC):
    """A request-and-reply protocol as the checks drive it. One instance serves one
    grading: `prepare` may give the pod files (a web server's documents) and the
    server's command its placeholders, and the instance keeps what it made."""

    name: ClassVar[str]
    incomplete: ClassVar[str] = "the reply was incomplete"  # said of a reply cut short

    def __init__(self) -> None:
        self.placeholders: dict[str, str] = {}  # for the server's run command
        self.replies = Replies()  # how the recording server answers the student's client

    async def prepare(self, pod: Pod) -> None:  # noqa: B027 (most protocols need nothing)
        """Called once the pod is up, before anything of the student's starts."""

    def client_job(self, index: int) -> ClientJob:
        """The `index`-th run of the student's client (each unique to its run)."""
        raise NotImplementedError(f"the {self.name} protocol has no client runs")

    @abc.abstractmethod
    async def round(self, group: ConnectionGroup, number: int, timeout: float,
                    order_seed: int | None = None) -> Round:
        """Every connection of `group` sends its own request and reads its reply, within
        `timeout`. With `order_seed` the requests go out one at a time in a shuffled
        order (reproducible from the seed), so connections that share a source IP
        interleave; otherwise all at once."""
