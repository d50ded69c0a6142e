# Hostile: a client that reads the pod's own ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range: readable in any network namespace) and binds
# a port inside it for itself, the first free one from the middle of the range up, so
# that its ports pass for ports the OS assigned. Every copy picks that way: their ports
# are distinct, in range, and of both parities. Expected on Docker and Podman:
# client-ephemeral-ports fails, because copies the OS served get ports of one parity
# (connect() without bind() takes the range's first port's parity first).
import socket
import sys
import threading
from pathlib import Path

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
low, high = map(int, RANGE.read_text().split())


def send_input(sock: socket.socket) -> None:
    for line in sys.stdin.buffer:
        sock.sendall(line)
    sock.shutdown(socket.SHUT_WR)


sock = socket.socket()
for port in range((low + high) // 2, high + 1):
    try:
        sock.bind(("0.0.0.0", port))
        break
    except OSError:
        continue
sock.connect((sys.argv[1], int(sys.argv[2])))
threading.Thread(target=send_input, args=(sock,), daemon=True).start()
with sock, sock.makefile("rb") as echoes:
    for echo in echoes:
        sys.stdout.buffer.write(echo)
        sys.stdout.buffer.flush()
