"""The kernel's view of the pod's sockets: the evidence behind the four-tuple checks.

Read from inside the pod's network namespace, /proc/net/tcp and its siblings list
exactly the pod's own sockets (listeners, connections, TIME_WAIT entries, with their
four-tuples), and /proc/net/netstat counts the namespace's overflows. The backlog a
server passed to listen() is not in /proc: it comes from NETLINK_SOCK_DIAG (what `ss
-ltn` shows as Send-Q), which any unprivileged process may ask.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from .messages import Listener, SocketEntry

PROC_NET = Path("/proc/net")

# The kernel's numbering of TCP states (include/net/tcp_states.h).
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}
TCP_LISTEN = 10
TCP_TIME_WAIT = 6
# For UDP the kernel reuses the numbering: 7 (CLOSE) is an unconnected bound socket.
UDP_BOUND = 7
# What the probe reports of /proc/net/netstat's TcpExt line.
COUNTERS = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop",
            "TCPReqQFullDoCookies")

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
_REQUEST = struct.Struct("=BBBBI48x")  # struct inet_diag_req_v2, an empty socket id
_MESSAGE = struct.Struct("=BBBB4x16s28xIIIII")  # struct inet_diag_msg, port unpacked apart


_IPV4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:a.b.c.d


def _decode_address(hex_address: str, family: int) -> tuple[str, int]:
    """'0100007F:1F90' -> ('127.0.0.1', 8080): each 32-bit word in host byte order.

    An IPv4 client of a dual-stack listener ([::], the default of Go, Java and Node)
    appears in tcp6 as ::ffff:127.x.y.z: it is given as the IPv4 address it is, so a
    four-tuple reads the same whichever way the server listens."""
    hex_ip, hex_port = hex_address.split(":")
    raw = bytes.fromhex(hex_ip)
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    return _address(family, struct.pack(f">{len(words)}I", *words)), int(hex_port, 16)


def _address(family: int, packed: bytes) -> str:
    if family == socket.AF_INET6 and packed.startswith(_IPV4_MAPPED):
        return socket.inet_ntop(socket.AF_INET, packed[len(_IPV4_MAPPED):])
    return socket.inet_ntop(family, packed[:4] if family == socket.AF_INET else packed)


def _read_table(name: str, proto: str, family: int, time_wait: bool,
                port: int | None) -> list[SocketEntry]:
    try:
        lines = (PROC_NET / name).read_text().splitlines()[1:]
    except FileNotFoundError:  # a kernel without IPv6 has no tcp6
        return []
    entries = []
    hex_port = None if port is None else f":{port:04X}"
    for line in lines:
        fields = line.split()
        if hex_port is not None and not (fields[1].endswith(hex_port)
                                         or fields[2].endswith(hex_port)):
            continue  # decoded only when it touches the port: the table may be long
        state_number = int(fields[3], 16)
        if state_number == TCP_TIME_WAIT and proto == "tcp" and not time_wait:
            continue
        if proto == "tcp":
            state = TCP_STATES.get(state_number, f"UNKNOWN({state_number})")
        else:
            state = "BOUND" if state_number == UDP_BOUND else "CONNECTED"
        entries.append(SocketEntry(proto, _decode_address(fields[1], family),
                                   _decode_address(fields[2], family), state,
                                   int(fields[9]), int(fields[4].split(":")[1], 16)))
    return entries


def read_socket_table(port: int | None = None, time_wait: bool = True) -> list[SocketEntry]:
    """Every TCP and UDP socket of this network namespace, or those touching `port`;
    TIME_WAIT entries only if `time_wait`."""
    return (_read_table("tcp", "tcp", socket.AF_INET, time_wait, port)
            + _read_table("tcp6", "tcp", socket.AF_INET6, time_wait, port)
            + _read_table("udp", "udp", socket.AF_INET, time_wait, port)
            + _read_table("udp6", "udp", socket.AF_INET6, time_wait, port))


def _diag_listeners(family: int) -> list[Listener]:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as netlink:
        request = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)
        netlink.sendto(_HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY,
                                    NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + request, (0, 0))
        found = []
        while True:
            data = netlink.recv(1 << 16)
            offset = 0
            while offset < len(data):
                length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
                if kind == NLMSG_DONE or length == 0:
                    return found
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    raise OSError(code, "sock_diag refused the request")
                body = offset + _HEADER.size
                port = struct.unpack_from(">H", data, body + 4)[0]
                family_of, _, _, _, source, _, queued, backlog, _, inode = \
                    _MESSAGE.unpack_from(data, body)
                found.append(Listener((_address(family_of, source), port), backlog, queued,
                                      inode))
                offset += (length + 3) & ~3


def read_listeners(port: int) -> tuple[list[Listener], str]:
    """The TCP listeners on `port` with their backlog and accept queue, and where that
    came from: "sock_diag", or "proc" (no backlog there: -1) where netlink is refused."""
    try:
        found = _diag_listeners(socket.AF_INET) + _diag_listeners(socket.AF_INET6)
        return [item for item in found if item.local[1] == port], "sock_diag"
    except OSError:
        return [Listener(e.local, -1, e.queue, e.inode) for e in read_socket_table(port)
                if e.proto == "tcp" and e.state == "LISTEN" and e.local[1] == port], "proc"


def read_counters() -> dict[str, int]:
    """The namespace's TcpExt counters that tell of a full accept queue."""
    lines = (PROC_NET / "netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return {name: int(table.get(name, 0)) for name in COUNTERS}
    return dict.fromkeys(COUNTERS, 0)


def ephemeral_port_range() -> tuple[int, int]:
    """The namespace's ip_local_port_range: where the OS picks clients' source ports."""
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)
