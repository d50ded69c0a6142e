# Hostile: a correct echo server handed in beside things the test adds to the folder:
# a symbolic link to a file outside the submission ("answers"), one to a folder outside
# ("other-student"), an inner link (server_link.py -> server.py), a FIFO, and a file whose
# name is not UTF-8. It prints "LINKS {json}" saying what it can see, then serves.
# Expected on both backends: the outside links and the FIFO were left out (with a note
# to the student), the inner link and the odd name came through, the checks pass.
import json
import os
import socket
import sys
import threading

names = sorted(os.listdir(b"."))
seen = {
    "names": [n.decode("utf-8", "backslashreplace") for n in names],
    "answers": os.path.lexists("answers"),
    "other-student": os.path.lexists("other-student"),
    "inner_link": os.path.islink("server_link.py") and os.path.exists("server_link.py"),
}
print("LINKS " + json.dumps(seen), file=sys.stderr, flush=True)


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
