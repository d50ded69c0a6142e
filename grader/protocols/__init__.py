"""Protocols the probe speaks to a student's server, each a module on top of the
protocol-neutral probe: what each connection sends in a round and how its reply is
judged. The checks about concurrency, ports and restarts use whichever protocol the
assignment names, so they never know the bytes."""

from .base import Answer, Protocol, Round
from .echo import EchoProtocol

PROTOCOLS: dict[str, Protocol] = {"echo": EchoProtocol()}

__all__ = ["PROTOCOLS", "Answer", "EchoProtocol", "Protocol", "Round"]
