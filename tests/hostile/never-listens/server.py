# Hostile: never listens. Prints that it is starting, then sleeps forever without ever
# creating a socket. Expected: server-starts fails with "did not listen within N s".
import sys
import time

print("server: starting up, please wait...", file=sys.stderr, flush=True)
for _ in range(36000):
    time.sleep(0.1)
