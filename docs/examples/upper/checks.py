"""The upper assignment's protocol and its own check, written against grader.api only.

The protocol: a client sends lines; the server answers each line upper-cased, on the
same connection. Built-in checks (concurrency, same IP, restart) drive it through
UpperProtocol.round; upper-split-line is this assignment's own check.
"""

import secrets

from grader.api import (
    Answer,
    CheckContext,
    ConnectionGroup,
    Outcome,
    Protocol,
    Round,
    check,
    failed,
    passed,
    require_server,
)


class UpperProtocol(Protocol):
    """Each connection sends a word of its own; the server must answer it upper-cased."""

    name = "upper"
    incomplete = "no newline"

    async def round(self, group: ConnectionGroup, number: int, timeout: float,
                    order_seed: int | None = None) -> Round:
        words = [f"conn{i}-round{number}-{secrets.token_hex(3)}" for i in range(group.size)]
        answers = {word.upper().encode(): index for index, word in enumerate(words)}
        replies = await group.exchange([word.encode() + b"\n" for word in words],
                                       until=b"\n", timeout=timeout, order_seed=order_seed)
        judged = []
        for index, reply in enumerate(replies):
            line = reply.data.rstrip(b"\r\n")
            if reply.outcome != "complete":
                outcome = {"eof": "closed", "closed": "closed", "reset": "reset",
                           "send-failed": "send-failed"}.get(reply.outcome, "timed-out")
            elif answers.get(line) == index:
                outcome = "answered"
            else:
                outcome = "misrouted" if line in answers else "wrong"
            judged.append(Answer(index, group.local[index], outcome, words[index],
                                 line[:60].decode(errors="replace") or reply.error))
        return Round(number, tuple(judged))


@check("upper-split-line", title="A line that arrives in pieces comes back whole",
       concepts=("U1",), depends_on=("server-starts",),
       params={"length": 4000, "slice": 100, "pause": 0.005, "timeout": 10.0})
async def upper_split_line(ctx: CheckContext) -> Outcome:
    """A long line is sent in many small pieces: your server must answer it once, whole
    and upper-cased, when its newline arrives."""
    await require_server(ctx)
    line = secrets.token_hex(ctx.params["length"] // 2).encode() + b"\n"
    pieces = len(line) // ctx.params["slice"] + 1
    async with ctx.connections(1, sources=["127.0.0.1"], timeout=5.0) as group:
        [reply] = await group.exchange([line], until=b"\n", timeout=ctx.params["timeout"],
                                       slice_size=ctx.params["slice"],
                                       pause=ctx.params["pause"])
    evidence = {"length": len(line), "pieces": pieces, "outcome": reply.outcome,
                "reply_length": len(reply.data), "reply_start": reply.data[:40].decode(
                    errors="replace")}
    if reply.outcome == "complete" and reply.data == line.upper():
        return passed(f"a {len(line)}-byte line sent in {pieces} pieces came back whole, "
                      "upper-cased", evidence=evidence)
    if reply.outcome == "complete" and len(reply.data) < len(line):
        answered = len(reply.data.rstrip(b"\r\n"))
        return failed(f"a {len(line)}-byte line sent in {pieces} pieces: your server "
                      f"answered after only {answered} bytes, before the newline",
                      evidence=evidence,
                      hint="Keep what recv() returns in a buffer and answer only once the "
                           "buffer holds a whole line (up to its newline).")
    return failed(f"a {len(line)}-byte line sent in {pieces} pieces did not come back "
                  f"upper-cased ({reply.outcome})", evidence=evidence,
                  hint="Answer each whole line, upper-cased, on the connection it came on.")
