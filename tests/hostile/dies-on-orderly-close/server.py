# Hostile: a select() loop echo server with the C tutorial's mistake: on an empty recv()
# (a client closed its end) it calls exit() instead of closing that one connection.
# It serves many clients at once, until the first one leaves.
# Expected: server-concurrency fails, named "your server died when the clients of
# server-concurrency closed their connections"; later checks run on a restarted server
# and name its deaths again without charging them a second time.
import selectors
import socket
import sys

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(4096)
listener.setblocking(False)
selector = selectors.DefaultSelector()
selector.register(listener, selectors.EVENT_READ)
while True:
    for key, _ in selector.select():
        if key.fileobj is listener:
            conn, _ = listener.accept()
            selector.register(conn, selectors.EVENT_READ)
            continue
        data = key.fileobj.recv(65536)
        if not data:
            print("client disconnected", file=sys.stderr)
            sys.exit(0)
        key.fileobj.sendall(data)
