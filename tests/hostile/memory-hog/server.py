# Hostile (Docker only): allocates memory (and touches it) without end before it ever
# listens. Expected: the pod's memory limit kills it; server-starts fails and says it
# was killed for using more memory than the sandbox allows.
import sys

hoard = []
for megabytes in range(1, 1 << 20):
    hoard.append(bytearray(b"x" * (1024 * 1024)))
    if megabytes % 128 == 0:
        print(f"server: holding {megabytes} MiB", file=sys.stderr, flush=True)
