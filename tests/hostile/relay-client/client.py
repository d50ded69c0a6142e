# Hostile: a client with no sockets. It writes its request into the submission folder
# (relay/PID.in: host, port and its input) and prints what appears in relay/PID.out,
# which a thread in the student's server writes after doing the networking on its
# behalf. Expected: roles are isolated, so this cannot work: the submission is read-only
# while programs run, and the server is not running during the checks about the client.
# The client checks fail; nothing else does.
import os
import sys
import time

relay = os.path.join(os.getcwd(), "relay")
request = os.path.join(relay, f"{os.getpid()}.in")
try:
    os.makedirs(relay, exist_ok=True)
    with open(request + ".part", "w") as handle:
        handle.write(f"{sys.argv[1]}\n{sys.argv[2]}\n{sys.stdin.read()}")
    os.rename(request + ".part", request)
except OSError as error:
    sys.exit(f"client: cannot write the relay request: {error}")
answer = os.path.join(relay, f"{os.getpid()}.out")
for _ in range(200):
    if os.path.exists(answer):
        with open(answer) as handle:
            sys.stdout.write(handle.read())
        sys.exit(0)
    time.sleep(0.05)
sys.exit("client: no answer came through the relay")
