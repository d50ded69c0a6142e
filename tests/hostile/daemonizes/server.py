# Hostile: daemonizes the classic way: fork, setsid, fork again, chdir("/"), close its
# output; the grandchild listens and serves, the original process exits 0 at once.
# Expected: server-starts fails ("exited with status 0", with a hint to stay in the
# foreground); the daemon is killed at teardown: in Docker with its container, on the
# local backend by the sweep for processes marked with the run's id.
import os
import socket
import sys
import time

port = int(sys.argv[1])
if os.fork() > 0:
    sys.exit(0)
os.setsid()
if os.fork() > 0:
    os._exit(0)
os.chdir("/")
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", port))
listener.listen(16)
listener.settimeout(1.0)
deadline = time.monotonic() + 3600
while time.monotonic() < deadline:
    try:
        conn, _ = listener.accept()
    except OSError:
        continue
    conn.close()
