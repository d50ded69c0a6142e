# Hostile: before serving, writes one file in its temporary folder (its submission
# folder is read-only while it runs) until writing fails, and says how far it got; then
# serves correctly. Expected: the write stops at a cap (Docker: the container's 16m /tmp
# is full; local: RLIMIT_FSIZE, "File too large") and the checks still pass; the host's
# disk is never filled.
import os
import socket
import sys
import tempfile
import threading

chunk = b"\0" * (1024 * 1024)
written = 0
filler = os.path.join(tempfile.gettempdir(), f"filler-{os.getpid()}.bin")
try:
    with open(filler, "wb") as handle:
        for _ in range(100000):
            handle.write(chunk)
            handle.flush()
            written += 1
except OSError as error:
    print(f"disk full after {written} MiB: {error.strerror}", file=sys.stderr, flush=True)
    os.remove(filler)


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
