# Hostile: see build.py. Says on stderr whether the build's daemon still runs ("DAEMON
# alive" or "DAEMON gone"), then serves correctly (echo, a thread per client).
import os
import socket
import sys
import threading

with open(os.path.join(os.environ["TMPDIR"], "daemon.pid")) as note:
    daemon = note.read().strip()
try:
    with open(f"/proc/{daemon}/stat") as stat:
        state = stat.read().rsplit(")", 1)[1].split()[0]
except OSError:
    state = "gone"
print("DAEMON", "gone" if state in ("gone", "Z", "X") else "alive", file=sys.stderr, flush=True)


def serve(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(socket.SOMAXCONN)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
