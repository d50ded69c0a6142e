# Hostile (see client.py): the correct echo server, plus a thread that does the
# networking for a client that has no sockets: it reads relay/PID.in requests, talks to
# the host and port named there, and writes what came back to relay/PID.out.
import os
import socket
import sys
import threading
import time

RELAY = os.path.join(os.getcwd(), "relay")


def relay_for_clients() -> None:
    while True:
        try:
            names = [n for n in os.listdir(RELAY) if n.endswith(".in")]
        except OSError:
            names = []
        for name in names:
            path = os.path.join(RELAY, name)
            with open(path) as handle:
                host, port, text = handle.read().split("\n", 2)
            os.remove(path)
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(text.encode())
                conn.shutdown(socket.SHUT_WR)
                received = b""
                while data := conn.recv(65536):
                    received += data
            with open(path[:-3] + ".out", "wb") as out:
                out.write(received)
        time.sleep(0.02)


def serve(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


threading.Thread(target=relay_for_clients, daemon=True).start()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(socket.SOMAXCONN)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
