# Hostile: a correct echo client that also writes to stderr without end from a thread
# while it works. Expected: client-echo still passes; stderr is capped.
import socket
import sys
import threading


def flood():
    while True:
        sys.stderr.write("client noise " * 10 + "\n")


threading.Thread(target=flood, daemon=True).start()
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))


def send():
    for line in sys.stdin.buffer:
        sock.sendall(line)
    sock.shutdown(socket.SHUT_WR)


threading.Thread(target=send, daemon=True).start()
while data := sock.recv(65536):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
sys.stdout.flush()
sys.exit(0)
