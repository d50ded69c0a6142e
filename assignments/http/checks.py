"""The http assignment's own checks: what a web server must do beyond serving many
connections at once (the built-in checks do that through the http protocol): keep a
connection for several requests, find requests that arrive in pieces or together, keep
serving while one client stalls, answer errors and HEAD as HTTP says, never serve a file
outside its root; and the student's client, against ours and against their server."""

from contextlib import AbstractAsyncContextManager

import h11

from grader.api import (
    CheckContext,
    ConnectionGroup,
    Outcome,
    check,
    diagnose_run,
    failed,
    passed,
    printed_details,
    require_server,
    scored,
    tail,
)
from grader.protocols.http import HttpProtocol, Response, request_bytes

KEEP_ALIVE_HINT = ("After a response, keep the connection open and read the next request "
                   "on it; close only when the client closes or sends Connection: close.")
STREAM_HINT = ("Read into a buffer until it holds a whole request (up to its empty line, "
               "\\r\\n\\r\\n), however many recv() calls that takes; answer it, and keep what "
               "follows in the buffer for the next request.")


def _http(ctx: CheckContext) -> HttpProtocol:
    assert isinstance(ctx.protocol, HttpProtocol)
    return ctx.protocol


def _right(response: Response, body: bytes) -> bool:
    return response.ok and response.status == 200 and response.body == body


async def _each_alone(ctx: CheckContext, requests: list[bytes]) -> list[Response]:
    """Each request on a connection of its own, one after another: what is judged is the
    answer, not whether the server serves several clients at once."""
    responses = []
    for request in requests:
        async with _one(ctx) as group:
            responses += await _http(ctx).fetch(group, [request], ctx.params["timeout"])
    return responses


def _one(ctx: CheckContext) -> AbstractAsyncContextManager[ConnectionGroup]:
    """One connection to the student's server, held for the block."""
    return ctx.connections(1, sources=["127.0.0.1"], timeout=5.0)


@check("http-keep-alive", title="Several requests on one persistent connection",
       concepts=("http",), depends_on=("server-starts",),
       params={"requests": 3, "timeout": 5.0})
async def http_keep_alive(ctx: CheckContext) -> Outcome:
    """One connection asks for several documents, one after another: each response comes
    on the same connection, which stays open for the next request (HTTP/1.1's default)."""
    await require_server(ctx)
    http, count = _http(ctx), ctx.params["requests"]
    seen: list[tuple[str, Response]] = []
    async with _one(ctx) as group:
        for index in range(count):
            path, body = http.document(100 + index)
            [response] = await http.fetch(group, [request_bytes(path)], ctx.params["timeout"])
            seen.append((path, response))
            if not _right(response, body):
                break
    good = sum(1 for path, response in seen
               if _right(response, http.documents[path.lstrip("/")]))
    evidence = {"requests": count, "answered": good,
                "responses": [f"GET {path}: {r.describe()}" for path, r in seen],
                "connection_header": seen[0][1].headers.get("connection", "")}
    if good == count:
        return passed(f"{count} requests answered one after another on one connection",
                      evidence=evidence)
    path, last = seen[-1]
    if good and last.outcome in ("eof", "closed", "reset", "send-failed"):
        said = (" (your response said Connection: close)"
                if "close" in evidence["connection_header"].lower() else "")
        return failed(f"your server closed the connection after {good} response(s){said}: "
                      "one request per connection, HTTP/1.0 style", evidence=evidence,
                      hint=KEEP_ALIVE_HINT)
    return failed(f"request {len(seen)} of {count} on one connection (GET {path}): "
                  f"{last.describe()}", evidence=evidence, hint=KEEP_ALIVE_HINT)


@check("http-pipelining", title="Two requests sent together get two responses",
       concepts=("stream",), depends_on=("server-starts",), params={"timeout": 5.0})
async def http_pipelining(ctx: CheckContext) -> Outcome:
    """Two requests arrive in one piece (one send): your server answers both, in order,
    on that connection."""
    await require_server(ctx)
    http, timeout = _http(ctx), ctx.params["timeout"]
    (first, first_body), (second, second_body) = http.document(200), http.document(201)
    async with _one(ctx) as group:
        await group.send([request_bytes(first) + request_bytes(second)], timeout=timeout)
        responses = [*await http.receive(group, [b"GET"], timeout)]
        if responses[0].ok:
            responses += await http.receive(group, [b"GET"], timeout)
    evidence = {"sent": [f"GET {first}", f"GET {second}"],
                "responses": [r.describe() for r in responses]}
    if len(responses) == 2 and _right(responses[0], first_body) \
            and _right(responses[1], second_body):
        return passed("two requests sent in one piece got two responses, in order",
                      evidence=evidence)
    if _right(responses[0], first_body):
        return failed(f"only the first of two requests sent together was answered; the "
                      f"second got {responses[-1].describe()}", evidence=evidence,
                      hint=STREAM_HINT)
    return failed(f"two requests sent together: the first got {responses[0].describe()}",
                  evidence=evidence, hint=STREAM_HINT)


@check("http-slow-request", title="A request that arrives one byte at a time",
       concepts=("stream",), depends_on=("server-starts",),
       params={"pause": 0.005, "timeout": 10.0})
async def http_slow_request(ctx: CheckContext) -> Outcome:
    """A request is sent one byte at a time: your server waits for the whole request (its
    empty line) before it answers."""
    await require_server(ctx)
    http = _http(ctx)
    path, body = http.document(300)
    request = request_bytes(path)
    async with _one(ctx) as group:
        [response] = await http.fetch(group, [request], ctx.params["timeout"],
                                      slice_size=1, pause=ctx.params["pause"])
    evidence = {"request_bytes": len(request), "pieces": len(request),
                "response": response.describe()}
    if _right(response, body):
        return passed(f"a {len(request)}-byte request sent one byte at a time was answered",
                      evidence=evidence)
    return failed(f"a request sent one byte at a time got {response.describe()}",
                  evidence=evidence, hint=STREAM_HINT)


@check("http-parked", title="A client that stalls does not hold up the others",
       concepts=("Q3",), depends_on=("server-starts",),
       params={"timeout": 3.0, "accept_stall": 2.0})
async def http_parked(ctx: CheckContext) -> Outcome:
    """One client sends half a request and goes quiet. Meanwhile another client asks for a
    document: your server must answer it at once, then still answer the first one when
    its request is complete."""
    await require_server(ctx)
    http, timeout = _http(ctx), ctx.params["timeout"]
    parked_path, _ = http.document(400)
    other_path, other_body = http.document(401)
    whole = request_bytes(parked_path)
    async with ctx.connections(1, sources=["127.1.0.1"], timeout=5.0) as parked:
        # Opening returns once your server has accepted it (see the probe's pacing).
        await parked.send([whole[:-2]], timeout=2.0)  # all but the empty line's CRLF
        async with ctx.connections(1, sources=["127.1.0.2"], timeout=5.0,
                                   stall_timeout=ctx.params["accept_stall"]) as other:
            [answered] = await http.fetch(other, [request_bytes(other_path)], timeout)
        [finished] = await http.fetch(parked, [whole[-2:]], timeout)
    evidence = {"other_client": answered.describe(), "parked_client": finished.describe()}
    later = (f"Once its request was complete, the stalled client got "
             f"{finished.describe()}.")
    if not _right(answered, other_body):
        return failed(f"while one client had sent half a request and went quiet, another "
                      f"got {answered.describe()}", evidence=evidence, details=(later,),
                      hint="Serve each connection on its own (a thread, a process, or a "
                           "select/poll loop that never blocks in recv()), so that a client "
                           "that stalls cannot hold up the others.")
    return passed("a client that stalled halfway through its request held up no one",
                  evidence=evidence, details=(later,))


# What every correct server rejects (nginx answers a header line without a colon with
# 200, so that one is not asked of students either).
STATUS_CASES = (  # what is sent, what it is, the statuses that are right
    ("GET /no-such-{nonce}.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", "a missing file",
     (404,)),
    ("GARBAGE\r\n\r\n", "a request line that is not METHOD TARGET HTTP/1.x", (400,)),
    ("GET c/0.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
     "a target that does not start with /", (400,)),
    ("POST /c/0.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
     "a method other than GET and HEAD", (405, 501)),
)


@check("http-status", title="Errors get their status codes", concepts=("http",),
       depends_on=("server-starts",), params={"timeout": 5.0})
async def http_status(ctx: CheckContext) -> Outcome:
    """A missing file gets 404 Not Found, a malformed request 400 Bad Request, another
    method than GET or HEAD 405 or 501, each with a Content-Length."""
    await require_server(ctx)
    http = _http(ctx)
    requests = [sent.format(nonce=http.nonce).encode() for sent, _, _ in STATUS_CASES]
    responses = await _each_alone(ctx, requests)
    right, lines = 0, []
    for (sent, what, statuses), response in zip(STATUS_CASES, responses, strict=True):
        good = response.ok and response.status in statuses
        right += good
        lines.append(f"{what} ({sent.splitlines()[0].format(nonce='...')!r}): "
                     f"{response.describe()}, expected {' or '.join(map(str, statuses))}"
                     + ("" if good else "  <- wrong"))
    evidence = {"cases": lines, "right": right}
    summary = f"{right} of {len(STATUS_CASES)} error cases got their status code"
    return scored(right / len(STATUS_CASES), summary, evidence=evidence,
                  details=tuple(lines),
                  hint="Answer 404 when the path names no file, 400 when the request line "
                       "is malformed (then close), and 405 or 501 for other methods; give "
                       "every response a status line and a Content-Length.")


@check("http-head", title="HEAD answers as GET would, without the body",
       concepts=("http",), depends_on=("server-starts",),
       params={"timeout": 5.0, "quiet": 0.5})
async def http_head(ctx: CheckContext) -> Outcome:
    """HEAD gets the status and headers GET would get (Content-Length included), and no
    body after them."""
    await require_server(ctx)
    http = _http(ctx)
    path, body = http.document(500)
    async with _one(ctx) as group:
        [head] = await http.fetch(group, [request_bytes(path, "HEAD")], ctx.params["timeout"])
        # Whatever follows the head until the connection closes or goes quiet: a body?
        [after] = await group.read(timeout=ctx.params["quiet"])
    length = head.headers.get("content-length", "")
    evidence = {"head": head.describe(), "content_length": length, "size": len(body),
                "bytes_after_head": len(after.data)}
    if not (head.ok and head.status == 200):
        return failed(f"HEAD {path} got {head.describe()}", evidence=evidence,
                      hint="Answer HEAD with the status line and headers a GET would get.")
    if length != str(len(body)):
        return failed(f"HEAD {path}: Content-Length {length or 'missing'}, but the file has "
                      f"{len(body)} bytes", evidence=evidence,
                      hint="HEAD's Content-Length is the size the body would have.")
    if after.data:
        return failed(f"HEAD {path}: {len(after.data)} bytes followed the headers (a body?)",
                      evidence=evidence, hint="Send no body in answer to HEAD.")
    return passed("HEAD got the headers GET would get, and no body", evidence=evidence)


TRAVERSALS = ("/../secret.txt", "/c/../../secret.txt", "/%2e%2e/secret.txt",
              "/%2E%2E%2Fsecret.txt", "/c/..%2f..%2fsecret.txt")


@check("http-traversal", title="Never a file outside the document root",
       concepts=("safety",), depends_on=("server-starts",), params={"timeout": 5.0})
async def http_traversal(ctx: CheckContext) -> Outcome:
    """Paths that climb out of the document root (`..`, plain or percent-encoded) get 400,
    403 or 404: never the file they point at."""
    await require_server(ctx)
    http = _http(ctx)
    responses = await _each_alone(ctx, [request_bytes(path) for path in TRAVERSALS])
    leaked = [path for path, r in zip(TRAVERSALS, responses, strict=True)
              if http.secret in r.body]
    odd = [f"{path}: {r.describe()}" for path, r in zip(TRAVERSALS, responses, strict=True)
           if path not in leaked and not (r.ok and r.status in (400, 403, 404))]
    evidence = {"tried": list(TRAVERSALS), "leaked": leaked, "other_answers": odd,
                "responses": [r.describe() for r in responses]}
    hint = ("Decode the path's %XX escapes, join it onto the root, resolve it (realpath), "
            "and refuse it (403 or 404) unless it still lies inside the root.")
    if leaked:
        return failed(f"your server served a file outside its document root for "
                      f"{leaked[0]} ({len(leaked)} of {len(TRAVERSALS)} tries)",
                      evidence=evidence, hint=hint)
    if odd:
        return failed(f"nothing leaked, but {odd[0]} (expected 400, 403 or 404)",
                      evidence=evidence, hint=hint)
    return passed(f"{len(TRAVERSALS)} paths climbing out of the root were refused",
                  evidence=evidence)


def _request_seen(received: bytes) -> tuple[h11.Request | None, str]:
    """The request a client sent, as h11 reads it, or why it does not parse."""
    server = h11.Connection(our_role=h11.SERVER)
    try:
        server.receive_data(received)
        event = server.next_event()
    except h11.RemoteProtocolError as exc:
        return None, str(exc)
    return (event, "") if isinstance(event, h11.Request) else (None, "an incomplete request")


@check("client-fetch", title="Client fetches a path and prints the body", needs=("client",),
       params={"timeout": 10.0})
async def client_fetch(ctx: CheckContext) -> Outcome:
    """Your client asks for the path it was given with a well-formed HTTP/1.1 GET (with a
    Host header), prints exactly the body of the response, and exits with status 0."""
    http, timeout = _http(ctx), ctx.params["timeout"]
    job = http.client_job(0)
    recorder = await ctx.record(1, timeout, timeout)
    completed = await ctx.run_client(job, port=recorder.port, timeout=timeout)
    recorded = await ctx.recording(recorder, timeout=2.0)
    end = diagnose_run(completed, "client")
    body = http.client_body(0)
    evidence = {"path": job.placeholders["path"], "exit_code": completed.exit_code,
                "printed_bytes": len(completed.stdout), "body_bytes": len(body),
                "stderr": tail(completed.stderr)}
    details = printed_details(completed, end.lines)
    if not recorded.connections:
        return failed(f"your client never connected; it {end.headline}", evidence=evidence,
                      details=details, hint=end.hint or "Connect to HOST and PORT, the first "
                      "two arguments.")
    request, problem = _request_seen(recorded.connections[0].received)
    evidence["request"] = recorded.connections[0].received[:200].decode(errors="replace")
    if request is None:
        return failed(f"the server could not read your client's request: {problem}",
                      evidence=evidence, details=details,
                      hint="Send `GET PATH HTTP/1.1`, a `Host:` header, and an empty line, "
                           "each line ending with \\r\\n.")
    target = request.target.decode("latin-1")
    if request.method != b"GET" or target != job.placeholders["path"]:
        return failed(f"your client sent {request.method.decode()} {target}, not GET "
                      f"{job.placeholders['path']} (the third argument)", evidence=evidence,
                      details=details, hint="Ask for the path given as the third argument.")
    if completed.stdout != body:
        shown = completed.stdout[:60].decode(errors="replace")
        return failed(f"your client printed {len(completed.stdout)} bytes ({shown!r}), not the "
                      f"body's {len(body)}", evidence=evidence, details=details,
                      hint="Print the body exactly as it came (after the response's empty "
                           "line, Content-Length bytes), and nothing else on stdout.")
    if completed.exit_code != 0:
        return failed(f"your client printed the body but {end.headline}", evidence=evidence,
                      details=details, hint=end.hint or "Exit with status 0 after a 200.")
    return passed(f"fetched {target} and printed its {len(body)}-byte body exactly",
                  evidence=evidence)


@check("end-to-end", title="Your client fetches from your server",
       depends_on=("server-starts", "client-fetch"), needs=("server", "client"),
       params={"timeout": 10.0})
async def end_to_end(ctx: CheckContext) -> Outcome:
    """Your own client, fetching a document from your own server, prints it exactly."""
    await require_server(ctx)
    path, body = _http(ctx).document(600)
    completed = await ctx.run("client", b"", ctx.params["timeout"], host=ctx.pod.host,
                              port=ctx.server.port, path=path)
    end = diagnose_run(completed, "client")
    evidence = {"path": path, "exit_code": completed.exit_code,
                "printed_bytes": len(completed.stdout), "body_bytes": len(body)}
    if completed.stdout == body and completed.exit_code == 0:
        return passed(f"your client fetched {path} from your server: {len(body)} bytes",
                      evidence=evidence)
    return failed(f"your client fetching {path} from your server printed "
                  f"{len(completed.stdout)} of {len(body)} bytes and {end.headline}",
                  evidence=evidence, details=printed_details(completed, end.lines),
                  hint=end.hint or "Each passed on its own against the grader: compare the "
                                   "request your client sends with what your server expects.")

