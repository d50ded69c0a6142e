# Hostile: accepts each connection and closes it at once, without reading or replying.
# Expected: server-concurrency fails: the server closed the connection instead of replying.
import socket
import sys

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    conn.close()
