# FAULTY (one-recv-per-line): takes what one recv() returns as one line, and answers it
# at once with a newline of its own. Idea it gets wrong: TCP is a byte stream (U1): a
# line sent in pieces arrives in several recv() calls. Otherwise like the correct one.
"""Upper-case line server (faulty): one recv() taken as one line.

Usage: python3 server.py PORT
"""

import socket
import sys
import threading


def serve(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            for line in data.split(b"\n")[:-1] or [data]:
                conn.sendall(line.upper() + b"\n")


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", int(sys.argv[1])))
    listener.listen(socket.SOMAXCONN)
    print(f"listening on 0.0.0.0:{sys.argv[1]}", file=sys.stderr, flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
