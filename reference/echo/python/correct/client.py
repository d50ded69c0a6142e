"""Reference TCP echo client (correct).

Usage: python3 client.py HOST PORT

Connects once to HOST:PORT (the OS picks the ephemeral source port; the
client never binds), sends every line read from stdin, and prints whatever
the server echoes as soon as it arrives. A sender thread copies stdin to the
socket while the main thread prints the replies, so a server that holds its
echo back for a while, or whose echo arrives split or merged across recv()
calls, is handled. At end of stdin the client shuts down its write side (the
server sees EOF) and keeps reading until the server closes, then exits 0.
"""

import os
import socket
import sys
import threading

BUFSIZE = 65536


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

    try:
        sock = socket.create_connection((host, port))
    except OSError as e:
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
