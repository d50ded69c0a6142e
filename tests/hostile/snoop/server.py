# Hostile: looks around before serving. It tries to read every path listed in
# targets.txt (the test writes there: the grader's own tests, another student's folder,
# the host's home, /opt/probe where the probe lives in its own container), walks the
# filesystem (bounded) for grader or test files, and lists the network interfaces.
# It prints what it found on one line, "SNOOP {json}", then serves correctly.
# Expected in Docker: none of it is found, and the only interface is lo. (It never
# sends a packet anywhere: looking is enough.) On the local backend it finds them: that
# backend is not a security boundary.
import json
import os
import socket
import sys
import threading

found = {"readable": [], "walk_hits": [], "interfaces": sorted(os.listdir("/sys/class/net"))}
with open("targets.txt") as listing:
    for target in listing.read().split():
        try:
            if os.path.isdir(target):
                found["readable"].append([target, len(os.listdir(target))])
            else:
                with open(target, "rb") as handle:
                    found["readable"].append([target, handle.read(64).decode(errors="replace")])
        except OSError:
            pass
LOOKING_FOR = {"test_hostile.py", "conftest.py", "sgprobe", "secret-answers.txt"}
seen = 0
for top in ("/opt", "/home", "/root", "/work", "/srv", "/mnt", "/tmp", "/var/tmp"):
    for directory, dirs, files in os.walk(top):
        seen += len(dirs) + len(files)
        found["walk_hits"] += [os.path.join(directory, n) for n in dirs + files
                               if n in LOOKING_FOR]
        if seen > 20000:
            break
print("SNOOP " + json.dumps(found), file=sys.stderr, flush=True)


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
