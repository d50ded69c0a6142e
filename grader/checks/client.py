"""Checks on the student's client, run against the grader's recording server: it echoes
its input, and copies run at once get distinct ephemeral ports and their own replies."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import trio

from ..pod.base import Completed
from ..probe import messages as m
from .base import Outcome, check, failed, inconclusive, passed
from .diagnosis import Diagnosis, diagnose
from .evidence import (
    MAX_SHOWN,
    Transcript,
    counted,
    printed_lines,
    tail,
    token_lines,
    transcript,
)
from .server import require_server

if TYPE_CHECKING:
    from ..grading.context import CheckContext

FIXED_PORT_KINDS = ("address-in-use", "address-not-available")
FIXED_PORT_HINT = ("Do not bind() the client socket to a fixed port; just connect() and let "
                   "the OS choose an ephemeral port, so that every copy of your client gets "
                   "its own four-tuple.")
PRINT_HINT = ("Print each line the server sends back as it arrives; after the end of input, "
              "shut down the sending side, read until the server closes, then exit 0.")


def client_end(completed: Completed) -> Diagnosis:
    return diagnose(completed.exit_code, completed.stderr.decode(errors="replace"),
                    completed.stdout.decode(errors="replace"), role="client",
                    timed_out=completed.timed_out)


def _transcript_hint(seen: Transcript, end: Diagnosis) -> str:
    if end.hint and seen.kind in ("missing", "exit"):
        return end.hint  # it crashed, or said why it stopped: that comes first
    return {"decorated": "Print each line exactly as the server sent it back, with nothing "
                         "added or removed: your output is compared line by line.",
            "timed-out": "After the end of input, shut down the sending side "
                         "(shutdown(fd, SHUT_WR)), print what still arrives, and exit once "
                         "the server has closed the connection."}.get(seen.kind, PRINT_HINT)


@check("client-echo", title="Client sends its input and prints the echoes", needs=("client",),
       params={"lines": 12, "timeout": 10.0, "pace": 0.02})
async def client_echo(ctx: CheckContext) -> Outcome:
    """Your client sends each line of its input to the server and prints each echoed line,
    then exits with status 0."""
    lines = token_lines("echo", ctx.params["lines"])
    timeout = ctx.params["timeout"]
    recorder = await ctx.probe.call(m.RecordStart(1, timeout, timeout))
    completed = await ctx.run_client(recorder.port, _stdin(lines), timeout, ctx.params["pace"])
    recorded = await ctx.probe.call(m.RecordResult(recorder.recorder, 2.0))
    sent = b"".join(c.received for c in recorded.connections)
    end = client_end(completed)
    evidence = {"lines": len(lines), "printed": len(printed_lines(completed)),
                "exit_code": completed.exit_code, "seconds": round(completed.duration, 3),
                "connections_seen": len(recorded.connections),
                "stderr": tail(completed.stderr)}
    if not recorded.connections:
        return failed(f"your client never connected to the server; it {end.headline}",
                      evidence=evidence, details=_printed(completed, end),
                      hint=end.hint or "Connect to the host and port given as the first two "
                                       "arguments.")
    if sent != _stdin(lines):
        return failed("your client did not send its input line by line as given",
                      evidence={**evidence, "received_by_server": sent[:300].decode(
                          errors="replace")},
                      details=_printed(completed, end),
                      hint="Send every line read from stdin, newline included, unchanged.")
    seen = transcript(completed, lines)
    if not seen.ok:
        summary = seen.problem
        if completed.exit_code not in (0, None) and seen.kind != "exit":
            summary += f"; your client {end.headline}"
        return failed(summary, evidence=evidence, details=_printed(completed, end),
                      hint=_transcript_hint(seen, end))
    return passed(f"{len(lines)}/{len(lines)} lines echoed, exit status 0 after "
                  f"{completed.duration:.2f} s", evidence=evidence)


@check("client-ephemeral-ports", title="Concurrent clients get distinct ephemeral ports",
       concepts=("Q4", "Q5"), needs=("client",),
       params={"clients": 8, "lines": 12, "barrier_timeout": 10.0, "timeout": 20.0})
async def client_ephemeral_ports(ctx: CheckContext) -> Outcome:
    """Several copies of your client connect at the same moment (the server holds each
    connection until all have arrived): each must get its own OS-assigned source port.
    Judged from the server's side, whatever the copies print."""
    count = ctx.params["clients"]
    inputs = [token_lines(f"client{i + 1}", ctx.params["lines"]) for i in range(count)]
    recorder = await ctx.probe.call(m.RecordStart(count, ctx.params["barrier_timeout"],
                                                  ctx.params["timeout"]))
    runs: list[Completed | None] = [None] * count

    async def run_one(index: int) -> None:
        runs[index] = await ctx.run_client(recorder.port, _stdin(inputs[index]),
                                           ctx.params["timeout"])
        # A client that ended before the barrier fell means the copies can no longer
        # all overlap: waiting out the barrier's deadline would prove nothing more.
        await ctx.probe.call(m.RecordRelease(recorder.recorder))

    async with trio.open_nursery() as nursery:
        for index in range(count):
            nursery.start_soon(run_one, index)
    recorded = await ctx.probe.call(m.RecordResult(recorder.recorder, 5.0))
    low, high = (await ctx.probe.call(m.Hello())).port_range
    ports = [c.peer[1] for c in recorded.connections]
    distinct = sorted(set(ports))
    outside = [p for p in distinct if not low <= p <= high]
    ends = [client_end(r) for r in runs if r is not None and r.exit_code != 0]
    common = Counter(e.kind for e in ends).most_common(1)
    evidence = {"clients": count, "connected": len(ports), "ports": ports,
                "distinct_ports": len(distinct), "ephemeral_range": [low, high],
                "outside_range": outside, "all_overlapped": recorded.barrier_reached,
                "client_errors": [e.headline for e in ends[:MAX_SHOWN]]}
    carry = {"runs": list(zip(inputs, runs, strict=True)),
             "received": [c.received for c in recorded.connections]}
    range_text = f"{low}-{high}"
    if len(distinct) == count and not outside and recorded.barrier_reached:
        return passed(f"{count} overlapping clients used {count} distinct ports in "
                      f"{range_text}", evidence=evidence, carry=carry)
    details = [f"We started {count} copies of your client at once; the server held every "
               f"connection until all {count} had arrived (or {ctx.params['barrier_timeout']:.0f}"
               f" s passed). Source ports seen: {ports or 'none'}."]
    if ends:
        details.append(f"{counted(len(ends), 'copy', 'copies')} failed, e.g. it "
                       f"{ends[0].headline}")
        details += [f"    {line}" for line in ends[0].lines]
    fixed = bool(common) and common[0][0] in FIXED_PORT_KINDS
    hint = FIXED_PORT_HINT
    if (fixed or len(distinct) < len(ports)) and ports:
        summary = (f"{count} clients at once: only {len(distinct)} distinct source port(s) "
                   f"({', '.join(map(str, distinct[:4]))}): a fixed source port")
    elif fixed:
        summary = (f"none of {count} clients could connect: each {ends[0].headline}: a "
                   "fixed source port")
    elif outside:
        summary = (f"source ports {outside[:4]} are outside the ephemeral range {range_text}: "
                   "your client chooses its own port")
    else:
        summary = f"only {len(ports)} of {count} clients were connected at once"
        if ends:
            summary += f"; the others {ends[0].headline}"
            hint = ends[0].hint or ("Each copy must connect to the host and port given as "
                                    "its arguments and stay connected until its input ends.")
    return failed(summary, evidence=evidence, details=tuple(details), hint=hint, carry=carry)


@check("client-reply-routing", title="Each concurrent client prints only its own replies",
       concepts=("Q4",), uses=("client-ephemeral-ports",), needs=("client",))
async def client_reply_routing(ctx: CheckContext) -> Outcome:
    """Each of the copies of your client that ran at once printed its own lines, and none
    of another's: replies reach the right program through its ephemeral port."""
    seen = ctx.carried["client-ephemeral-ports"]
    runs = seen["runs"]
    owner = {line: index for index, (lines, _) in enumerate(runs) for line in lines}
    connected = [index for index, (lines, _) in enumerate(runs)
                 if any(lines[0].encode() in received for received in seen["received"])]
    crossed, incomplete = [], []
    for index in connected:
        lines, completed = runs[index]
        printed = printed_lines(completed)
        foreign = [shown for shown in printed
                   if any(line in shown and who != index for line, who in owner.items())]
        if foreign:
            crossed.append((index, len(foreign), foreign[0]))
        elif missing := [line for line in lines if not any(line in s for s in printed)]:
            incomplete.append((index, missing))
    evidence = {"clients": len(runs), "connected": len(connected),
                "printed_others_replies": len(crossed), "incomplete": len(incomplete),
                "examples": [f"client {i + 1} printed {n} foreign line(s), e.g. {line!r}"
                             for i, n, line in crossed[:MAX_SHOWN]]}
    hint = ("Print what arrives on your own socket; never look for your replies anywhere "
            "else (a file, a variable shared by all clients).")
    if crossed:
        return failed(f"{len(crossed)} of {len(connected)} concurrent clients printed replies "
                      "meant for another client", evidence=evidence, hint=hint,
                      details=tuple(evidence["examples"]))
    if len(connected) < 2:
        how_many = ("none of the copies" if not connected
                    else f"only {counted(len(connected), 'copy', 'copies')}")
        return inconclusive(f"{how_many} of your client connected while the others ran, so "
                            "no reply could reach the wrong copy (see client-ephemeral-ports)",
                            evidence=evidence)
    if incomplete:
        index, missing = incomplete[0]
        return failed(f"{len(incomplete)} of {len(connected)} concurrent clients did not print "
                      f"all their own replies; client {index + 1} never printed "
                      f"{missing[0]!r}", evidence=evidence, hint=PRINT_HINT)
    lines = len(runs[0][0])
    return passed(f"each of {len(connected)} clients printed only its own {lines} lines",
                  evidence=evidence)


@check("end-to-end", title="Your client and your server agree",
       depends_on=("server-starts", "client-echo"), needs=("server", "client"),
       params={"lines": 12, "timeout": 10.0, "pace": 0.02})
async def end_to_end(ctx: CheckContext) -> Outcome:
    """Your own client, talking to your own server, echoes every line."""
    await require_server(ctx)
    lines = token_lines("e2e", ctx.params["lines"])
    # Typed a line at a time, so the server must keep talking on one connection.
    completed = await ctx.run_client(ctx.server.port, _stdin(lines), ctx.params["timeout"],
                                     ctx.params["pace"])
    end = client_end(completed)
    evidence = {"lines": len(lines), "printed": len(printed_lines(completed)),
                "exit_code": completed.exit_code, "seconds": round(completed.duration, 3),
                "stderr": tail(completed.stderr)}
    seen = transcript(completed, lines)
    if seen.ok:
        return passed(f"your client and your server agree: {len(lines)}/{len(lines)} lines",
                      evidence=evidence)
    printed = sum(1 for line in lines if line in printed_lines(completed))
    if end.hint and not completed.timed_out:
        hint = end.hint
    elif seen.kind == "timed-out" and printed == len(lines):
        hint = ("Your client printed every echo, then kept waiting: against our server it "
                "exits once the server closes the connection, so here your server did not "
                "close it after the end of your client's input (see server-lifecycle).")
    else:
        hint = ("Each passed on its own against the grader: look at what your server does "
                "with a client that sends many lines on one connection.")
    summary = seen.problem
    if seen.kind == "timed-out" and printed == len(lines):
        summary = (f"all {len(lines)} lines came back, but the conversation never ended: "
                   f"your client waited {completed.duration:.0f} s for your server to close "
                   "the connection after its input ended")
    elif completed.exit_code not in (0, None) and seen.kind != "exit":
        summary += f"; your client {end.headline}"
    return failed(summary, evidence=evidence, details=_printed(completed, end), hint=hint)


def _stdin(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _printed(completed: Completed, end: Diagnosis) -> tuple[str, ...]:
    shown = []
    if completed.stdout.strip():
        shown.append("Your client printed:\n" + tail(completed.stdout))
    if end.lines:
        shown.append("It said:\n" + "\n".join(f"    {line}" for line in end.lines))
    elif completed.stderr.strip():
        shown.append("On stderr:\n" + tail(completed.stderr))
    return tuple(shown)
