# Hostile: answers every line it reads with the same garbage line instead of the echo.
# Expected: server-concurrency fails: a wrong reply came back, showing sent and got.
import socket
import sys
import threading


def serve(conn):
    with conn, conn.makefile("rb") as lines:
        for _ in lines:
            conn.sendall(b"HTTP/1.1 200 OK \x00\xff garbage\n")


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
