"""Probe capacity: the server-concurrency probe against the C reference echo server.

For each number of simultaneous connections, the grader's probe (trio, in its own
process) is driven exactly as a grading run drives it: a `ProbeSession` over its
JSON-lines channel sends the typed messages of grader.probe.messages, a group is opened
with `open_group` (`Open` from distinct 127.x source IPs, paced as the server-concurrency
check paces it unless --pacing says otherwise) and verified with the echo protocol's
rounds (`Exchange`: each connection sends its own line and must get exactly it back),
two rounds with every connection open. In the same run a minimal baseline, a plain
`selectors` loop in one process, does the same work, so the probe's cost is a ratio, not
a figure from another day on another machine. Peak memory (VmHWM) of both processes is
read from /proc, beside their size before the first connection.

    python3 benchmarks/probe_capacity.py [--counts 500,2000,5000,10000] [--pacing absorbed]
                                         [--repeat 1] [--json out.json]

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

import trio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.checks.evidence import source_addresses  # noqa: E402
from grader.grading.connections import open_group  # noqa: E402
from grader.pod.probe_bundle import local_probe_command  # noqa: E402
from grader.pod.probe_session import ProbeSession  # noqa: E402
from grader.probe import messages as m  # noqa: E402
from grader.protocols.echo import EchoProtocol  # noqa: E402

DEADLINE = 120.0  # seconds for any one phase
ROUNDS = 2
FD_MARGIN = 100  # descriptors a process needs beyond its connections
STALL = 10.0  # seconds without an accept before the probe's pacing gives up

# The same work in a bare selectors loop: connect all at once (non-blocking), then per
# round send every connection a line of its own and read it back until the newline.
BASELINE = r"""
import json, resource, selectors, socket, sys, time
host, port, rounds, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sources = json.loads(sys.stdin.read())

def kib(field):
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith(field)))

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
idle = kib("VmRSS")
selector = selectors.DefaultSelector()
started = time.monotonic()
conns = []
for index, source in enumerate(sources):
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((source, 0))
    sock.connect_ex((host, port))
    conns.append(sock)
    selector.register(sock, selectors.EVENT_WRITE, index)
pending = len(conns)
while pending and time.monotonic() - started < limit:
    for key, _ in selector.select(timeout=1):
        selector.unregister(key.fileobj)
        pending -= 1
opened = sum(not s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) for s in conns)
open_done = time.monotonic()
answered = []
for number in range(1, rounds + 1):
    tokens = [f"load:{i}:{number}:0123abcd\n".encode() for i in range(len(conns))]
    buffers = {}
    for index, sock in enumerate(conns):
        try:
            sock.send(tokens[index])
        except OSError:
            continue
        buffers[sock] = b""
        selector.register(sock, selectors.EVENT_READ, index)
    good, waiting, round_start = 0, len(buffers), time.monotonic()
    while waiting and time.monotonic() - round_start < limit:
        for key, _ in selector.select(timeout=1):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            buffers[key.fileobj] += data
            if b"\n" in buffers[key.fileobj] or not data:
                good += buffers[key.fileobj] == tokens[key.data]
                selector.unregister(key.fileobj)
                waiting -= 1
    for key in list(selector.get_map().values()):
        selector.unregister(key.fileobj)
    answered.append(good)
verified = time.monotonic()
print(json.dumps({"opened": opened, "answered": answered, "open_s": open_done - started,
                  "verify_s": verified - open_done, "idle_rss_kib": idle,
                  "peak_rss_kib": kib("VmHWM")}))
"""


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith(field)))


def raise_open_file_limit() -> tuple[int, int]:
    """Lift this process's soft RLIMIT_NOFILE to the hard limit (the server inherits it;
    the probe and the baseline lift their own); say so plainly when it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            print(f"WARNING: could not raise the soft open-file limit from {soft} to {hard} "
                  f"({exc})")
    return soft, hard


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


async def _measure(session: ProbeSession, pid: int, port: int, count: int,
                   pacing: str) -> dict:
    soft, hard = (await session.call(m.Hello())).open_files
    if soft < count + FD_MARGIN:
        return {"error": f"the probe's open-file limit is {soft} (hard {hard}), too low "
                         f"for {count} connections: raise `ulimit -Hn`"}
    idle = status_kib(pid, "VmRSS")
    request = m.Open("load", "127.0.0.1", port, count, tuple(source_addresses(count)),
                     DEADLINE, pacing, STALL)
    protocol = EchoProtocol()
    started = time.monotonic()
    async with open_group(session, request) as group:
        open_done = time.monotonic()
        answered = [(await protocol.round(group, number, DEADLINE)).answered
                    for number in range(1, ROUNDS + 1)]
        verified = time.monotonic()
        peak = status_kib(pid, "VmHWM")
        opened = group.opened
    return {"opened": opened.opened, "errors": opened.errors, "answered": answered,
            "open_s": open_done - started, "verify_s": verified - open_done,
            "idle_rss_kib": idle, "peak_rss_kib": peak,
            "pacing": {"mode": opened.pacing.mode, "backlog": opened.pacing.backlog,
                       "window": opened.pacing.window, "waits": opened.pacing.waits,
                       "stalled": opened.pacing.stalled}}


async def _probe_run(port: int, count: int, pacing: str) -> dict:
    """Start the probe as the local backend does and measure one count with it."""
    with tempfile.TemporaryFile() as stderr:
        def last_words() -> str:
            stderr.seek(0)
            return stderr.read().decode(errors="replace")[-2000:]

        process = await trio.lowlevel.open_process(
            local_probe_command(), cwd=REPO, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=stderr)
        session = ProbeSession(process.stdin, process.stdout, last_words)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(session.read_answers)
                try:
                    return await _measure(session, process.pid, port, count, pacing)
                finally:
                    await session.aclose()  # the probe ends when its stdin closes
                    nursery.cancel_scope.deadline = trio.current_time() + 30
        finally:
            with trio.move_on_after(30) as waited:
                await process.wait()
            if waited.cancelled_caught:
                process.kill()
                await process.wait()


def run_probe(port: int, count: int, pacing: str) -> dict:
    return trio.run(_probe_run, port, count, pacing)


def run_baseline(port: int, count: int) -> dict:
    done = subprocess.run([sys.executable, "-c", BASELINE, "127.0.0.1", str(port),
                           str(ROUNDS), str(DEADLINE)],
                          input=json.dumps(source_addresses(count)), capture_output=True,
                          text=True, timeout=(ROUNDS + 1) * DEADLINE + 30, check=True)
    return json.loads(done.stdout)


def _median_run(runs: list[dict]) -> dict:
    """The run of median total time (the faster of two middle ones; its figures stay
    together), with every run's total beside it."""
    ordered = sorted(runs, key=lambda r: r["open_s"] + r["verify_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["total_s_all"] = [round(r["open_s"] + r["verify_s"], 3) for r in runs]
    return chosen


def _per_conn(run: dict, count: int) -> float:
    return (run["peak_rss_kib"] - run["idle_rss_kib"]) / count


def report(rows: list[dict], pacing: str) -> None:
    print(f"\nprobe pacing: {pacing}; {ROUNDS} echo rounds with every connection open; "
          "times in seconds, memory as peak RSS (VmHWM)")
    print(f"{'conns':>6} | {'probe open':>10} {'verify':>7} {'peak MiB':>8} {'KiB/conn':>8}"
          f" | {'base open':>9} {'verify':>7} {'peak MiB':>8} {'KiB/conn':>8}"
          f" | {'time x':>6} {'peak x':>6} {'KiB/conn x':>10}")
    for row in rows:
        count, probe, base = row["connections"], row["probe"], row["baseline"]
        if "error" in probe or "error" in base:
            print(f"{count:>6} | {probe.get('error') or base.get('error')}")
            continue
        probe_kib, base_kib = _per_conn(probe, count), _per_conn(base, count)
        time_ratio = (probe["open_s"] + probe["verify_s"]) / (base["open_s"] + base["verify_s"])
        print(f"{count:>6} | {probe['open_s']:>10.2f} {probe['verify_s']:>7.2f} "
              f"{probe['peak_rss_kib'] / 1024:>8.1f} {probe_kib:>8.1f}"
              f" | {base['open_s']:>9.2f} {base['verify_s']:>7.2f} "
              f"{base['peak_rss_kib'] / 1024:>8.1f} {base_kib:>8.1f}"
              f" | {time_ratio:>5.1f}x {probe['peak_rss_kib'] / base['peak_rss_kib']:>5.1f}x "
              f"{probe_kib / base_kib if base_kib > 0 else float('nan'):>9.1f}x")
        print(f"{'':>6}   opened {probe['opened']}/{count} (errors {probe['errors'] or 'none'}),"
              f" answered {probe['answered']}; baseline opened {base['opened']}, answered "
              f"{base['answered']}; pacing window {probe['pacing']['window']}, backlog "
              f"{probe['pacing']['backlog']}, {probe['pacing']['waits']} waits"
              + (", STALLED" if probe["pacing"]["stalled"] else ""))
        if len(probe["total_s_all"]) > 1:
            print(f"{'':>6}   totals per run: probe {probe['total_s_all']}, "
                  f"baseline {base['total_s_all']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="500,2000,5000,10000")
    parser.add_argument("--pacing", default="absorbed", choices=("absorbed", "burst"),
                        help="how the probe opens its group (default: as the "
                             "server-concurrency check does)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per count (median)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    soft, hard = raise_open_file_limit()
    print(f"open-file limit for this run: soft {soft}, hard {hard}; {os.cpu_count()} CPUs")
    if max(counts) + FD_MARGIN > soft:
        print(f"WARNING: counts above {soft - FD_MARGIN} will be skipped: the open-file "
              "limit is too low for them (raise `ulimit -Hn`)")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        binary = build_server(Path(workdir))
        port = free_port()
        server = subprocess.Popen([str(binary), str(port)], stderr=subprocess.DEVNULL)
        try:
            wait_listening(port)
            for count in counts:
                if count + FD_MARGIN > soft:
                    error = {"error": f"skipped: {count} connections need more than the "
                                      f"open-file limit of {soft}"}
                    rows.append({"connections": count, "probe": error, "baseline": error})
                    continue
                print(f"{count} connections ...", flush=True)
                probes, bases = [], []
                for _ in range(args.repeat):  # alternated, so both see the same machine
                    probes.append(run_probe(port, count, args.pacing))
                    if "error" in probes[-1]:
                        break
                    bases.append(run_baseline(port, count))
                if "error" in probes[-1]:
                    rows.append({"connections": count, "probe": probes[-1], "baseline": {}})
                    continue
                rows.append({"connections": count, "probe": _median_run(probes),
                             "baseline": _median_run(bases)})
        finally:
            server.kill()
            server.wait(timeout=10)
    report(rows, args.pacing)
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "pacing": args.pacing,
                                         "rounds": ROUNDS, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
