"""Upper-case line server (correct): one thread per client, reads whole lines.

Usage: python3 server.py PORT
"""

import socket
import sys
import threading


def serve(conn: socket.socket) -> None:
    with conn, conn.makefile("rb") as lines:
        for line in lines:  # a whole line, however many recv() calls it took
            conn.sendall(line.upper())


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
