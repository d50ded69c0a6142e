# Hostile: forks a child per client and never waits for it. Each child echoes, then,
# when its client leaves, lingers for an hour ignoring SIGTERM (and keeps the listening
# socket open). Expected: the checks pass; when the grader stops the server every
# child goes too (process group / container), and nothing is left afterwards.
import os
import signal
import socket
import sys
import time

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
for _ in range(100000):
    conn, _ = listener.accept()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
        time.sleep(3600)
        os._exit(0)
    conn.close()
