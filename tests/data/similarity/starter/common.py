"""Handout helpers for the echo assignment: keep this file as it is."""

import os
import sys
import time

DEFAULT_PORT = 5000
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8)


def parse_port(argv):
    """The port from the command line, or DEFAULT_PORT; exits with status 2 if bad."""
    if len(argv) < 2:
        return DEFAULT_PORT
    try:
        port = int(argv[1])
    except ValueError:
        print(f"usage: {argv[0]} [PORT]", file=sys.stderr)
        sys.exit(2)
    if not 0 < port < 65536:
        print(f"{argv[0]}: port out of range: {port}", file=sys.stderr)
        sys.exit(2)
    return port


def with_retries(action, *args):
    """Call action(*args), retrying on OSError with a growing delay."""
    last_error = None
    for delay in RETRY_DELAYS:
        try:
            return action(*args)
        except OSError as error:
            last_error = error
            time.sleep(delay)
    raise last_error


def recv_exactly(sock, count):
    """Exactly count bytes from sock, or fewer if the peer closed first."""
    chunks = []
    remaining = count
    while remaining > 0:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def report(message, *values):
    """A line on stderr with the process id, for the grader's logs."""
    text = message % values if values else message
    print(f"[{os.getpid()}] {text}", file=sys.stderr, flush=True)
