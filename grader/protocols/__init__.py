"""Protocols the probe speaks to a student's programs, each a module on top of the
protocol-neutral probe: what each connection sends in a round and how its reply is
judged, and what a run of the student's client is given. The checks about concurrency,
ports and restarts use whichever protocol the assignment names, so they never know the
bytes. An assignment names a protocol of its own folder's checks.py, or one of the
modules here by its name."""

from .base import Answer, ClientJob, Protocol, Replies, Round

__all__ = ["Answer", "ClientJob", "Protocol", "Replies", "Round"]
