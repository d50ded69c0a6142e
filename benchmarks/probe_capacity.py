"""Probe capacity: the server-concurrency probe against the C reference server.

For each number of simultaneous connections, the grader's probe (trio, in its own
process, driven over its JSON-lines channel exactly as a grading run drives it) opens
them all from distinct 127.x source IPs, then verifies two rounds of echoes with every
connection open. In the same run a minimal baseline, a plain `selectors` loop in one
process, does the same work, so the probe's cost is a ratio, not a figure from another
day on another machine.

    python3 benchmarks/probe_capacity.py [--counts 500,2000,5000,10000] [--json out.json]

Traffic goes only to 127.0.0.0/8. Every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.checks.evidence import source_addresses  # noqa: E402

DEADLINE = 120.0  # seconds for any one phase

BASELINE = r"""
import json, resource, selectors, socket, sys, time
host, port, sources = sys.argv[1], int(sys.argv[2]), json.loads(sys.stdin.read())
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
selector = selectors.DefaultSelector()
started = time.monotonic()
pending = set()
conns = []
for index, source in enumerate(sources):
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((source, 0))
    sock.connect_ex((host, port))
    conns.append(sock)
    pending.add(sock)
    selector.register(sock, selectors.EVENT_WRITE, index)
while pending and time.monotonic() - started < 120:
    for key, _ in selector.select(timeout=1):
        pending.discard(key.fileobj)
        selector.unregister(key.fileobj)
opened = time.monotonic()
answered = []
for round_number in (1, 2):
    buffers = {}
    for index, sock in enumerate(conns):
        sock.send(f"{index}:{round_number}\n".encode())
        buffers[sock] = b""
        selector.register(sock, selectors.EVENT_READ, index)
    good = 0
    waiting = len(conns)
    while waiting and time.monotonic() - opened < 120:
        for key, _ in selector.select(timeout=1):
            data = key.fileobj.recv(4096)
            buffers[key.fileobj] += data
            if b"\n" in buffers[key.fileobj] or not data:
                good += buffers[key.fileobj] == f"{key.data}:{round_number}\n".encode()
                selector.unregister(key.fileobj)
                waiting -= 1
    answered.append(good)
verified = time.monotonic()
peak = int(next(line.split()[1] for line in open("/proc/self/status")
                if line.startswith("VmHWM")))
print(json.dumps({"open_s": opened - started, "verify_s": verified - opened,
                  "answered": answered, "peak_rss_kib": peak}))
"""


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmHWM")))


def build_server(workdir: Path) -> Path:
    shutil.copytree(REPO / "reference" / "echo" / "c" / "correct", workdir / "c")
    subprocess.run(["make", "-s", "server"], cwd=workdir / "c", check=True, timeout=120)
    return workdir / "c" / "server"


def free_port() -> int:
    """Below the ephemeral range, like the local backend: the probe's own client ends
    (no SO_REUSEADDR) linger in TIME_WAIT on ephemeral ports and would block the bind."""
    for port in random.sample(range(10000, 32768), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port below the ephemeral range")


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"the C reference server did not listen on {port}")


class Probe:
    """The grader's probe as a grading run uses it: a process spoken to in JSON lines."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "grader.probe"], cwd=REPO,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        self.ids = 0

    def call(self, op: str, **args) -> dict:
        self.ids += 1
        self.process.stdin.write(json.dumps({"id": self.ids, "op": op, "args": args}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if not answer["ok"]:
            raise SystemExit(f"probe {op} failed: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def run_probe(port: int, count: int) -> dict:
    probe = Probe()
    try:
        limits = probe.call("hello")["open_files"]
        if limits["soft"] < count + 100:
            return {"error": f"open-file limit {limits['soft']} is below {count} "
                             "connections: raise `ulimit -Hn`"}
        started = time.monotonic()
        opened = probe.call("open", group="load", host="127.0.0.1", port=port, count=count,
                            sources=source_addresses(count), timeout=DEADLINE)
        open_done = time.monotonic()
        answered = [probe.call("exchange", group="load", round=r, timeout=DEADLINE)
                    ["counts"]["answered"] for r in (1, 2)]
        verified = time.monotonic()
        peak = peak_rss_kib(probe.process.pid)
        probe.call("close", group="load")
        return {"opened": opened["opened"], "answered": answered,
                "open_s": open_done - started, "verify_s": verified - open_done,
                "peak_rss_kib": peak}
    finally:
        probe.close()


def run_baseline(port: int, count: int) -> dict:
    done = subprocess.run([sys.executable, "-c", BASELINE, "127.0.0.1", str(port)],
                          input=json.dumps(source_addresses(count)), capture_output=True,
                          text=True, timeout=2 * DEADLINE + 30, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="500,2000,5000,10000")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < max(counts) + 200:
        print(f"note: the hard open-file limit is {hard}; the server and the probe each "
              f"need more than the largest count ({max(counts)})")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        binary = build_server(Path(workdir))
        port = free_port()
        server = subprocess.Popen([str(binary), str(port)], stderr=subprocess.DEVNULL)
        try:
            wait_listening(port)
            for count in counts:
                probe = run_probe(port, count)
                baseline = run_baseline(port, count)
                rows.append({"connections": count, "probe": probe, "baseline": baseline})
        finally:
            server.kill()
            server.wait(timeout=10)
    print(f"{'connections':>11} {'probe open':>11} {'verify':>8} {'peak MiB':>9}   "
          f"{'baseline open':>13} {'verify':>8} {'peak MiB':>9}   {'time ratio':>10}")
    for row in rows:
        probe, base = row["probe"], row["baseline"]
        if "error" in probe:
            print(f"{row['connections']:>11} {probe['error']}")
            continue
        ratio = (probe["open_s"] + probe["verify_s"]) / (base["open_s"] + base["verify_s"])
        print(f"{row['connections']:>11} {probe['open_s']:>10.2f}s {probe['verify_s']:>7.2f}s "
              f"{probe['peak_rss_kib'] / 1024:>9.1f}   {base['open_s']:>12.2f}s "
              f"{base['verify_s']:>7.2f}s {base['peak_rss_kib'] / 1024:>9.1f}   {ratio:>9.1f}x"
              f"   answered {probe['answered']}")
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
