"""Reference TCP echo server (correct), listening dual-stack on [::] as Go's
net.Listen("tcp", ":PORT"), Java's ServerSocket(PORT) and Node's listen(PORT) do.

Usage: python3 server.py PORT

One socket on [::]:PORT takes IPv4 and IPv6 clients alike: an IPv4 client's
connection is held as ::ffff:127.x.y.z (it is listed in /proc/net/tcp6, not tcp).
socket.create_server sets SO_REUSEADDR, as those runtimes do. Otherwise it is the
correct server: one thread per client, echoing every byte until the client closes.
"""

import socket
import sys
import threading

BACKLOG = 4096
BUFSIZE = 65536


def serve(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(BUFSIZE):
                conn.sendall(data)
        except OSError:
            pass  # the client reset the connection: just drop it


def main() -> int:
    port = int(sys.argv[1])
    threading.stack_size(256 * 1024)
    try:
        listener = socket.create_server(("", port), family=socket.AF_INET6,
                                        backlog=BACKLOG, dualstack_ipv6=True)
    except OSError as e:
        print(f"server: cannot listen on [::]:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"listening on [::]:{port}", file=sys.stderr, flush=True)
    while True:
        conn, _addr = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
