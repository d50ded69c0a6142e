"""Runs several copies of a student's program at once inside ONE container, each with
its own stdin, output and deadline: the Docker backend's `run_copies`.

A container costs the engine about 0.15 s of CPU to create, start and remove, five
times what a copy's own process costs, and a class runs eight copies of every client:
so the copies share one container sized for all of them, and this program, its main
process, stands in for what the engine did for each (see docker_copies.py).

It runs as `python3 -c` in the container (any pod image has python3: the probe needs
it) and imports nothing of the grader. On stdin it gets one JSON line:

    {"copies": [{"argv": [...], "stdin": base64}, ...],
     "timeout": seconds, "grace": seconds, "cap": bytes}

and on stdout it answers a JSON line per copy as each ends, then {"done": true}:

    {"copy": index, "exit_code": status or null (killed at the deadline),
     "stdout": base64, "stdout_dropped": bytes, "stderr": ..., "stderr_dropped": ...,
     "seconds": how long it ran}

Each copy is the leader of a session of its own: at the deadline its whole process
group gets SIGTERM, then SIGKILL after `grace`; once it ended, what it left running in
its group is killed, and output still in flight is read for up to LINGER seconds, as
when a container ends. A status is what the container's init would report: 128 + the
signal for a copy a signal ended. If stdin closes early (the grader is gone), every
copy is killed and this program ends.
"""

import base64
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time

POLL = 0.05  # seconds between looks for a copy's end, without a pidfd
LINGER = 1.0  # seconds a copy's output is still read after it ended
THROTTLE_PAUSE = 0.01  # seconds between reads of a stream whose cap is full
READ_SIZE = 65536


def private() -> None:
    """Not dumpable: a copy, running as the same user, can neither trace this process
    nor open its descriptors through /proc to forge another copy's answer."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (ImportError, OSError, AttributeError):
        pass


class Stream:
    """One of a copy's output pipes: the first `cap` bytes kept, the rest counted."""

    def __init__(self, pipe, cap):
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0
        self.open = True
        self.resume_at = 0.0  # once full, read again no sooner than this

    def read(self, now):
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            return
        room = self.cap - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)
        if self.dropped:
            self.resume_at = now + THROTTLE_PAUSE

    def close(self):
        if self.open:
            self.open = False
            os.close(self.fd)


class Copy:
    def __init__(self, index, spec, cap, now):
        self.index = index
        self.process = subprocess.Popen(
            spec["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        self.started = now
        self.input = base64.b64decode(spec["stdin"])
        self.stdin_fd = self.process.stdin.fileno()
        os.set_blocking(self.stdin_fd, False)
        self.stdin_open = True
        self.stdout = Stream(self.process.stdout, cap)
        self.stderr = Stream(self.process.stderr, cap)
        self.timed_out = False
        self.kill_at = None  # SIGKILL then, after the SIGTERM of the deadline
        self.status = None  # once its own process ended
        self.report_by = None  # answer then, even if its output is still open
        self.ended_fd = ended_descriptor(self.process.pid)

    def end_fds(self):
        """A descriptor readable once its own process ended, while that is to come."""
        return [self.ended_fd] if self.ended_fd is not None and self.status is None else []

    def streams(self):
        return [s for s in (self.stdout, self.stderr) if s.open]

    def write_input(self):
        try:
            written = os.write(self.stdin_fd, self.input[:READ_SIZE])
        except BlockingIOError:
            return
        except OSError:  # it may exit without reading all its input
            written = len(self.input)
        self.input = self.input[written:]
        if not self.input:
            self.close_input()

    def close_input(self):
        if self.stdin_open:
            self.stdin_open = False
            os.close(self.stdin_fd)

    def signal(self, number):
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, number)

    def reap(self, now):
        """Note its status once it ended; what it left in its group goes with it."""
        if self.status is None and self.process.poll() is not None:
            code = self.process.returncode
            self.status = 128 - code if code < 0 else code
            if self.ended_fd is not None:
                os.close(self.ended_fd)
            self.signal(signal.SIGKILL)
            self.close_input()
            self.report_by = now + LINGER

    def answer(self, now):
        for stream in (self.stdout, self.stderr):
            stream.close()
        return {"copy": self.index, "exit_code": None if self.timed_out else self.status,
                "stdout": base64.b64encode(bytes(self.stdout.data)).decode(),
                "stdout_dropped": self.stdout.dropped,
                "stderr": base64.b64encode(bytes(self.stderr.data)).decode(),
                "stderr_dropped": self.stderr.dropped,
                "seconds": round(now - self.started, 4)}


def ended_descriptor(pid):
    """A pidfd of `pid`, or None where the kernel or Python has none (then its end is
    looked for every POLL seconds)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def say(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run(request):
    now = time.monotonic()
    deadline = now + float(request["timeout"])
    grace = float(request["grace"])
    copies = [Copy(i, spec, int(request["cap"]), now)
              for i, spec in enumerate(request["copies"])]
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
    running = list(copies)
    while running:
        now = time.monotonic()
        if now >= deadline:
            for copy in running:
                if copy.status is None and not copy.timed_out:
                    copy.timed_out = True
                    copy.signal(signal.SIGTERM)
                    copy.kill_at = now + grace
        for copy in running:
            if copy.kill_at is not None and now >= copy.kill_at and copy.status is None:
                copy.signal(signal.SIGKILL)
            copy.reap(now)
        for copy in list(running):
            if copy.status is not None and (not copy.streams() or now >= copy.report_by):
                running.remove(copy)
                say(copy.answer(now))
        if not running:
            break
        wanted = {}
        wake = [deadline]
        for copy in running:
            if copy.stdin_open and copy.input:
                wanted[copy.stdin_fd] = (selectors.EVENT_WRITE, ("input", copy))
            elif copy.stdin_open and not copy.input:
                copy.close_input()
            for stream in copy.streams():
                if stream.resume_at > now:
                    wake.append(stream.resume_at)
                else:
                    wanted[stream.fd] = (selectors.EVENT_READ, ("output", stream))
            for fd in copy.end_fds():
                wanted[fd] = (selectors.EVENT_READ, ("ended", copy))
            if copy.status is None and copy.ended_fd is None:
                wake.append(now + POLL)
            wake += [t for t in (copy.kill_at, copy.report_by) if t is not None]
        for fd, (events, data) in wanted.items():
            selector.register(fd, events, data)
        try:
            ready = selector.select(max(0.0, min(wake) - now))
        finally:
            for fd in wanted:
                selector.unregister(fd)
        for key, _ in ready:
            if key.data is None:  # the grader closed our stdin: it is gone
                if not os.read(key.fd, READ_SIZE):
                    for copy in running:
                        copy.signal(signal.SIGKILL)
                    return
                continue
            kind, target = key.data
            if kind == "input":
                target.write_input()
            elif kind == "output":
                target.read(time.monotonic())
            # "ended": reaped at the top of the loop
    say({"done": True})


def main():
    private()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    request = json.loads(sys.stdin.buffer.readline())
    run(request)


if __name__ == "__main__":
    main()
