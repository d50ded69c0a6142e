"""The pod's socket table as the checks read it."""

from __future__ import annotations

from dataclasses import dataclass


def endpoint(address: list | tuple) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class SocketTable:
    entries: tuple[dict, ...]

    def tcp(self, state: str) -> list[dict]:
        return [e for e in self.entries if e["proto"] == "tcp" and e["state"] == state]

    def listeners(self, port: int | None = None) -> list[dict]:
        return [e for e in self.tcp("LISTEN") if port is None or e["local"][1] == port]

    def server_side(self, port: int, state: str) -> list[dict]:
        """Connections whose local end is `port`: the server's ends."""
        return [e for e in self.tcp(state) if e["local"][1] == port]

    def udp_bound(self, port: int) -> list[dict]:
        return [e for e in self.entries if e["proto"] == "udp" and e["local"][1] == port]

    def listening_ports(self, owned_inodes: set[int] | None) -> set[int]:
        return {e["local"][1] for e in self.listeners()
                if owned_inodes is None or e["inode"] in owned_inodes}


def four_tuple(entry: dict) -> str:
    return f"{endpoint(entry['local'])} <- {endpoint(entry['remote'])}"
