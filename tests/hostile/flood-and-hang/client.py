# Hostile: a client that floods both stdout and stderr as fast as it can and never exits.
# Expected: client-echo fails ("still running ... and was stopped"), its output is capped,
# and the check ends close to its deadline: a flood must not stretch it.
import sys
import threading


def flood(stream) -> None:
    line = b"noise " * 20 + b"\n"
    while True:
        stream.write(line)


threading.Thread(target=flood, args=(sys.stderr.buffer,), daemon=True).start()
flood(sys.stdout.buffer)
