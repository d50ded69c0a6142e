"""Checks on the student's server: it listens, serves many connections at once on one
port, tells connections from one IP apart, and restarts at once despite TIME_WAIT."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ..grading.sockets import endpoint, four_tuple
from ..pod.base import describe_status
from .base import Outcome, check, failed, inconclusive, passed, scored
from .evidence import MAX_SHOWN, address_span, source_addresses, tail, what_went_wrong

if TYPE_CHECKING:
    from ..grading.context import CheckContext


async def _server_or_failure(ctx: CheckContext) -> Outcome | None:
    start = await ctx.server.ensure_running()
    if start.listening:
        return None
    return failed(f"your server is not running: it {start.failure}",
                  hint="See server-starts: the server must keep running and listening.",
                  evidence={"exit_code": start.exit_code, "stderr": tail(start.stderr)})


@check("server-starts", title="Server starts and listens on TCP", concepts=("Q1",))
async def server_starts(ctx: CheckContext) -> Outcome:
    """Your server, started with a port number, listens on that port with TCP."""
    start = await ctx.server.start()
    evidence = {"port": ctx.server.port, "command": ctx.server.command,
                "listeners": list(start.listeners), "seconds": round(start.seconds, 3),
                "exit_code": start.exit_code, "stderr": tail(start.stderr)}
    if start.listening:
        return passed(f"TCP listener on {', '.join(start.listeners)} after {start.seconds:.2f} s",
                      evidence=evidence)
    if start.udp_bound:
        return failed(
            f"your server bound UDP port {ctx.server.port} ({', '.join(start.udp_bound)}), "
            "not TCP",
            evidence={**evidence, "udp_bound": list(start.udp_bound)},
            details=(f"We ran `{ctx.server.command}` and found a UDP socket on port "
                     f"{ctx.server.port} but no TCP listener.",),
            hint="The quiz's misconception C: a server does not switch to UDP to avoid "
                 "tracking connections. TCP keeps each connection apart by its four-tuple. "
                 "Use socket(AF_INET, SOCK_STREAM), then bind(), listen() and accept().")
    details = [f"We ran `{ctx.server.command}` and waited for a TCP listener on port "
               f"{ctx.server.port}."]
    if start.stderr.strip():
        details.append("It printed:\n" + tail(start.stderr))
    elif start.stdout.strip():
        details.append("It printed (stdout):\n" + tail(start.stdout))
    summary = f"no TCP listener on port {ctx.server.port}: your server {start.failure}"
    if start.exit_code is not None and start.last_error_line:
        summary += f"; the last line it printed: {start.last_error_line}"
    hint = ("Read the port from the first command-line argument, bind to it on 0.0.0.0 "
            "(or 127.0.0.1), call listen(), and keep running, accepting connections.")
    if start.exit_code == 0:
        hint += (" Stay in the foreground: a server that forks into the background "
                 "(daemonizes) and exits looks, to us, like a server that stopped.")
    if start.other_listeners:
        evidence["other_listeners"] = list(start.other_listeners)
    return failed(summary, evidence=evidence, details=tuple(details), hint=hint)


@check("server-concurrency", title="Serves many connections at once on one port",
       concepts=("Q1", "Q3"), depends_on=("server-starts",),
       params={"clients": 500, "rounds": 2, "round_timeout": 10.0, "connect_timeout": 15.0})
async def server_concurrency(ctx: CheckContext) -> Outcome:
    """Hundreds of connections, all open at the same time, each get their own messages
    echoed, round after round: one listening port serves them all at once."""
    if (not_running := await _server_or_failure(ctx)) is not None:
        return not_running
    port, count, rounds = ctx.server.port, ctx.params["clients"], ctx.params["rounds"]
    owned = ctx.server.owned_inodes()
    before = (await ctx.server.socket_table(whole=True)).listening_ports(owned)
    sources = source_addresses(count)
    opened = await ctx.probe("open", ctx.params["connect_timeout"], group="concurrency",
                             host=ctx.pod.host, port=port, count=count, sources=sources,
                             timeout=ctx.params["connect_timeout"])
    try:
        exchange = {"group": "concurrency", "timeout": ctx.params["round_timeout"]}
        round_results = [await ctx.probe("exchange", ctx.params["round_timeout"], round=1,
                                         **exchange)]
        # The socket table while every connection is open, between rounds.
        during = await ctx.server.socket_table(whole=True)
        owned_during = ctx.server.owned_inodes()
        for number in range(2, rounds + 1):
            round_results.append(await ctx.probe("exchange", ctx.params["round_timeout"],
                                                 round=number, **exchange))
    finally:
        await ctx.probe("close", group="concurrency")
    after = (await ctx.server.socket_table(whole=True)).listening_ports(
        ctx.server.owned_inodes())
    served = opened["opened"] - len(set().union(*(set(r["not_answered"]) for r in round_results)))
    established = during.server_side(port, "ESTABLISHED")
    answered = [r["counts"]["answered"] for r in round_results]
    evidence = {
        "connections": count, "opened": opened["opened"], "connect_errors": opened["errors"],
        "source_ips": len(sources), "rounds": rounds, "answered_per_round": answered,
        "served_while_all_open": served, "established_between_rounds": len(established),
        "round_counts": [r["counts"] for r in round_results],
        "examples": [e for r in round_results for e in r["examples"]][:MAX_SHOWN],
    }
    carry = {"before": before, "during": during.listening_ports(owned_during), "after": after,
             "server_ends": len(established), "opened": opened["opened"],
             "elsewhere": [four_tuple(e) for e in during.tcp("ESTABLISHED")
                           if e["local"][1] != port and e["remote"][1] != port
                           and (owned_during is None or e["inode"] in owned_during)]}
    summary = (f"{served}/{count} connections served in {rounds} rounds while all were open "
               f"(from {address_span(sources)}; {len(established)} ESTABLISHED on "
               f":{port} between rounds)")
    details = [f"We opened {opened['opened']} of {count} connections to port {port} from "
               f"{address_span(sources)} and kept them all open. Each sent its own token "
               f"and waited for it to come back, {rounds} times; a round started only when "
               "every connection had answered the one before.",
               "Answers per round: " + ", ".join(f"{a}/{count}" for a in answered) + "."]
    if opened["errors"]:
        details.append("Connecting failed: " + "; ".join(
            f"{n}x {reason}" for reason, n in opened["errors"].items()) + ".")
    shape = _iterative_shape(answered, round_results, opened["opened"])
    if shape:
        details.append(shape)
        summary = f"{summary}: {shape.split(':')[0]}"
    elif served < count:
        why = (what_went_wrong(round_results, ctx.params["round_timeout"]) if opened["opened"]
               else "no connection could be opened")
        summary = f"{summary}: {why}"
    if (died := await _died(ctx, wait=1.0 if served < count else 0.0)) is not None:
        details.append(died)
        summary = f"{summary}; {died}"
    return scored(served / count, summary, evidence=evidence, details=tuple(details),
                  carry=carry, hint="Accept every client and give it its own thread, process "
                  "or place in a select/poll loop, so that no client waits for another.")


async def _died(ctx: CheckContext, wait: float = 0.0) -> str | None:
    """`your server exited ... during this check` when it did, else None. With `wait`,
    gives a server that just crashed that long to be seen as ended."""
    program = ctx.server.program
    if program is None:
        return None
    with trio.move_on_after(wait):
        while program.exit_code is None:
            await trio.sleep(0.05)
    if program.exit_code is None:
        return None
    _, stderr = await program.output()
    last_line = tail(stderr, 1).strip()
    said = f" (its last line: {last_line[:200]})" if last_line else ""
    return (f"your server {describe_status(program.exit_code, program.oom_killed)} "
            f"during this check{said}")


def _iterative_shape(answered: list[int], rounds: list[dict], opened: int) -> str:
    """Name the two shapes of a one-client-at-a-time server, when the numbers show one."""
    if opened > 1 and answered[0] == 1:  # none answered: not this shape, see why
        return ("one client at a time: only the first connection was answered while the "
                "others waited in the listen backlog")
    closed = sum(r["counts"]["closed"] + r["counts"]["reset"] for r in rounds[1:])
    if opened > 1 and answered[0] == opened and len(answered) > 1 and answered[1] == 0 \
            and closed:
        return ("one reply per connection: every connection was answered once, then closed "
                "by your server (an accept-read-write-close loop serves clients one after "
                "another, never at the same time)")
    return ""


@check("server-one-port", title="No new port per client", concepts=("Q1",),
       depends_on=("server-concurrency",))
async def server_one_port(ctx: CheckContext) -> Outcome:
    """While serving hundreds of clients, your server listens on its one port only, and
    every connection it holds is on that port."""
    seen = ctx.carried["server-concurrency"]
    port = ctx.server.port
    grown = sorted((seen["during"] | seen["after"]) - seen["before"])
    evidence = {"listening_before": sorted(seen["before"]),
                "listening_during": sorted(seen["during"]),
                "listening_after": sorted(seen["after"]), "new_listening_ports": grown[:50],
                "server_ends_on_port": seen["server_ends"],
                "connections_on_other_ports": seen["elsewhere"][:MAX_SHOWN]}
    hint = ("Use the socket accept() returns to talk to each client: it is already a new "
            "connection on the same port. Do not open a port per client.")
    if grown:
        return failed(
            f"{len(grown)} new listening port(s) appeared while clients were connected "
            f"(e.g. {', '.join(map(str, grown[:3]))})",
            evidence=evidence, hint=hint,
            details=(f"Listening ports before the load: {sorted(seen['before'])}; during it: "
                     f"{len(seen['during'])} ports. The quiz's misconception A: the server "
                     "does not open a new port for each client.",))
    if seen["elsewhere"]:
        return failed(f"{len(seen['elsewhere'])} of your server's connections were on other "
                      f"ports than {port}", evidence=evidence, hint=hint)
    return passed(f"1 listening port before, during and after the load; "
                  f"{seen['server_ends']}/{seen['opened']} server ends on :{port}",
                  evidence=evidence)


@check("server-same-ip", title="Tells apart connections from one IP", concepts=("Q1", "Q4"),
       depends_on=("server-starts",),
       params={"connections": 64, "rounds": 4, "round_timeout": 5.0, "source": "127.0.0.1"})
async def server_same_ip(ctx: CheckContext) -> Outcome:
    """Many connections from ONE source IP, messages interleaved in random order: every
    reply must come back on its own connection. Only the source port tells them apart."""
    if (not_running := await _server_or_failure(ctx)) is not None:
        return not_running
    count, rounds, source = ctx.params["connections"], ctx.params["rounds"], ctx.params["source"]
    opened = await ctx.probe("open", 10.0, group="same-ip", host=ctx.pod.host,
                             port=ctx.server.port, count=count, sources=[source], timeout=10.0)
    try:
        results = []
        for number in range(1, rounds + 1):
            results.append(await ctx.probe(
                "exchange", ctx.params["round_timeout"], group="same-ip", round=number,
                timeout=ctx.params["round_timeout"], interleave_seed=number))
            if results[-1]["counts"]["answered"] < count:
                break  # the evidence is in; later rounds would only wait out their deadlines
    finally:
        await ctx.probe("close", group="same-ip")
    answered = sum(r["counts"]["answered"] for r in results)
    misrouted = sum(r["counts"]["misrouted"] for r in results)
    examples = [e for r in results for e in r["examples"]][:MAX_SHOWN]
    evidence = {"source_ip": source, "connections": count, "opened": opened["opened"],
                "rounds": rounds, "answered": answered, "expected": count * len(results),
                "misrouted": misrouted, "examples": examples}
    summary = (f"{count} connections from {source}, {len(results)} interleaved rounds: "
               f"{answered}/{count * len(results)} replies on the right connection, "
               f"{misrouted} misrouted")
    if answered == count * rounds:
        return passed(summary, evidence=evidence)
    details = [f"All {count} connections came from {source}; only their source ports "
               "differ. Messages went out in a shuffled order."]
    if misrouted == 0 and (why := what_went_wrong(results, ctx.params["round_timeout"])):
        summary = f"{summary}: {why}"
    details += [f"connection from {endpoint(e['local'])} sent {e['sent']!r}, "
                f"got {e['received']!r} ({e['outcome']})" for e in examples[:3]]
    return failed(summary, evidence=evidence, details=tuple(details),
                  hint="A client is not identified by its IP address (the quiz's "
                       "misconception D): many connections can come from one IP. Reply on "
                       "the socket the message arrived on, and key any per-client state by "
                       "connection (socket), not by address.")


@check("server-restart", title="Restarts at once despite TIME_WAIT", concepts=("Q2",),
       depends_on=("server-starts",),
       params={"connections": 24, "round_timeout": 5.0, "close_timeout": 5.0})
async def server_restart(ctx: CheckContext) -> Outcome:
    """We stop your server while clients are connected, which leaves its port with
    TIME_WAIT sockets, then start it again at once: it must listen and echo again."""
    if (not_running := await _server_or_failure(ctx)) is not None:
        return not_running
    port, count = ctx.server.port, ctx.params["connections"]
    await ctx.probe("open", 10.0, group="restart", host=ctx.pod.host, port=port, count=count,
                    sources=source_addresses(count), timeout=10.0)
    try:
        echoed = await ctx.probe("exchange", ctx.params["round_timeout"], group="restart",
                                 round=1, timeout=ctx.params["round_timeout"])
        await ctx.server.stop()
        needed_kill = ctx.server.program is not None and ctx.server.program.needed_kill
        await ctx.probe("await_eof", ctx.params["close_timeout"], group="restart",
                        timeout=ctx.params["close_timeout"])
    finally:
        await ctx.probe("close", group="restart")
    time_wait = (await ctx.server.socket_table()).server_side(port, "TIME_WAIT")
    evidence = {"port": port, "connections": count,
                "echoed_before_stop": echoed["counts"]["answered"],
                "time_wait_on_port": len(time_wait),
                "time_wait_examples": [four_tuple(e) for e in time_wait[:MAX_SHOWN]],
                "stop_needed_sigkill": needed_kill}
    shown = [f"    {four_tuple(e)}   TIME_WAIT" for e in time_wait[:2]]
    if len(time_wait) > 2:
        shown[-1] += f"   ({len(time_wait) - 2} more)"
    if not time_wait:
        return inconclusive(
            f"no TIME_WAIT sockets on :{port} after stopping your server, so a restart would "
            "prove nothing", evidence=evidence,
            details=(f"{echoed['counts']['answered']}/{count} connections were echoed before "
                     "the stop.",))
    start = await ctx.server.start()
    evidence.update({"restart_seconds": round(start.seconds, 3),
                     "restart_exit_code": start.exit_code, "restart_stderr": tail(start.stderr)})
    stopped = ("(SIGTERM; it ignored that, so SIGKILL after "
               f"{ctx.limits.stop_grace:g} s)" if evidence["stop_needed_sigkill"] else "(SIGTERM)")
    story = [f"We connected {count} clients, echoed a message on each, then stopped your "
             f"server {stopped}. The kernel closed those connections from the server's side, "
             f"so {len(time_wait)} of them sit in TIME_WAIT on port {port}, as they should:",
             *shown]
    if not start.listening:
        said = (("We started your server again at once. It printed",
                 f"    {start.last_error_line}", f"and {start.failure}.")
                if start.last_error_line else
                (f"We started your server again at once. It {start.failure}.",))
        return failed(
            f"restart could not listen on :{port} while {len(time_wait)} sockets were in "
            "TIME_WAIT", evidence=evidence, details=(*story, *said),
            hint="Call setsockopt(fd, SOL_SOCKET, "
                 "SO_REUSEADDR, &one, sizeof one) between socket() and bind() (Python: "
                 "sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)).")
    await ctx.probe("open", 5.0, group="after-restart", host=ctx.pod.host, port=port, count=1,
                    sources=["127.0.0.1"], timeout=5.0)
    try:
        after = await ctx.probe("exchange", ctx.params["round_timeout"], group="after-restart",
                                round=1, timeout=ctx.params["round_timeout"])
    finally:
        await ctx.probe("close", group="after-restart")
    if after["counts"]["answered"] != 1:
        return failed(f"your server listened again after the restart but did not echo "
                      f"({after['examples'][0]['outcome']})", evidence=evidence,
                      details=tuple(story),
                      hint="After a restart the server must serve clients as before.")
    return passed(f"listening again after {start.seconds:.2f} s while {len(time_wait)} sockets "
                  f"were in TIME_WAIT on :{port}", evidence=evidence, details=tuple(story))
