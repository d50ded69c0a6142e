# Hostile: before serving, tries to become root of namespaces of its own inside the pod,
# where it would have every capability (netfilter sockets, mounts over /etc): the
# `unshare -Urnm` command, unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER) through libc,
# and a mount. It prints what each attempt gave on one line, "NESTED {json}" (an errno
# name, or "worked"), then serves correctly. Expected on Docker and Podman (rootful and
# rootless): every attempt refused, by the pod's seccomp profile.
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading

CLONE_NEWUSER = 0x10000000
SYS_CLONE = {"x86_64": 56, "aarch64": 220}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)


def outcome(result: int) -> str:
    return "worked" if result != -1 else errno.errorcode.get(ctypes.get_errno(), "?")


def unshare_command() -> str:
    try:
        done = subprocess.run(["unshare", "-Urnm", "true"], capture_output=True, timeout=5)
    except FileNotFoundError:
        return "no unshare command"
    return "worked" if done.returncode == 0 else done.stderr.decode(errors="replace").strip()


def clone_user_namespace() -> str:
    # A raw clone() of a child in a new user namespace: the child leaves at once.
    pid = libc.syscall(SYS_CLONE, CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    return outcome(pid)


found = {"unshare -Urnm": unshare_command(),
         "clone(CLONE_NEWUSER)": clone_user_namespace(),
         "unshare(CLONE_NEWUSER)": outcome(libc.unshare(CLONE_NEWUSER)),
         "mount": outcome(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))}
print("NESTED " + json.dumps(found), file=sys.stderr, flush=True)


def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(1024)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
