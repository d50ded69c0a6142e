"""The echo assignment's own checks: the student's client against the grader's recording
server, and against the student's own server. Everything about concurrency, ports and
restarts is a built-in check, driven through the echo protocol."""

import time
from dataclasses import dataclass

from grader.api import (
    CheckContext,
    Completed,
    Diagnosis,
    Outcome,
    check,
    diagnose_run,
    failed,
    passed,
    printed_details,
    printed_lines,
    require_server,
    tail,
)
from grader.protocols.echo import EchoProtocol

PRINT_HINT = ("Print each line the server sends back as it arrives; after the end of input, "
              "shut down the sending side, read until the server closes, then exit 0.")


@dataclass(frozen=True)
class Transcript:
    """How a client's run compares with the lines it should have printed."""

    kind: str  # ok, timed-out, missing, decorated, extra, order, exit
    problem: str  # "" when ok

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def transcript(completed: Completed, expected: list[str]) -> Transcript:
    """Whether a client's run shows exactly `expected` echoed back, and if not, why."""
    printed = printed_lines(completed)
    missing = [line for line in expected if line not in printed]
    decorated = [line for line in missing if any(line in shown for shown in printed)]
    if completed.timed_out:
        return Transcript("timed-out", (
            f"your client {_ended(completed)} (it printed {len(printed)} of "
            f"{len(expected)} lines); it should exit once its input ended and every echo "
            "arrived"))
    if missing and len(decorated) == len(missing):
        example = next(shown for shown in printed if decorated[0] in shown)
        return Transcript("decorated", (
            f"printed every echo, but with text added (e.g. {example[:80]!r} for "
            f"{decorated[0][:40]!r})"))
    if missing:
        return Transcript("missing", f"{len(missing)} of {len(expected)} lines never printed, "
                                     f"first: {missing[0]!r}")
    extra = [line for line in printed if line not in expected]
    if extra:
        return Transcript("extra", f"printed {len(extra)} line(s) it was never sent, first: "
                                   f"{extra[0]!r}")
    if printed != expected:
        return Transcript("order", "printed every line, but not in the order they were sent")
    if completed.exit_code != 0:
        return Transcript("exit", f"printed every echo but {_ended(completed)} "
                                  "(expected status 0)")
    return Transcript("ok", "")


def _ended(completed: Completed) -> str:
    if completed.idle_seconds:
        return (f"was stopped after {completed.duration:.1f} s: it and your server had "
                f"sat idle (using no CPU) for {completed.idle_seconds:g} s, each waiting on "
                "the other")
    if completed.timed_out:
        return f"was still running after {completed.duration:.1f} s and was stopped"
    return diagnose_run(completed, "client").headline


def _stdin(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _hint(seen: Transcript, end: Diagnosis) -> str:
    """What to do next, from how the run went and how the client ended."""
    if end.hint and seen.kind in ("missing", "exit"):
        return end.hint  # it crashed, or said why it stopped: that comes first
    return {"decorated": "Print each line exactly as the server sent it back, with nothing "
                         "added or removed: your output is compared line by line.",
            "timed-out": "After the end of input, shut down the sending side "
                         "(shutdown(fd, SHUT_WR)), print what still arrives, and exit once "
                         "the server has closed the connection."}.get(seen.kind, PRINT_HINT)


def _evidence(lines: list[str], completed: Completed) -> dict:
    return {"lines": len(lines), "printed": len(printed_lines(completed)),
            "exit_code": completed.exit_code, "seconds": round(completed.duration, 3),
            "stderr": tail(completed.stderr)}


@check("client-echo", title="Client sends its input and prints the echoes", needs=("client",),
       params={"lines": 12, "timeout": 10.0, "pace": 0.02})
async def client_echo(ctx: CheckContext) -> Outcome:
    """Your client sends each line of its input to the server and prints each echoed line,
    then exits with status 0."""
    assert isinstance(ctx.protocol, EchoProtocol)
    lines = ctx.protocol.lines("echo", ctx.params["lines"])
    timeout = ctx.params["timeout"]
    recorder = await ctx.record(1, timeout, timeout)
    # Typed a line at a time: each line reaches the client in a read of its own.
    completed = await ctx.run("client", _stdin(lines), timeout, ctx.params["pace"],
                              host=ctx.pod.host, port=recorder.port)
    recorded = await ctx.recording(recorder, timeout=2.0)
    sent = b"".join(c.received for c in recorded.connections)
    end = diagnose_run(completed, "client")
    evidence = {**_evidence(lines, completed), "connections_seen": len(recorded.connections)}
    if not recorded.connections:
        return failed(f"your client never connected to the server; it {end.headline}",
                      evidence=evidence, details=printed_details(completed, end.lines),
                      hint=end.hint or "Connect to the host and port given as the first two "
                                       "arguments.")
    if sent != _stdin(lines):
        return failed("your client did not send its input line by line as given",
                      evidence={**evidence, "received_by_server": sent[:300].decode(
                          errors="replace")},
                      details=printed_details(completed, end.lines),
                      hint="Send every line read from stdin, newline included, unchanged.")
    seen = transcript(completed, lines)
    if not seen.ok:
        summary = seen.problem
        if completed.exit_code not in (0, None) and seen.kind != "exit":
            summary += f"; your client {end.headline}"
        return failed(summary, evidence=evidence, details=printed_details(completed, end.lines),
                      hint=_hint(seen, end))
    # end-to-end runs it again: the port it came from tells whether it picks its own.
    return passed(f"{len(lines)}/{len(lines)} lines echoed, exit status 0 after "
                  f"{completed.duration:.2f} s", evidence=evidence,
                  carry={"source_port": recorded.connections[0].peer[1]})


async def _wait_for_fixed_port(ctx: CheckContext) -> str:
    """A client that binds a fixed source port outside the ephemeral range (faulted in
    client-ephemeral-ports) cannot bind it again without SO_REUSEADDR while our earlier
    runs of it sit in TIME_WAIT there: wait those out, so this check judges the client
    and server together every time. What was waited, said for the report ("" if none)."""
    port = (ctx.carried.get("client-echo") or {}).get("source_port")
    low, high = await ctx.ephemeral_port_range()
    if port is None or low <= port <= high:
        return ""
    began = time.monotonic()
    lingering = await ctx.wait_out_time_wait(port)
    if not lingering:
        return ""
    return (f"Your client binds source port {port} itself (see client-ephemeral-ports); "
            f"{lingering} connections of its earlier runs sat in TIME_WAIT on that port, so "
            f"we waited {time.monotonic() - began:.0f} s for them to expire before running "
            "it against your server.")


@check("end-to-end", title="Your client and your server agree",
       depends_on=("server-starts", "client-echo"), needs=("server", "client"),
       params={"lines": 12, "timeout": 10.0, "pace": 0.02})
async def end_to_end(ctx: CheckContext) -> Outcome:
    """Your own client, talking to your own server, echoes every line."""
    assert isinstance(ctx.protocol, EchoProtocol)
    await require_server(ctx)
    waited = await _wait_for_fixed_port(ctx)
    lines = ctx.protocol.lines("e2e", ctx.params["lines"])
    # Typed a line at a time, so the server must keep talking on one connection.
    completed = await ctx.run("client", _stdin(lines), ctx.params["timeout"],
                              ctx.params["pace"], with_server=True, host=ctx.pod.host,
                              port=ctx.server.port)
    end = diagnose_run(completed, "client")
    evidence = _evidence(lines, completed)
    seen = transcript(completed, lines)
    if seen.ok:
        return passed(f"your client and your server agree: {len(lines)}/{len(lines)} lines",
                      evidence=evidence, details=(waited,) if waited else ())
    printed = sum(1 for line in lines if line in printed_lines(completed))
    summary = seen.problem
    if end.hint and not completed.timed_out:
        hint = end.hint
    elif seen.kind == "timed-out" and printed == len(lines):
        stuck = (f"sat idle with your server for {completed.idle_seconds:g} s, waiting"
                 if completed.idle_seconds else f"waited {completed.duration:.0f} s")
        summary = (f"all {len(lines)} lines came back, but the conversation never ended: "
                   f"your client {stuck} for your server to close the connection after "
                   "its input ended")
        hint = ("Your client printed every echo, then kept waiting: against our server it "
                "exits once the server closes the connection, so here your server did not "
                "close it after the end of your client's input (see server-lifecycle).")
    else:
        hint = ("Each passed on its own against the grader: look at what your server does "
                "with a client that sends many lines on one connection.")
    if completed.exit_code not in (0, None) and seen.kind != "exit":
        summary += f"; your client {end.headline}"
    details = printed_details(completed, end.lines)
    return failed(summary, evidence=evidence, details=(waited, *details) if waited else details,
                  hint=hint)
