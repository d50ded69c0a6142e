# FAULTY (never-closes-server): like the correct threaded server, but when a
# client ends its stream (recv() returns b"") the handler just returns without
# closing the connection, and keeps the socket in a global list, so it is never
# closed or garbage-collected: one descriptor leaked per client. Quiz idea it
# gets wrong (Q2, how a connection ends): a TCP connection is over only when
# BOTH sides have closed it; the client's FIN closes just the client's
# direction. Here the server side sits in CLOSE_WAIT forever (never FIN, never
# TIME_WAIT), and a client that reads until end of stream never gets there.
"""Faulty TCP echo server: threaded, but never closes a connection.

Usage: python3 server.py PORT

Same as the correct server (python/correct/server.py), except that a finished
connection is kept open in a list instead of being closed.
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


finished: list[socket.socket] = []  # "keep them around": never closed


def serve(conn: socket.socket) -> None:
    try:
        while True:
            data = conn.recv(BUFSIZE)
            if not data:
                finished.append(conn)
                return  # the client is done (but conn is never closed)
            conn.sendall(data)
    except OSError:
        conn.close()  # the client reset the connection: just drop it


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
