# FAULTY (shared-reply-log-client): keys its replies by the SERVER's address
# instead of by its own connection. Every reply line is appended to the file
# replies-HOST-PORT.log in the temporary folder (append mode, flushed after
# each line), and after the server closes the client prints that whole file
# instead of only the replies it received (then deletes the file "so the next
# run starts clean"). Quiz idea it gets wrong: the client side of the
# four-tuple, its ephemeral port, is what tells the replies of concurrent
# clients of one server apart -- HOST:PORT alone does not. One copy at a time
# prints only its own lines; when several copies talk to the same server at
# once, a copy that finishes after others have logged replies prints their
# lines too (the last to finish prints everyone's).
"""Faulty TCP echo client: replies are logged per server address and printed.

Usage: python3 client.py HOST PORT

Same as the correct client (python/correct/client.py), except that replies go
through the shared log file replies-HOST-PORT.log and are printed at the end.
"""

import contextlib
import os
import socket
import sys
import tempfile
import threading

BUFSIZE = 65536


class Sender(threading.Thread):
    """Sends stdin line by line, then shuts down the write side."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            for line in sys.stdin.buffer:
                self.sock.sendall(line)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: client.py HOST PORT", file=sys.stderr)
        return 2
    host, port_arg = sys.argv[1], sys.argv[2]
    try:
        port = int(port_arg)
    except ValueError:
        print(f"client: bad port {port_arg!r}", file=sys.stderr)
        return 2

    try:
        sock = socket.create_connection((host, port))
    except OSError as e:
        print(f"client: cannot connect to {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1

    # Replies are kept per server: "replies from HOST:PORT are my replies".
    log_path = os.path.join(tempfile.gettempdir(), f"replies-{host}-{port}.log")
    log = open(log_path, "a+b")  # noqa: SIM115 -- kept open until the end
    sender = Sender(sock)
    sender.start()
    out = sys.stdout.buffer
    error: OSError | None = None
    pending = b""
    try:
        while True:
            data = sock.recv(BUFSIZE)
            if not data:
                break  # the server closed the connection
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                log.write(line + b"\n")
                log.flush()
    except OSError as e:
        error = e
    if pending:
        log.write(pending)
        log.flush()

    # Print everything logged for this server, then remove the log.
    log.seek(0)
    out.write(log.read())
    out.flush()
    log.close()
    with contextlib.suppress(FileNotFoundError):
        os.remove(log_path)

    if sender.is_alive():
        # The server closed before stdin ended: stop now rather than wait for
        # more input (the sender thread is blocked reading stdin).
        out.flush()
        if error is not None:
            print(
                f"client: connection to {host}:{port} failed: {error.strerror or error}",
                file=sys.stderr,
                flush=True,
            )
        os._exit(1 if error is not None else 0)

    sock.close()
    error = error or sender.error
    if error is not None:
        print(
            f"client: connection to {host}:{port} failed: {error.strerror or error}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
