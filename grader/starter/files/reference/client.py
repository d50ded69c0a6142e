"""This assignment's reference client: sends its input, prints the echoes.

Usage: python3 client.py HOST PORT
"""

import socket
import sys
import threading


def send_input(sock: socket.socket) -> None:
    for line in sys.stdin.buffer:
        sock.sendall(line)
    sock.shutdown(socket.SHUT_WR)  # the end of input: the server closes after its echo


try:
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
except OSError as error:
    sys.exit(f"client: cannot connect to {sys.argv[1]}:{sys.argv[2]}: {error.strerror}")
threading.Thread(target=send_input, args=(sock,), daemon=True).start()
with sock, sock.makefile("rb") as echoes:
    for echo in echoes:
        sys.stdout.buffer.write(echo)
        sys.stdout.buffer.flush()
