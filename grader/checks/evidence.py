"""Small helpers the checks share to gather and describe evidence."""

from __future__ import annotations

from ..pod.base import Completed
from ..protocols.base import Round

MAX_SHOWN = 5


def source_addresses(count: int) -> list[str]:
    """`count` distinct loopback addresses (127.1.0.1, 127.1.0.2, ...): one per connection,
    so the probe's connections differ in source IP as well as in source port."""
    per_block = 254
    return [
        f"127.{1 + i // (256 * per_block)}.{(i // per_block) % 256}.{i % per_block + 1}"
        for i in range(count)
    ]


def address_span(addresses: list[str]) -> str:
    if len(addresses) == 1:
        return addresses[0]
    return f"{len(addresses)} source IPs ({addresses[0]} to {addresses[-1]})"


def printed_lines(completed: Completed) -> list[str]:
    text = completed.stdout.decode(errors="replace")
    return [line.rstrip("\r") for line in text.splitlines() if line.strip()]


def tail(text: bytes | str, lines: int = 6) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


OUTCOME_WORDS = {
    "timed-out": "no reply came back within {timeout:g} s",
    "closed": "your server closed the connection instead of replying",
    "reset": "the connection was reset",
    "send-failed": "sending failed (your server had closed or reset the connection)",
    "wrong": "a wrong reply came back",
    "misrouted": "the reply meant for another connection came back",
}

IDLE_WORDS = ("no reply came back, and your server sat idle (it used no CPU) for {idle:g} s "
              "with requests unanswered")


def what_went_wrong(rounds: list[Round], timeout: float, incomplete: str,
                    idle: float = 0.0) -> str:
    """The most common reason connections went unanswered, in words, with one example.
    Empty when every connection was answered. `idle`: the waits ended once the server had
    used no CPU for that many seconds (see pod.idleness), not at `timeout`."""
    totals: dict[str, int] = {}
    for result in rounds:
        for kind, count in result.counts.items():
            if kind != "answered" and count:
                totals[kind] = totals.get(kind, 0) + count
    if not totals:
        return ""
    kind = max(totals, key=lambda k: totals[k])
    text = (IDLE_WORDS.format(idle=idle) if kind == "timed-out" and idle
            else OUTCOME_WORDS.get(kind, kind).format(timeout=timeout))
    example = next((a for r in rounds for a in r.examples() if a.outcome == kind), None)
    if example is not None:
        if kind in ("wrong", "misrouted"):
            text += f" (sent {example.sent!r}, got {example.received!r})"
        elif kind == "timed-out" and example.received:
            text += (f" (sent {example.sent!r}, only {example.received!r} came back, "
                     f"{incomplete})")
        elif kind in ("reset", "send-failed") and example.received:
            text += f" ({example.received})"
    return text


def counted(number: int, noun: str, plural: str = "") -> str:
    """'1 connection', '2 connections' ('1 copy', '2 copies' with the plural given)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def printed_details(completed: Completed, said: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What a client printed, as details for the student: its output, and the lines of
    its error output worth quoting (`said`), else the end of its error output."""
    shown = []
    if completed.stdout.strip():
        shown.append("Your client printed:\n" + tail(completed.stdout))
    if said:
        shown.append("It said:\n" + "\n".join(f"    {line}" for line in said))
    elif completed.stderr.strip():
        shown.append("On stderr:\n" + tail(completed.stderr))
    return tuple(shown)
