"""$title: this assignment's own checks, written against grader.api.

A check is a small decorated async function: the decorator says what it is about and
what it needs, its docstring is what the student reads, and it returns an outcome
(`passed`, `failed`, `scored`, `inconclusive`) or raises Failure. Add it to
assignment.toml's [checks] with its points to make it part of the plan.
"""

import secrets

from grader.api import CheckContext, Outcome, check, failed, passed, require_server


@check("echo-long-line", title="Echoes a long line whole", concepts=("Q1",),
       depends_on=("server-starts",), params={"length": 65536, "timeout": 10.0})
async def echo_long_line(ctx: CheckContext) -> Outcome:
    """A line of 64 KiB comes back whole, on the connection it was sent on, however many
    pieces TCP delivers it in."""
    await require_server(ctx)  # fails the check, saying why, if your server is not up
    line = secrets.token_hex(ctx.params["length"] // 2).encode() + b"\n"
    async with ctx.connections(1, sources=["127.0.0.1"], timeout=5.0) as group:
        [reply] = await group.exchange([line], until=b"\n", timeout=ctx.params["timeout"])
    evidence = {"sent": len(line), "received": len(reply.data), "outcome": reply.outcome}
    if reply.data == line:
        return passed(f"a {len(line)}-byte line came back whole", evidence=evidence)
    return failed(f"a {len(line)}-byte line: {len(reply.data)} bytes came back "
                  f"({reply.outcome})", evidence=evidence,
                  hint="Send back every byte you receive: a long line arrives in several "
                       "recv() calls, and sendall() sends what one send() may not.")
