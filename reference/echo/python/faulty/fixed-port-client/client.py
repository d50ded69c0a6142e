# FAULTY (fixed-port-client): binds its source port to the fixed port 23456
# (with SO_REUSEADDR) before connect() instead of letting the OS pick an
# ephemeral port. Quiz idea it gets wrong: "the client needs a known port" --
# only the server's port must be known; the client's port is ephemeral. One copy
# at a time works, but concurrent copies to the same server cannot all connect:
# the second gets EADDRINUSE/EADDRNOTAVAIL, prints the error and exits 1.
"""Faulty TCP echo client: always uses source port 23456.

Usage: python3 client.py HOST PORT

Same as the correct client (python/correct/client.py), except that it binds
the fixed source port CLIENT_PORT before connecting.
"""

import os
import socket
import sys
import threading

BUFSIZE = 65536
CLIENT_PORT = 23456


class Sender(threading.Thread):
    """Sends stdin line by line, then shuts down the write side."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            for line in sys.stdin.buffer:
                self.sock.sendall(line)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: client.py HOST PORT", file=sys.stderr)
        return 2
    host, port_arg = sys.argv[1], sys.argv[2]
    try:
        port = int(port_arg)
    except ValueError:
        print(f"client: bad port {port_arg!r}", file=sys.stderr)
        return 2

    sock = None
    try:
        family, type_, proto, _name, sockaddr = socket.getaddrinfo(
            host, port, socket.AF_INET, socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, type_, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", CLIENT_PORT))  # "the client needs a known port"
        sock.connect(sockaddr)
    except OSError as e:
        if sock is not None:
            sock.close()
        print(f"client: cannot connect to {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1

    sender = Sender(sock)
    sender.start()
    out = sys.stdout.buffer
    error: OSError | None = None
    try:
        while True:
            data = sock.recv(BUFSIZE)
            if not data:
                break  # the server closed the connection
            out.write(data)
            out.flush()
    except OSError as e:
        error = e

    if sender.is_alive():
        # The server closed before stdin ended: stop now rather than wait for
        # more input (the sender thread is blocked reading stdin).
        out.flush()
        if error is not None:
            print(
                f"client: connection to {host}:{port} failed: {error.strerror or error}",
                file=sys.stderr,
                flush=True,
            )
        os._exit(1 if error is not None else 0)

    sock.close()
    error = error or sender.error
    if error is not None:
        print(
            f"client: connection to {host}:{port} failed: {error.strerror or error}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
