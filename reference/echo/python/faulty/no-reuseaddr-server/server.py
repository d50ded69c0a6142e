# FAULTY (no-reuseaddr-server): identical to the correct threaded server except
# that it never sets SO_REUSEADDR before bind(). Quiz idea it gets wrong: after
# the server is killed, its old connections stay in TIME_WAIT on the server
# port, and without SO_REUSEADDR a restart on that port fails with "Address
# already in use" (it prints the error to stderr and exits 1) until they expire.
"""Faulty TCP echo server: threaded, but no SO_REUSEADDR.

Usage: python3 server.py PORT

Same as the correct server (python/correct/server.py), minus SO_REUSEADDR.
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
    with conn:
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
