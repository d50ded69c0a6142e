"""Checks on the student's client, run against the grader's recording server: it echoes
its input, and copies run at once get distinct ephemeral ports and their own replies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ..pod.base import Completed
from .base import Outcome, check, failed, passed
from .evidence import MAX_SHOWN, describe_exit, printed_lines, tail, token_lines, transcript_problem

if TYPE_CHECKING:
    from ..grading.context import CheckContext

FIXED_PORT_ERRORS = ("address already in use", "cannot assign requested address",
                     "eaddrinuse", "eaddrnotavail")


async def _record(ctx: CheckContext, expected: int, barrier_timeout: float,
                  idle_timeout: float) -> dict:
    return await ctx.probe("record_start", expected=expected, barrier_timeout=barrier_timeout,
                           idle_timeout=idle_timeout)


@check("client-echo", title="Client sends its input and prints the echoes", needs=("client",),
       params={"lines": 12, "timeout": 10.0, "pace": 0.02})
async def client_echo(ctx: CheckContext) -> Outcome:
    """Your client sends each line of its input to the server and prints each echoed line,
    then exits with status 0."""
    lines = token_lines("echo", ctx.params["lines"])
    timeout = ctx.params["timeout"]
    recorder = await _record(ctx, 1, timeout, timeout)
    completed = await ctx.run_client(recorder["port"], _stdin(lines), timeout,
                                     ctx.params["pace"])
    recorded = await ctx.probe("record_result", recorder=recorder["recorder"], timeout=2.0)
    sent = "".join(c["received"] for c in recorded["connections"])
    evidence = {"lines": len(lines), "printed": len(printed_lines(completed)),
                "exit_code": completed.exit_code, "seconds": round(completed.duration, 3),
                "connections_seen": len(recorded["connections"]),
                "stderr": tail(completed.stderr)}
    if not recorded["connections"]:
        return failed(f"your client never connected to the server; it {describe_exit(completed)}",
                      evidence=evidence, details=_printed(completed),
                      hint="Connect to the host and port given as the first two arguments.")
    if sent != _stdin(lines).decode():
        return failed("your client did not send its input line by line as given",
                      evidence={**evidence, "received_by_server": sent[:300]},
                      details=_printed(completed),
                      hint="Send every line read from stdin, newline included, unchanged.")
    problem = transcript_problem(completed, lines)
    if problem:
        return failed(problem, evidence=evidence, details=_printed(completed),
                      hint="Print each line the server sends back as it arrives; after the "
                           "end of input, shut down the sending side, read until the server "
                           "closes, then exit 0.")
    return passed(f"{len(lines)}/{len(lines)} lines echoed, exit status 0 after "
                  f"{completed.duration:.2f} s", evidence=evidence)


@check("client-ephemeral-ports", title="Concurrent clients get distinct ephemeral ports",
       concepts=("Q4", "Q5"), depends_on=("client-echo",), needs=("client",),
       params={"clients": 8, "lines": 12, "barrier_timeout": 10.0, "timeout": 20.0})
async def client_ephemeral_ports(ctx: CheckContext) -> Outcome:
    """Several copies of your client connect at the same moment (the server holds each
    connection until all have arrived): each must get its own OS-assigned source port."""
    count = ctx.params["clients"]
    inputs = [token_lines(f"client{i + 1}", ctx.params["lines"]) for i in range(count)]
    recorder = await _record(ctx, count, ctx.params["barrier_timeout"], ctx.params["timeout"])
    runs: list[Completed | None] = [None] * count

    async def run_one(index: int) -> None:
        runs[index] = await ctx.run_client(recorder["port"], _stdin(inputs[index]),
                                           ctx.params["timeout"])
        # A client that ended before the barrier fell means the copies can no longer
        # all overlap: waiting out the barrier's deadline would prove nothing more.
        await ctx.probe("record_release", recorder=recorder["recorder"])

    async with trio.open_nursery() as nursery:
        for index in range(count):
            nursery.start_soon(run_one, index)
    recorded = await ctx.probe("record_result", recorder=recorder["recorder"], timeout=5.0)
    low, high = (await ctx.probe("hello"))["port_range"]
    ports = [c["peer"][1] for c in recorded["connections"]]
    distinct = sorted(set(ports))
    outside = [p for p in distinct if not low <= p <= high]
    refused = [tail(r.stderr, 1) for r in runs if r and r.exit_code != 0]
    evidence = {"clients": count, "connected": len(ports), "ports": ports,
                "distinct_ports": len(distinct), "ephemeral_range": [low, high],
                "outside_range": outside, "all_overlapped": recorded["barrier_reached"],
                "client_errors": refused[:MAX_SHOWN]}
    carry = list(zip(inputs, runs, strict=True))
    range_text = f"{low}-{high}"
    if len(distinct) == count and not outside and recorded["barrier_reached"]:
        return passed(f"{count} overlapping clients used {count} distinct ports in "
                      f"{range_text}", evidence=evidence, carry=carry)
    hint = ("Do not bind() the client socket to a fixed port; just connect() and let the "
            "OS choose an ephemeral port.")
    details = [f"We started {count} copies of your client at once; the server held every "
               f"connection until all {count} had arrived (or {ctx.params['barrier_timeout']:.0f}"
               f" s passed). Source ports seen: {ports or 'none'}."]
    if refused:
        details.append(f"{len(refused)} copies failed, e.g.: {refused[0]}")
    if any(error.lower().find(word) >= 0 for error in refused for word in FIXED_PORT_ERRORS) \
            or len(distinct) < len(ports):
        summary = (f"{count} clients at once: only {len(distinct)} distinct source port(s) "
                   f"({', '.join(map(str, distinct[:4]))}): a fixed source port?")
    elif outside:
        summary = (f"source ports {outside[:4]} are outside the ephemeral range {range_text}: "
                   "your client chooses its own port")
    else:
        summary = f"only {len(ports)} of {count} clients connected while the others ran"
    return failed(summary, evidence=evidence, details=tuple(details), hint=hint, carry=carry)


@check("client-reply-routing", title="Each concurrent client prints only its own replies",
       concepts=("Q4",), depends_on=("client-ephemeral-ports",), needs=("client",))
async def client_reply_routing(ctx: CheckContext) -> Outcome:
    """Each of the copies of your client that ran at once printed exactly its own lines,
    and none of another's: replies reach the right program through its ephemeral port."""
    runs = ctx.carried["client-ephemeral-ports"]
    owner = {line: index for index, (lines, _) in enumerate(runs) for line in lines}
    crossed, incomplete = [], []
    for index, (lines, completed) in enumerate(runs):
        printed = printed_lines(completed)
        foreign = [line for line in printed if owner.get(line, index) != index]
        if foreign:
            crossed.append((index, len(foreign), foreign[0]))
        elif transcript_problem(completed, lines):
            incomplete.append((index, transcript_problem(completed, lines)))
    evidence = {"clients": len(runs), "printed_others_replies": len(crossed),
                "incomplete": len(incomplete),
                "examples": [f"client {i + 1} printed {n} foreign line(s), e.g. {line!r}"
                             for i, n, line in crossed[:MAX_SHOWN]]}
    hint = ("Print what arrives on your own socket; never look for your replies anywhere "
            "else (a file, a variable shared by all clients).")
    if crossed:
        return failed(f"{len(crossed)} of {len(runs)} concurrent clients printed replies meant "
                      "for another client", evidence=evidence, hint=hint,
                      details=tuple(evidence["examples"]))
    if incomplete:
        index, problem = incomplete[0]
        return failed(f"{len(incomplete)} of {len(runs)} concurrent clients did not print "
                      f"their own replies; client {index + 1}: {problem}", evidence=evidence,
                      hint=hint)
    lines = len(runs[0][0])
    return passed(f"each of {len(runs)} clients printed only its own {lines} lines",
                  evidence=evidence)


@check("end-to-end", title="Your client and your server agree",
       depends_on=("server-starts", "client-echo"), needs=("server", "client"),
       params={"lines": 12, "timeout": 10.0, "pace": 0.02})
async def end_to_end(ctx: CheckContext) -> Outcome:
    """Your own client, talking to your own server, echoes every line."""
    start = await ctx.server.ensure_running()
    if not start.listening:
        return failed(f"your server is not running: it {start.failure}",
                      hint="See server-starts.")
    lines = token_lines("e2e", ctx.params["lines"])
    # Typed a line at a time, so the server must keep talking on one connection.
    completed = await ctx.run_client(ctx.server.port, _stdin(lines), ctx.params["timeout"],
                                     ctx.params["pace"])
    evidence = {"lines": len(lines), "printed": len(printed_lines(completed)),
                "exit_code": completed.exit_code, "seconds": round(completed.duration, 3),
                "stderr": tail(completed.stderr)}
    problem = transcript_problem(completed, lines)
    if problem:
        return failed(problem, evidence=evidence, details=_printed(completed),
                      hint="Each passed on its own against the grader: look at what your "
                           "server does with a client that sends many lines on one "
                           "connection.")
    return passed(f"your client and your server agree: {len(lines)}/{len(lines)} lines",
                  evidence=evidence)


def _stdin(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _printed(completed: Completed) -> tuple[str, ...]:
    shown = []
    if completed.stdout.strip():
        shown.append("Your client printed:\n" + tail(completed.stdout))
    if completed.stderr.strip():
        shown.append("On stderr:\n" + tail(completed.stderr))
    return tuple(shown)
