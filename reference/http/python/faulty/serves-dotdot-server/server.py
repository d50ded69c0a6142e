# FAULTY (serves-dotdot-server): joins the decoded path onto DOCROOT and opens
# it without resolving it, so `/../secret.txt`, `/a/../../secret.txt` and the
# percent-encoded `/%2e%2e/secret.txt` serve files outside DOCROOT (and a
# symlink inside DOCROOT serves its target). Everything else is right. Quiz
# idea: none about ports -- the server is reachable by anyone who can connect,
# so what it serves must be limited by the server itself (path traversal).
"""Faulty static HTTP/1.1 server: path traversal out of DOCROOT.

Usage: python3 server.py PORT DOCROOT

Same as the correct server (http/python/correct/server.py), but resolve() does
not check that the path stays inside DOCROOT.
"""

import contextlib
import mimetypes
import os
import re
import resource
import socket
import sys
import threading
import time
from urllib.parse import unquote

BUFSIZE = 65536
MAX_HEAD = 16384  # bytes of request line and headers
THREAD_STACK = 256 * 1024
REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (/\S*) HTTP/1\.([0-9])")
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large"}


class BadRequest(Exception):
    pass


def parse(head: bytes) -> tuple[str, str, bool]:
    """The method, target and keep-alive wish of one request's header block."""
    lines = head.decode("latin-1").split("\r\n")
    match = REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise BadRequest
    method, target, minor = match.groups()
    connection: set[str] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name):
            raise BadRequest
        if name.lower() == "connection":
            connection |= {token.strip().lower() for token in value.split(",")}
    keep_alive = "close" not in connection if minor != "0" else "keep-alive" in connection
    return method, target, keep_alive


def resolve(docroot: str, target: str) -> str | None:
    """The regular file under DOCROOT that `target` names, or None."""
    path = unquote(target.split("?", 1)[0], errors="surrogateescape")
    if "\0" in path:
        return None
    full = os.path.join(docroot, path.lstrip("/"))  # FAULTY: `..` can climb out of DOCROOT
    return full if os.path.isfile(full) else None


def response(status: int, body: bytes, *, head_only: bool = False, close: bool = False,
             ctype: str = "text/plain; charset=utf-8", extra: str = "") -> bytes:
    header = (f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Length: {len(body)}\r\n"
              f"Content-Type: {ctype}\r\n{extra}")
    if close:
        header += "Connection: close\r\n"
    return (header + "\r\n").encode() + (b"" if head_only else body)


def error(status: int, **kwargs) -> bytes:
    return response(status, f"{status} {REASONS[status]}\n".encode(), **kwargs)


def answer(head: bytes, docroot: str) -> tuple[bytes, bool]:
    """The response to one request and whether the connection stays open."""
    try:
        method, target, keep_alive = parse(head)
    except BadRequest:
        return error(400, close=True), False
    if method not in ("GET", "HEAD"):
        return error(405, close=True, extra="Allow: GET, HEAD\r\n"), False
    head_only, close = method == "HEAD", not keep_alive
    path = resolve(docroot, target)
    try:
        if path is None:
            raise OSError
        with open(path, "rb") as f:
            body = f.read()
    except OSError:
        return error(404, head_only=head_only, close=close), keep_alive
    ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return response(200, body, head_only=head_only, close=close, ctype=ctype), keep_alive


def serve(conn: socket.socket, docroot: str) -> None:
    buf = b""
    with conn:
        try:
            while True:
                buf = buf.lstrip(b"\r\n")  # empty lines before a request are allowed
                end = buf.find(b"\r\n\r\n")
                if end < 0 and len(buf) <= MAX_HEAD:
                    data = conn.recv(BUFSIZE)
                    if not data:
                        return  # the client closed its side: close ours
                    buf += data
                    continue
                if not 0 <= end <= MAX_HEAD:
                    conn.sendall(error(431, close=True))
                    break
                reply, keep_alive = answer(buf[:end], docroot)
                buf = buf[end + 4:]
                conn.sendall(reply)
                if not keep_alive:
                    break
            # Closing first: read what the client already sent, so that the kernel
            # does not answer unread data with a reset that could destroy the reply.
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                while conn.recv(BUFSIZE):
                    pass
        except OSError:
            pass  # the client reset the connection: just drop it


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: server.py PORT DOCROOT", file=sys.stderr)
        return 2
    try:
        port = int(sys.argv[1])
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        print(f"server: bad port {sys.argv[1]!r}", file=sys.stderr)
        return 2
    docroot = os.path.realpath(sys.argv[2])
    if not os.path.isdir(docroot):
        print(f"server: {sys.argv[2]!r} is not a directory", file=sys.stderr)
        return 2

    raise_fd_limit()
    threading.stack_size(THREAD_STACK)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))
        listener.listen(socket.SOMAXCONN)
    except OSError as e:
        print(f"server: cannot listen on 0.0.0.0:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"listening on 0.0.0.0:{port}", file=sys.stderr, flush=True)

    while True:
        try:
            conn, _addr = listener.accept()
        except OSError as e:
            # EMFILE and friends: back off briefly instead of dying.
            print(f"server: accept: {e}", file=sys.stderr)
            time.sleep(0.05)
            continue
        threading.Thread(target=serve, args=(conn, docroot), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
