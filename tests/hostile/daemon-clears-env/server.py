# Hostile: before serving, starts a daemon that escapes everything the local backend's
# first sweep looks at: it double-forks, calls setsid, leaves the submission folder
# (chdir /), and re-executes itself with an EMPTY environment (no run marker), then
# sleeps for a minute. It prints "DAEMON <pid>" first. Expected: the grading ends and
# the daemon is gone all the same: the grader is a child subreaper, so the daemon was
# adopted by it and is killed at teardown (Docker: it dies with its container).
import os
import socket
import sys
import threading
import time

if len(sys.argv) > 1 and sys.argv[1] == "daemon":
    time.sleep(60)
    sys.exit(0)

read_end, write_end = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        os.write(write_end, f"{os.getpid()}\n".encode())
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), "daemon"], {})
    os._exit(0)
print(f"DAEMON {os.read(read_end, 64).decode().strip()}", file=sys.stderr, flush=True)


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
