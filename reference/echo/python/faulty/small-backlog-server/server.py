# FAULTY (small-backlog-server): the most idiomatic concurrent Python server,
# socketserver.ThreadingTCPServer (one thread per client, allow_reuse_address,
# daemon threads), left with its DEFAULT request_queue_size of 5, so it calls
# listen(5). Quiz idea it gets wrong: one listening port serves hundreds of
# clients at once only if the kernel can queue their handshakes until accept():
# a burst of hundreds of connections overflows a listen backlog of 5, and some
# clients reach the server seconds late (SYN retransmits) or not in time.
"""Faulty TCP echo server: socketserver.ThreadingTCPServer with backlog 5.

Usage: python3 server.py PORT

Same behaviour as the correct server (python/correct/server.py): one thread
per client, echoes until the client closes, SO_REUSEADDR; but the listen
backlog is socketserver's default, 5.
"""

import socketserver
import sys


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
        except OSError:
            pass  # the client reset the connection: just drop it


class EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # SO_REUSEADDR before bind
    daemon_threads = True
    # request_queue_size is left at its default: 5


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

    try:
        server = EchoServer(("0.0.0.0", port), EchoHandler)
    except OSError as e:
        print(f"server: cannot listen on 0.0.0.0:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"listening on 0.0.0.0:{port}", file=sys.stderr, flush=True)
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
