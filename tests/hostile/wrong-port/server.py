# Hostile: listens on the wrong port (the given port + 1) and serves there forever.
# Expected: server-starts fails and names the port it did listen on.
import socket
import sys

port = int(sys.argv[1]) + 1
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", port))
listener.listen(16)
print(f"listening on {port}", file=sys.stderr, flush=True)
while True:
    conn, _ = listener.accept()
    conn.close()
