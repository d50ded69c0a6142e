# Hostile: reads one byte a second on each connection (a thread each) and echoes it.
# Expected: server-concurrency fails: no full line comes back in time, and the message
# shows the part that did come back.
import socket
import sys
import threading
import time


def serve(conn):
    with conn:
        for _ in range(3600):
            byte = conn.recv(1)
            if not byte:
                return
            conn.sendall(byte)
            time.sleep(1)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
