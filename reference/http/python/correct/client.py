"""Reference HTTP/1.1 fetching client (correct).

Usage: python3 client.py HOST PORT PATH

Connects once to HOST:PORT (the OS picks the ephemeral source port; the client
never binds), sends `GET PATH HTTP/1.1` with a Host header and
`Connection: close`, reads the response header (however it is split across
recv() calls), then exactly Content-Length bytes of body (without a
Content-Length: everything until the server closes), and writes the body to
stdout unchanged. Exit status 0 for `200 OK`; another status is named on stderr
(the body is not printed) and the exit status is 1, as it is when the server
cannot be reached or the response is cut short or malformed.
"""

import socket
import sys

BUFSIZE = 65536


class BadResponse(Exception):
    pass


def read_header(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response header (without its empty line) and the body bytes read with it."""
    buf = b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        data = sock.recv(BUFSIZE)
        if not data:
            raise BadResponse("the server closed the connection before the end of the header")
        buf += data
    return buf[:end], buf[end + 4:]


def content_length(lines: list[str]) -> int | None:
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if "transfer-encoding" in fields:
        raise BadResponse(f"Transfer-Encoding {fields['transfer-encoding']!r} is not supported")
    if "content-length" not in fields:
        return None
    value = fields["content-length"]
    if not (value.isascii() and value.isdigit()):
        raise BadResponse(f"bad Content-Length: {value!r}")
    return int(value)


def fetch(sock: socket.socket, host: str, port: int, path: str) -> tuple[str, bytes]:
    """The status line and the body of `GET path`."""
    authority = host if port == 80 else f"{host}:{port}"
    request = f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    sock.sendall(request.encode("latin-1"))
    head, body = read_header(sock)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    if not status_line.startswith("HTTP/1.") or len(status_line.split(" ")) < 2:
        raise BadResponse(f"not an HTTP response: {status_line[:80]!r}")
    length = content_length(lines)
    while length is None or len(body) < length:
        data = sock.recv(BUFSIZE)
        if not data:
            if length is None:
                break  # no Content-Length: the body ends where the connection does
            raise BadResponse(f"body cut short: {len(body)} of {length} bytes")
        body += data
    return status_line, body if length is None else body[:length]


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: client.py HOST PORT PATH", file=sys.stderr)
        return 2
    host, port_arg, path = sys.argv[1:]
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
    with sock:
        try:
            status_line, body = fetch(sock, host, port, path)
        except (OSError, BadResponse) as e:
            print(f"client: GET {path} from {host}:{port}: {e}", file=sys.stderr)
            return 1
    if status_line.split(" ")[1] != "200":
        print(f"client: GET {path} from {host}:{port}: {status_line}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
