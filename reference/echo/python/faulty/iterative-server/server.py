# FAULTY (iterative-server): the classic tutorial echo server. It accepts one
# connection, does ONE recv() and ONE sendall(), closes the connection, and only
# then accepts the next one. Quiz idea it gets wrong: a server port serves many
# clients at once (each accepted connection is its own socket, served
# concurrently); here clients wait in the listen queue one at a time, and
# anything a client sends after its first recv() chunk is never echoed.
"""Faulty TCP echo server: iterative, one read and one write per client."""

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

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))
        listener.listen(4096)
    except OSError as e:
        print(f"server: cannot listen on 0.0.0.0:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"listening on 0.0.0.0:{port}", file=sys.stderr, flush=True)

    while True:
        conn, _addr = listener.accept()
        try:
            data = conn.recv(4096)
            conn.sendall(data)
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
