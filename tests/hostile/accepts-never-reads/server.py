# Hostile: accepts every connection and holds it open, but never reads or writes.
# Expected: server-concurrency fails: no reply came back within the round's time.
import socket
import sys

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
held = []
while len(held) < 100000:
    conn, _ = listener.accept()
    held.append(conn)
