"""The pod's socket table as the checks read it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..probe.messages import SocketEntry


def endpoint(address: Iterable) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def four_tuple(entry: SocketEntry) -> str:
    return f"{endpoint(entry.local)} <- {endpoint(entry.remote)}"


@dataclass(frozen=True)
class SocketTable:
    entries: tuple[SocketEntry, ...]

    def tcp(self, state: str) -> list[SocketEntry]:
        return [e for e in self.entries if e.proto == "tcp" and e.state == state]

    def listeners(self, port: int | None = None) -> list[SocketEntry]:
        return [e for e in self.tcp("LISTEN") if port is None or e.local[1] == port]

    def server_side(self, port: int, state: str) -> list[SocketEntry]:
        """Connections whose local end is `port`: the server's ends."""
        return [e for e in self.tcp(state) if e.local[1] == port]

    def udp_bound(self, port: int) -> list[SocketEntry]:
        return [e for e in self.entries if e.proto == "udp" and e.local[1] == port]

    def listening_ports(self, owned_inodes: set[int] | None) -> set[int]:
        return {e.local[1] for e in self.listeners()
                if owned_inodes is None or e.inode in owned_inodes}

    def toward(self, remotes: Iterable[tuple[str, int]], port: int) -> list[SocketEntry]:
        """The server's ends (on `port`) of connections from the given client ends."""
        wanted = {tuple(r) for r in remotes}
        return [e for e in self.entries if e.proto == "tcp" and e.local[1] == port
                and e.state != "LISTEN" and tuple(e.remote) in wanted]

    def from_ends(self, locals_: Iterable[tuple[str, int]]) -> list[SocketEntry]:
        """The client ends themselves (the probe's side of its own connections)."""
        wanted = {tuple(a) for a in locals_}
        return [e for e in self.entries if e.proto == "tcp" and tuple(e.local) in wanted]
