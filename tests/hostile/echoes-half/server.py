# Hostile: echoes only the first half of each line (no newline), then waits for more.
# Expected: server-concurrency fails, and the message shows the half that came back.
import socket
import sys
import threading


def serve(conn):
    with conn, conn.makefile("rb") as lines:
        for line in lines:
            conn.sendall(line[: len(line) // 2])


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
