# Hostile: a correct echo server that first forks two children spinning the CPU
# forever. Expected: the checks still pass (Docker: the pod's CPU quota keeps the host
# free; local: RLIMIT_CPU kills the spinners) and nothing is left afterwards.
import os
import socket
import sys
import threading

for _ in range(2):
    if os.fork() == 0:
        while True:
            pass


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
