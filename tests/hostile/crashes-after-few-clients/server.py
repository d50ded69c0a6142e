# Hostile: serves correctly (a thread per client) until its 4th connection, then crashes
# with a traceback. Expected: server-starts passes; server-concurrency fails and says
# the server exited during the check, with its last line.
import socket
import sys
import threading


def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
for accepted in range(1, 1000):
    conn, _ = listener.accept()
    if accepted == 4:
        raise RuntimeError("too many clients: my table only has room for 3")
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
