# Hostile: a correct echo server with a thread that writes to stdout and stderr without
# end. Expected: the checks still pass; the output kept is capped, with a note saying
# how much more there was.
import socket
import sys
import threading

LINE = "flood " * 20 + "\n"


def flood(stream):
    while True:
        stream.write(LINE)


def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


for stream in (sys.stdout, sys.stderr):
    threading.Thread(target=flood, args=(stream,), daemon=True).start()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
