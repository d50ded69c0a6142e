"""The HTTP protocol (a static web server, HTTP/1.1): each connection asks for a document
of its own and must get exactly that document back, on that connection.

The grader gives the pod a document root, `.grader/docroot` in the submission's folder
(the server's {docroot}), holding DOCUMENTS small files whose bodies are unique to the
grading, and one secret file outside it. A response is read through the protocol-neutral
probe in two steps, its head up to the empty line, then exactly Content-Length bytes of
body, and judged by h11, a strict HTTP/1.1 parser whose errors say exactly what was
malformed. Bytes travel as they are: nothing is re-encoded.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h11
import trio

from .base import Answer, ClientJob, Protocol, Replies, Round

if TYPE_CHECKING:
    from ..grading.connections import ConnectionGroup
    from ..pod.base import Pod
    from ..probe.messages import Reply

DOCUMENTS = 1024  # documents in the root: connections of one round ask for distinct ones
CLIENT_DOCUMENTS = 256  # documents the recording server holds for the student's client
GRADER_FOLDER = ".grader"
HEAD_LIMIT = 16 * 1024
SHOWN = 60


@dataclass(frozen=True)
class Response:
    """One response as read and parsed, or why there is none."""

    outcome: str  # complete, or the probe's outcome (eof, reset, timeout, ...)
    status: int = 0
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""
    problem: str = ""  # what was wrong with it (h11's words), or ""

    @property
    def ok(self) -> bool:
        return self.outcome == "complete" and not self.problem

    def describe(self) -> str:
        """The response in a few words, for a student."""
        if self.outcome != "complete":
            return {"eof": "no response: the connection was closed first",
                    "closed": "no response: the connection was already closed",
                    "reset": "no response: the connection was reset",
                    "send-failed": "no response: the connection was closed while the "
                                   "request was still being sent",
                    "too-long": "a response head over 16 KiB",
                    "not-connected": "no response: the connection could not be opened"}.get(
                        self.outcome, "no whole response in time")
        if self.problem:
            return f"a malformed response ({self.problem})"
        shown = self.body[:SHOWN].decode(errors="replace").rstrip()
        return f"{self.status} {self.reason}" + (f": {shown!r}" if shown else "")


def request_bytes(target: str, method: str = "GET", headers: Sequence[tuple[str, str]] = (),
                  ) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response_bytes(status: int, reason: str, body: bytes, close: bool = False) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain",
            f"Content-Length: {len(body)}", *(["Connection: close"] if close else [])]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class HttpProtocol(Protocol):
    """GET a document of the connection's own; a client run fetches one path."""

    name = "http"
    incomplete = "the response was cut short"

    def __init__(self) -> None:
        super().__init__()
        self.nonce = secrets.token_hex(4)
        self.documents = {f"c/{k}.txt": f"document {k} {self.nonce}: the four-tuple tells "
                          "connections apart\n".encode() for k in range(DOCUMENTS)}
        self.secret = f"secret {self.nonce}: outside the document root\n".encode()
        table = {self.client_path(i): response_bytes(200, "OK", self.client_body(i), True)
                 for i in range(CLIENT_DOCUMENTS)}
        self.replies = Replies(until=b"\r\n\r\n", key=rb"^[A-Z]+ (\S+) ", table=table,
                               missing=response_bytes(404, "Not Found", b"not found\n", True),
                               close=True)

    async def prepare(self, pod: Pod) -> None:
        files = {f"docroot/{name}": body for name, body in self.documents.items()}
        files["secret.txt"] = self.secret
        root = await pod.add_files(GRADER_FOLDER, files)
        self.placeholders = {"docroot": f"{root}/docroot"}

    def client_path(self, index: int) -> str:
        return f"/client/{index}-{self.nonce}.txt"

    def client_body(self, index: int) -> bytes:
        return f"client {index} {self.nonce}: a document of its own\n".encode()

    def client_job(self, index: int) -> ClientJob:
        path = self.client_path(index % CLIENT_DOCUMENTS)
        body = self.client_body(index % CLIENT_DOCUMENTS).decode().rstrip("\n")
        return ClientJob(placeholders={"path": path}, expected=(body,), marker=path.encode())

    def document(self, index: int) -> tuple[str, bytes]:
        """The path and body of a document of the root."""
        name = f"c/{index % DOCUMENTS}.txt"
        return f"/{name}", self.documents[name]

    async def round(self, group: ConnectionGroup, number: int, timeout: float,
                    order_seed: int | None = None) -> Round:
        offset = (number - 1) * group.size
        wanted = [self.document(offset + i) for i in range(group.size)]
        owner = {body: index for index, (_, body) in enumerate(wanted)}
        responses = await self.fetch(group, [request_bytes(path) for path, _ in wanted],
                                     timeout, order_seed=order_seed)
        answers = []
        for index, response in enumerate(responses):
            path, body = wanted[index]
            if response.outcome in ("eof", "closed", "reset", "send-failed"):
                outcome = {"eof": "closed"}.get(response.outcome, response.outcome)
            elif response.outcome != "complete":
                outcome = "timed-out"
            elif response.ok and response.status == 200 and response.body == body:
                outcome = "answered"
            elif response.ok and owner.get(response.body, index) != index:
                outcome = "misrouted"
            else:
                outcome = "wrong"
            # What came back: nothing, for a connection that was only silent or closed.
            shown = "" if outcome in ("timed-out", "closed") else response.describe()
            answers.append(Answer(index, group.local[index], outcome, f"GET {path}", shown))
        return Round(number, tuple(answers))

    async def fetch(self, group: ConnectionGroup, requests: Sequence[bytes], timeout: float,
                    *, order_seed: int | None = None, slice_size: int = 0, pause: float = 0.0,
                    connections: Sequence[int] = ()) -> list[Response]:
        """Send `requests[i]` on the i-th chosen connection (all, by default) and read one
        response on each, within `timeout`."""
        deadline = trio.current_time() + timeout
        heads = await group.exchange(requests, until=b"\r\n\r\n", timeout=timeout,
                                     order_seed=order_seed, slice_size=slice_size,
                                     pause=pause, connections=connections,
                                     max_bytes=HEAD_LIMIT)
        return await self._bodies(group, heads, [method_of(r) for r in requests], deadline)

    async def receive(self, group: ConnectionGroup, methods: Sequence[bytes], timeout: float,
                      connections: Sequence[int] = ()) -> list[Response]:
        """Read one more response on each chosen connection (answering requests of the
        given methods, sent before), within `timeout`."""
        deadline = trio.current_time() + timeout
        heads = await group.read(until=b"\r\n\r\n", timeout=timeout, connections=connections,
                                 max_bytes=HEAD_LIMIT)
        return await self._bodies(group, heads, methods, deadline)

    async def _bodies(self, group: ConnectionGroup, heads: Sequence[Reply],
                      methods: Sequence[bytes], deadline: float) -> list[Response]:
        # A connection the server never let us open (it died, or stopped accepting) has
        # no head: its request gets "not-connected", so each request still has its answer.
        parsers = [_Parser(method) for method in methods[:len(heads)]]
        wanting = {head.connection: length for head, parser in zip(heads, parsers, strict=True)
                   if head.outcome == "complete" and (length := parser.body_length(head.data))}
        bodies = {}
        if wanting:
            replies = await group.read(timeout=max(0.1, deadline - trio.current_time()),
                                       lengths=list(wanting.values()),
                                       connections=list(wanting))
            bodies = {reply.connection: reply for reply in replies}
        responses = []
        for head, parser in zip(heads, parsers, strict=True):
            body = bodies.get(head.connection)
            if head.outcome != "complete":
                responses.append(Response(head.outcome))
            elif body is not None and body.outcome != "complete":
                responses.append(Response(body.outcome, problem="the body was cut short"))
            else:
                responses.append(parser.finish(body.data if body else b""))
        return responses + [Response("not-connected")] * (len(methods) - len(heads))


def method_of(request: bytes) -> bytes:
    """A request's method, as a response to it is framed (anything odd: as GET)."""
    method = request.split(b" ", 1)[0]
    return method if method.isalpha() and method.isupper() else b"GET"


class _Parser:
    """h11 on the client's side of one request (of `method`) and its response."""

    def __init__(self, method: bytes) -> None:
        self.connection = h11.Connection(our_role=h11.CLIENT)
        self.method = method
        self.head: h11.Response | None = None
        self.problem = ""
        # h11 reads a response only after a request: this one frames it (HEAD: no body).
        headers = [("Host", "localhost")] + ([("Content-Length", "0")]
                                             if method not in (b"GET", b"HEAD") else [])
        self.connection.send(h11.Request(method=method, target="/", headers=headers))
        self.connection.send(h11.EndOfMessage())

    def body_length(self, head: bytes) -> int:
        """How many body bytes to read after `head`, from its Content-Length."""
        try:
            self.connection.receive_data(head)
            event = self.connection.next_event()
            while isinstance(event, h11.InformationalResponse):
                event = self.connection.next_event()
        except h11.RemoteProtocolError as exc:
            self.problem = str(exc)
            return 0
        if not isinstance(event, h11.Response):
            self.problem = "the head did not parse as a response"
            return 0
        self.head = event
        if self.method == b"HEAD" or event.status_code in (204, 304):
            return 0  # no body, whatever the headers say
        headers = _headers(event)
        if "content-length" not in headers:
            self.problem = ("no Content-Length: a client cannot tell where the body ends "
                            "before you close the connection")
            return 0
        return int(headers["content-length"])

    def finish(self, body: bytes) -> Response:
        if self.head is None or self.problem:
            return Response("complete", problem=self.problem or "no response head")
        headers = _headers(self.head)
        status, reason = self.head.status_code, self.head.reason.decode("latin-1")
        if body:
            try:
                self.connection.receive_data(body)
                data = b""
                event = self.connection.next_event()
                while event is not h11.NEED_DATA and not isinstance(event, h11.EndOfMessage):
                    if isinstance(event, h11.Data):
                        data += event.data
                    event = self.connection.next_event()
                body = data
            except h11.RemoteProtocolError as exc:
                return Response("complete", status, reason, headers, body, str(exc))
        return Response("complete", status, reason, headers, body)


def _headers(head: h11.Response) -> dict[str, str]:
    return {name.decode().lower(): value.decode("latin-1") for name, value in head.headers}
