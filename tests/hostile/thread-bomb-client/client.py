# Hostile: a client that first starts as many threads as it can (each sleeping), then
# would work correctly. Expected (Docker, Podman): each copy of the client runs in a
# small container (client_pids, client_memory: README, Security), so the bomb stops at
# that cap and the pod stays within its budget: the client checks fail, the grading
# ends normally, nothing is left. Not on the local backend: it cannot contain it.
import sys
import threading
import time

started = 0
try:
    for _ in range(100000):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        started += 1
except RuntimeError as error:
    sys.exit(f"client: stopped after {started} threads: {error}")
