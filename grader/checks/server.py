"""Checks on the student's server: it listens, serves many connections at once on one
port, and tells connections from one IP apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..grading.sockets import endpoint, four_tuple
from ..protocols.base import Round, examples
from .base import Failure, Outcome, check, failed, inconclusive, passed, scored
from .diagnosis import diagnose
from .evidence import MAX_SHOWN, address_span, counted, source_addresses, tail, what_went_wrong

if TYPE_CHECKING:
    from ..grading.context import CheckContext, ServerStart
    from ..probe.messages import Opened

SAMPLE = 8  # client ends kept as a sample of the connections held at once

LISTEN_HINT = ("Read the port from the first command-line argument, bind to it on 0.0.0.0 "
               "(or 127.0.0.1), call listen(), and keep running, accepting connections.")


class StartProblem(NamedTuple):
    summary: str  # "exited with status 1 after 0.02 s: ..."
    lines: tuple[str, ...]  # what it printed that is worth quoting
    hint: str
    specific: bool  # the hint follows from what the server itself said or did


def start_problem(start: ServerStart) -> StartProblem:
    """Why a start gave no listener, and the hint that follows from what the server did."""
    if start.exit_code is not None:
        end = diagnose(start.exit_code, start.stderr, start.stdout, role="server",
                       oom_killed=start.oom_killed)
        hint = end.hint or LISTEN_HINT
        if start.exit_code == 0:
            hint += (" Stay in the foreground: a server that forks into the background "
                     "(daemonizes) and exits looks, to us, like a server that stopped.")
        return StartProblem(f"{end.headline}, after {start.seconds:.2f} s", end.lines, hint,
                            bool(end.hint))
    if start.other_listeners:
        return StartProblem(
            f"listened on {', '.join(start.other_listeners)}, not on port {start.port} "
            "(the port we gave it as its first argument)", (),
            "Read the port from the first command-line argument and listen on that one.",
            True)
    return StartProblem(f"did not listen within {start.seconds:.1f} s", (), LISTEN_HINT,
                        False)


async def require_server(ctx: CheckContext) -> None:
    """Fail the check, saying why, unless the student's server is running and listening
    (started again if it had stopped)."""
    start = await ctx.server.ensure_running()
    if start.listening:
        return
    problem = start_problem(start)
    raise Failure(f"your server is not running: it {problem.summary}", hint=problem.hint,
                  evidence={"exit_code": start.exit_code, "stderr": tail(start.stderr)},
                  details=problem.lines)


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
    problem = start_problem(start)
    details = [f"We ran `{ctx.server.command}` and waited for a TCP listener on port "
               f"{ctx.server.port}."]
    if problem.lines:
        details.append("It printed:\n" + "\n".join(f"    {line}" for line in problem.lines))
    if start.other_listeners:
        evidence["other_listeners"] = list(start.other_listeners)
    return failed(f"no TCP listener on port {ctx.server.port}: your server {problem.summary}",
                  evidence=evidence, details=tuple(details), hint=problem.hint)


@check("server-concurrency", title="Serves many connections at once on one port",
       concepts=("Q1", "Q3"), depends_on=("server-starts",),
       params={"clients": 500, "rounds": 2, "round_timeout": 10.0, "connect_timeout": 15.0,
               "accept_stall": 3.0})
async def server_concurrency(ctx: CheckContext) -> Outcome:
    """Hundreds of connections, all open at the same time, each get their own messages
    answered, round after round: one listening port serves them all at once."""
    await require_server(ctx)
    port, count, wanted = ctx.server.port, ctx.params["clients"], ctx.params["rounds"]
    timeout = ctx.params["round_timeout"]
    owned = ctx.server.owned_inodes()
    before = (await ctx.server.socket_table(whole=True)).listening_ports(owned)
    sources = source_addresses(count)
    async with ctx.connections(count, sources=sources, timeout=ctx.params["connect_timeout"],
                               stall_timeout=ctx.params["accept_stall"]) as group:
        # The socket table while every connection is open and in the server's hands.
        during = await ctx.server.socket_table(whole=True)
        owned_during = ctx.server.owned_inodes()
        rounds = [await ctx.protocol.round(group, 1, timeout)]
        while len(rounds) < wanted and rounds[-1].answered:
            rounds.append(await ctx.protocol.round(group, len(rounds) + 1, timeout))
        # Ports the server opened while serving show between rounds, or at the end.
        serving = await ctx.server.socket_table(whole=True)
        opened = group.opened
        idle = group.idle_seconds
        # Ours only: on the local backend the table is the machine's, shared with others.
        established = [e for e in during.toward(group.local, port) if e.state == "ESTABLISHED"]
    after = (await ctx.server.socket_table(whole=True)).listening_ports(
        ctx.server.owned_inodes())
    # Served: answered in every one of the `wanted` rounds while all stayed open.
    # Served at once: accepted by the server while every connection was open, then
    # answered in every round. One at a time is not at once.
    held = opened.opened - opened.pacing.unaccepted
    answered_all = (opened.opened - len(set().union(*(r.not_answered for r in rounds)))
                    if len(rounds) == wanted else 0)
    served = min(answered_all, held) if min(answered_all, held) > 1 or count == 1 else 0
    answered = [r.answered for r in rounds]
    evidence = {
        "connections": count, "opened": opened.opened, "connect_errors": opened.errors,
        "source_ips": len(sources), "rounds": wanted, "rounds_run": len(rounds),
        "accepted_while_all_open": held, "answered_per_round": answered,
        "served_while_all_open": served,
        "established_before_rounds": len(established),
        "round_counts": [r.counts for r in rounds], "examples": examples(rounds),
        "pacing": _pacing_evidence(opened),
        # A sample of the client ends the server held while all were open (pictures).
        "established_sample": [list(e.remote) for e in established[:SAMPLE]],
        "established_source_ips": len({e.remote[0] for e in established}),
        "server_idle_seconds": idle,
    }
    carry = {"before": before, "after": after,
             "during": (during.listening_ports(owned_during)
                        | serving.listening_ports(ctx.server.owned_inodes())),
             "server_ends": len(established) if held == opened.opened else 0,
             "opened": opened.opened,
             "elsewhere": [four_tuple(e) for e in during.tcp("ESTABLISHED")
                           if e.local[1] != port and e.remote[1] != port
                           and (owned_during is None or e.inode in owned_during)]}
    if opened.opened == count:
        summary = (f"{served}/{count} connections served in {counted(wanted, 'round')} while "
                   f"all were open (from {address_span(sources)}; {len(established)} "
                   f"ESTABLISHED on :{port} before the first)")
    else:
        summary = (f"{served}/{count} connections served: only {opened.opened} could be "
                   f"opened" + (" before your server stopped accepting"
                                if opened.pacing.stalled else ""))
    details = [_opening_story(opened, count, port, sources, ctx.params["accept_stall"]),
               _rounds_story(rounds, wanted, opened.opened, timeout, idle)]
    shape = _iterative_shape(answered, rounds, opened)
    if shape:
        details.append(shape)
        summary = f"{summary}: {shape.split(':')[0]}"
    elif served < count:
        why = (what_went_wrong(rounds, timeout, ctx.protocol.incomplete, idle) if opened.opened
               else "no connection could be opened")
        summary = f"{summary}: {why}"
    if (died := await died_during_check(ctx, wait=1.0 if served < count else 0.0)) is not None:
        details.append(died)
        summary = f"{summary}; {died}"
    return scored(served / count, summary, evidence=evidence, details=tuple(details),
                  carry=carry, hint="Accept every client and give it its own thread, process "
                  "or place in a select/poll loop, so that no client waits for another.")


def _pacing_evidence(opened: Opened) -> dict:
    pacing = opened.pacing
    return {"mode": pacing.mode, "backlog": pacing.backlog, "most_waiting": pacing.window,
            "waits": pacing.waits, "stalled": pacing.stalled, "seconds": pacing.seconds}


def _opening_story(opened: Opened, count: int, port: int, sources: list[str],
                   stall: float) -> str:
    pacing = opened.pacing
    backlog = (f"your listen backlog of {pacing.backlog} absorbs" if pacing.backlog >= 0
               else "the smallest listen backlog absorbs")
    story = (f"We opened {opened.opened} of {count} connections to port {port} from "
             f"{address_span(sources)} and kept them all open, at a pace {backlog} (at most "
             f"{counted(pacing.window, 'connection')} waiting to be accepted at once), so "
             "none was dropped however small your backlog.")
    if pacing.stalled:
        story += (f" Then your server stopped accepting: it accepted nothing for {stall:g} s "
                  f"while {pacing.unaccepted} more waited in its accept queue, so only "
                  f"{opened.opened - pacing.unaccepted} were in its hands at once.")
    elif opened.opened:
        story += " Your server accepted every one of them while all were open."
    if opened.errors:
        story += " Not opened: " + "; ".join(f"{n}x {why}" for why, n in
                                             opened.errors.items()) + "."
    return story


def _rounds_story(rounds: list[Round], wanted: int, opened: int, timeout: float,
                  idle: float) -> str:
    ended = f"{timeout:g} s passed" + (f", or your server sat idle for {idle:g} s"
                                       if idle else "")
    story = (f"Each connection sent its own message and waited for its own reply, in "
             f"{wanted} rounds, with every connection still open; a round began when the "
             f"one before had ended (every connection answered, or {ended}). "
             "Answers per round: "
             + ", ".join(f"{r.answered}/{opened}" for r in rounds) + ".")
    if len(rounds) < wanted:
        story += (f" Round {len(rounds) + 1} was not run: no connection had been answered "
                  f"in round {len(rounds)}.")
    return story


async def died_during_check(ctx: CheckContext, wait: float = 0.0) -> str | None:
    """`your server exited ... during this check` when it did, else None. With `wait`,
    gives a server that just crashed that long to be seen as ended. A server that still
    ran when our connections of this check were closed did not end during it: an end as
    they closed is the runner's to name (grading.runner), once it has taken them in."""
    if ctx.server.ran_when_clients_left:
        return None
    end = await ctx.server.end_of_its_own(wait)
    return None if end is None else f"your server {end.headline} during this check"


def _iterative_shape(answered: list[int], rounds: list[Round], opened: Opened) -> str:
    """Name the two shapes of a one-client-at-a-time server, when the numbers show one."""
    count = opened.opened
    if count > 1 and answered[0] == 1:
        return ("one client at a time: only the first connection was answered while the "
                "others waited to be accepted")
    closed = sum(r.counts["closed"] + r.counts["reset"] + r.counts["send-failed"]
                 for r in rounds[1:])
    if count > 1 and answered[0] == count and len(answered) > 1 and answered[1] == 0 \
            and closed:
        return ("one reply per connection: every connection was answered once, then closed "
                "by your server (an accept-read-write-close loop serves clients one after "
                "another, never at the same time)")
    return ""


@check("server-one-port", title="No new port per client", concepts=("Q1",),
       uses=("server-concurrency",))
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
    if not seen["server_ends"]:
        return inconclusive("your server never held our connections all at once (see "
                            "server-concurrency), so the ports it uses with clients could not "
                            "be seen", evidence=evidence)
    return passed(f"1 listening port before, during and after the load; "
                  f"{seen['server_ends']}/{seen['opened']} server ends on :{port}",
                  evidence=evidence)


@check("server-same-ip", title="Tells apart connections from one IP", concepts=("Q1", "Q4"),
       depends_on=("server-starts",),
       params={"connections": 64, "rounds": 4, "round_timeout": 5.0, "source": "127.0.0.1",
               "connect_timeout": 10.0})
async def server_same_ip(ctx: CheckContext) -> Outcome:
    """Many connections from ONE source IP, messages interleaved in random order: every
    reply must come back on its own connection. Only the source port tells them apart."""
    await require_server(ctx)
    count, wanted, source = ctx.params["connections"], ctx.params["rounds"], ctx.params["source"]
    timeout = ctx.params["round_timeout"]
    async with ctx.connections(count, sources=[source],
                               timeout=ctx.params["connect_timeout"]) as group:
        rounds: list[Round] = []
        while len(rounds) < wanted and (not rounds or rounds[-1].answered == count):
            # Later rounds after a failed one would only wait out their deadlines.
            rounds.append(await ctx.protocol.round(group, len(rounds) + 1, timeout,
                                                   order_seed=len(rounds) + 1))
        opened = group.opened
        ports = [port for _, port in group.local]
        idle = group.idle_seconds
    answered = sum(r.answered for r in rounds)
    misrouted = sum(r.counts["misrouted"] for r in rounds)
    shown = examples(rounds)
    evidence = {"source_ip": source, "connections": count, "opened": opened.opened,
                "connect_errors": opened.errors, "rounds": wanted, "rounds_run": len(rounds),
                "answered": answered, "expected": count * wanted, "misrouted": misrouted,
                "examples": shown, "server_idle_seconds": idle,
                # Each connection's source port, and its outcome in the last round run.
                "source_ports": ports,
                "last_round_outcomes": ([a.outcome for a in sorted(
                    rounds[-1].answers, key=lambda a: a.connection)] if rounds else [])}
    opened_text = "" if opened.opened == count else f" ({opened.opened} opened)"
    summary = (f"{count} connections from {source}{opened_text}, "
               f"{counted(len(rounds), 'interleaved round')}: {answered}/{count * wanted} "
               f"replies on the right connection, {misrouted} misrouted")
    if answered == count * wanted:
        return passed(summary, evidence=evidence)
    details = [f"All {count} connections came from {source}; only their source ports "
               "differ. Messages went out in a shuffled order."]
    if opened.opened < count:
        details.append(f"Only {opened.opened} of {count} could be opened: " + "; ".join(
            f"{n}x {why}" for why, n in opened.errors.items()) + ".")
    if misrouted == 0 and (why := what_went_wrong(rounds, timeout, ctx.protocol.incomplete,
                                                  idle)):
        summary = f"{summary}: {why}"
    details += [f"connection from {endpoint(e['local'])} sent {e['sent']!r}, "
                f"got {e['received']!r} ({e['outcome']})" for e in shown[:3]]
    if misrouted or any(r.counts["wrong"] for r in rounds):
        hint = ("A client is not identified by its IP address (the quiz's misconception "
                "D): many connections can come from one IP. Reply on the socket the message "
                "arrived on, and key any per-client state by connection (socket), not by "
                "address.")
    else:
        hint = ("No reply crossed to another connection, but not every connection was "
                "answered while the others stayed open: serve each connection on its own "
                "(a thread, a process, or a select/poll loop), as server-concurrency asks.")
    return failed(summary, evidence=evidence, details=tuple(details), hint=hint)
