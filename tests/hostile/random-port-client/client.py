# Hostile: a client that picks its own source port, a random one inside Linux's default
# ephemeral range (32768-60999), instead of letting the OS assign one: distinct ports,
# all "in range" by the default's measure. Expected: on Docker and Podman each pod has a
# narrow ephemeral range placed at random, so these ports fall outside it and
# client-ephemeral-ports fails; the local backend, on the machine's own range, cannot
# tell them apart from the OS's choice and says so in its details.
import random
import socket
import sys
import threading


def send_input(sock: socket.socket) -> None:
    for line in sys.stdin.buffer:
        sock.sendall(line)
    sock.shutdown(socket.SHUT_WR)


sock = socket.socket()
for _ in range(50):
    try:
        sock.bind(("0.0.0.0", random.randint(32768, 60999)))
        break
    except OSError:
        continue
sock.connect((sys.argv[1], int(sys.argv[2])))
threading.Thread(target=send_input, args=(sock,), daemon=True).start()
with sock, sock.makefile("rb") as echoes:
    for echo in echoes:
        sys.stdout.buffer.write(echo)
        sys.stdout.buffer.flush()
