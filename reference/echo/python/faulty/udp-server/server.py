# FAULTY (udp-server): binds a UDP (SOCK_DGRAM) socket on the port instead of a
# TCP listening socket and echoes each datagram back to its sender. Quiz idea it
# gets wrong: "UDP is used so the server does not have to track connections" --
# the echo service is TCP; a TCP client's connect() to this port is refused
# because nothing listens for TCP there, so no TCP client is ever served.
"""Faulty echo server: UDP datagrams instead of TCP connections."""

import socket
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: server.py PORT", file=sys.stderr)
        return 2
    try:
        port = int(sys.argv[1])
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        print(f"server: bad port {sys.argv[1]!r}", file=sys.stderr)
        return 2

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as e:
        print(f"server: cannot listen on 0.0.0.0:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"listening on 0.0.0.0:{port}", file=sys.stderr, flush=True)

    while True:
        try:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data, peer)
        except OSError:
            pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
