# FAULTY (port-per-client-server): echoes correctly on each accepted connection,
# one thread per client, but for every client it ALSO opens a new listening TCP
# socket on an OS-assigned port (bind to port 0, listen) "to give the client its
# own port", kept open while that client is connected. Quiz idea it gets wrong:
# "the server opens a new port for each client" -- every accepted connection
# shares the listening port; the connection is told apart by the four-tuple.
"""Faulty TCP echo server: threaded, plus a useless extra port per client.

Usage: python3 server.py PORT

Same as the correct server (python/correct/server.py), except for the extra
listening socket opened for each connected client.
"""

import contextlib
import resource
import socket
import sys
import threading
import time

BACKLOG = 4096
BUFSIZE = 65536
THREAD_STACK = 256 * 1024


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(conn: socket.socket) -> None:
    # "Give this client its own port": a fresh listening socket on a port the
    # OS picks, open for as long as the client is connected. Nothing uses it.
    own_port = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        own_port.bind(("0.0.0.0", 0))
        own_port.listen(1)
    except OSError:
        pass
    with own_port, conn:
        try:
            while True:
                data = conn.recv(BUFSIZE)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass  # the client reset the connection: just drop it


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

    raise_fd_limit()
    threading.stack_size(THREAD_STACK)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))
        listener.listen(BACKLOG)
    except OSError as e:
        print(f"server: cannot listen on 0.0.0.0:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"listening on 0.0.0.0:{port}", file=sys.stderr, flush=True)

    while True:
        try:
            conn, _addr = listener.accept()
        except OSError as e:
            # EMFILE and friends: back off briefly instead of dying.
            print(f"server: accept: {e}", file=sys.stderr)
            time.sleep(0.05)
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
