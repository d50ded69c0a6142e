# Hostile (Docker only): a fork bomb. Every process forks as fast as it can and keeps
# going when fork fails. Expected: the pod's pids limit stops it; server-starts fails
# (it never listens) and the grader tears the pod down in bounded time.
import os
import sys
import time

print("server: forking", file=sys.stderr, flush=True)
reported = False
for _ in range(1000000):
    try:
        os.fork()
    except OSError as error:
        if not reported:
            print(f"fork failed: {error.strerror}", file=sys.stderr, flush=True)
            reported = True
        time.sleep(0.01)
