# FAULTY (prefix-fixed-port-client): TWO mistakes at once, a pattern seen in
# real hand-ins, where the first mistake can hide the second behind a skipped
# check. (1) It binds the fixed source port 62222 before connect() (without
# SO_REUSEADDR) instead of letting the OS pick an ephemeral port. Quiz idea it
# gets wrong (Q4, Q5): "the client needs a known port" -- only the server's
# port must be known; the client's port is ephemeral. Concurrent copies fail
# their bind with EADDRINUSE, and so does a second run while the first run's
# connection is still in TIME_WAIT on that port (the client closes first).
# (2) It prints each echoed line as "echo: <line>" instead of the echo itself
# (a protocol mistake, no quiz idea: the output must be exactly the echo).
"""Faulty TCP echo client: fixed source port 62222 and an "echo: " prefix.

Usage: python3 client.py HOST PORT

Same as the correct client (python/correct/client.py), except that it binds
the fixed source port CLIENT_PORT before connecting and prints every reply
line with the prefix "echo: ".
"""

import os
import socket
import sys
import threading

BUFSIZE = 65536
CLIENT_PORT = 62222


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

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("0.0.0.0", CLIENT_PORT))  # "the client needs a known port"
        sock.connect((host, port))
    except OSError as e:
        sock.close()
        print(f"client: cannot connect to {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1

    sender = Sender(sock)
    sender.start()
    out = sys.stdout.buffer
    error: OSError | None = None
    pending = b""
    try:
        while True:
            data = sock.recv(BUFSIZE)
            if not data:
                break  # the server closed the connection
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                out.write(b"echo: " + line + b"\n")
            out.flush()
    except OSError as e:
        error = e
    if pending:
        out.write(b"echo: " + pending)
        out.flush()

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
