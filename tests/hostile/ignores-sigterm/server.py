# Hostile: a correct echo server (SO_REUSEADDR, a thread per client) that ignores
# SIGTERM. Expected: every check passes; the grader escalates to SIGKILL when it stops
# the server (server-restart's evidence says so), and nothing of it is left afterwards.
import signal
import socket
import sys
import threading

signal.signal(signal.SIGTERM, signal.SIG_IGN)


def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
