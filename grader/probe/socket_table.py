"""Read the pod's socket table from /proc/net: the evidence behind the four-tuple checks.

Read from inside the pod's network namespace, these files list exactly the pod's own
sockets: listeners, established connections and TIME_WAIT entries with their four-tuples.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

PROC_NET = Path("/proc/net")

# The kernel's numbering of TCP states in /proc/net/tcp (include/net/tcp_states.h).
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
}
# For UDP the kernel reuses the numbering: 7 (CLOSE) is an unconnected bound socket.
UDP_BOUND = 7


def _decode_address(hex_address: str, family: int) -> tuple[str, int]:
    """'0100007F:1F90' -> ('127.0.0.1', 8080); addresses are in host byte order words."""
    hex_ip, hex_port = hex_address.split(":")
    raw = bytes.fromhex(hex_ip)
    # Each 32-bit word is stored in the host's byte order; undo it word by word.
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    packed = struct.pack(f">{len(words)}I", *words)
    return socket.inet_ntop(family, packed), int(hex_port, 16)


def _read_table(name: str, proto: str, family: int) -> list[dict]:
    path = PROC_NET / name
    try:
        lines = path.read_text().splitlines()[1:]
    except FileNotFoundError:  # a kernel without IPv6 has no tcp6
        return []
    entries = []
    for line in lines:
        fields = line.split()
        local_ip, local_port = _decode_address(fields[1], family)
        remote_ip, remote_port = _decode_address(fields[2], family)
        state_number = int(fields[3], 16)
        if proto == "tcp":
            state = TCP_STATES.get(state_number, f"UNKNOWN({state_number})")
        else:
            state = "BOUND" if state_number == UDP_BOUND else "CONNECTED"
        entries.append(
            {
                "proto": proto,
                "local": [local_ip, local_port],
                "remote": [remote_ip, remote_port],
                "state": state,
                "inode": int(fields[9]),
            }
        )
    return entries


def read_socket_table(port: int | None = None) -> list[dict]:
    """Every TCP and UDP socket of this network namespace, or those touching `port`."""
    entries = (
        _read_table("tcp", "tcp", socket.AF_INET)
        + _read_table("tcp6", "tcp", socket.AF_INET6)
        + _read_table("udp", "udp", socket.AF_INET)
        + _read_table("udp6", "udp", socket.AF_INET6)
    )
    if port is None:
        return entries
    return [e for e in entries if port in (e["local"][1], e["remote"][1])]


def ephemeral_port_range() -> tuple[int, int]:
    """The namespace's ip_local_port_range: where the OS picks clients' source ports."""
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)
