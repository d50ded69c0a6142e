# FAULTY (keyed-by-ip-server): concurrent like the correct server, but it keeps a
# dict {client IP: most recent connection from that IP} and sends every reply to
# clients[peer_ip] instead of back on the connection the data came from. Quiz
# idea it gets wrong: "a client is identified by its IP address" -- a TCP
# connection is identified by the four-tuple (both IPs AND both ports); with
# many connections from one IP, replies go to the wrong connection.
"""Faulty TCP echo server: threaded, but replies are routed by client IP.

Usage: python3 server.py PORT

Same as the correct server (python/correct/server.py), except that each reply
goes to the latest connection from the sender's IP address.
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


clients: dict[str, socket.socket] = {}  # client IP -> its latest connection
clients_lock = threading.Lock()


def serve(conn: socket.socket, peer_ip: str) -> None:
    with clients_lock:
        clients[peer_ip] = conn
    with conn:
        try:
            while True:
                data = conn.recv(BUFSIZE)
                if not data:
                    break
                with clients_lock:
                    target = clients.get(peer_ip, conn)
                try:
                    target.sendall(data)
                except OSError:
                    if target is conn:
                        raise
        except OSError:
            pass  # the client reset the connection: just drop it
        finally:
            with clients_lock:
                if clients.get(peer_ip) is conn:
                    del clients[peer_ip]


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
            conn, addr = listener.accept()
        except OSError as e:
            # EMFILE and friends: back off briefly instead of dying.
            print(f"server: accept: {e}", file=sys.stderr)
            time.sleep(0.05)
            continue
        threading.Thread(target=serve, args=(conn, addr[0]), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
