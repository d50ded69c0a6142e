# Hostile: a thread-per-client echo server whose handler expects every client to send a
# full line; a client that leaves before that (recv() returns b'' or fails with
# ECONNRESET) raises in its thread, and the thread hook ends the whole process, as an
# unhandled 'error' event ends a Node server. It serves many clients at once.
# Expected: server-burst (its clients connect and leave without a word) fails, named
# "your server died when the clients of server-burst closed their connections".
import os
import socket
import sys
import threading
import traceback


def crash_everything(args):
    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)
    sys.stderr.flush()
    os._exit(1)


def serve(conn):
    with conn:
        pending, lines = b"", 0
        while True:
            data = conn.recv(65536)  # ConnectionResetError propagates: crash
            if not data:
                if pending or not lines:
                    raise ConnectionError("client left before sending a full line")
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                conn.sendall(line + b"\n")
                lines += 1


threading.excepthook = crash_everything
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(4096)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
