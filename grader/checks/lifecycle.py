"""Checks on how the student's server takes connections in and lets them go: a burst
arriving in one instant (the listen backlog), closing when a client is done, and
starting again at once while the port has TIME_WAIT sockets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ..grading.sockets import endpoint, four_tuple
from ..pod.base import describe_status
from ..probe import messages as m
from .base import Outcome, check, failed, inconclusive, passed, scored
from .evidence import MAX_SHOWN, counted, source_addresses, tail
from .server import died_during_check, require_server, start_problem

if TYPE_CHECKING:
    from ..grading.context import CheckContext
    from ..probe.messages import SocketEntry

REUSE_HINT = ("Call setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) between "
              "socket() and bind() (Python: sock.setsockopt(socket.SOL_SOCKET, "
              "socket.SO_REUSEADDR, 1)), so a port with TIME_WAIT sockets can be bound "
              "again.")
BACKLOG_HINT = ("Pass a large backlog to listen(): listen(fd, SOMAXCONN) in C (the kernel "
                "caps it at net.core.somaxconn, 4096 here), sock.listen() with no argument "
                "or a large one in Python, and in a socketserver class set "
                "request_queue_size = socket.SOMAXCONN (its default is 5).")


COUNTER_WORDS = {"ListenOverflows": "handshakes dropped: accept queue full (ListenOverflows)",
                 "ListenDrops": "connections dropped at the listener (ListenDrops)",
                 "SyncookiesSent": "SYN cookies sent: SYN queue full (SyncookiesSent)",
                 "TCPReqQFullDrop": "SYNs dropped: SYN queue full (TCPReqQFullDrop)",
                 "TCPReqQFullDoCookies": "SYNs answered with cookies (TCPReqQFullDoCookies)"}


def _shown(entries: list[SocketEntry], state: str, client_side: bool = False) -> list[str]:
    """Two four-tuples as evidence lines, the server's end first (or the client's)."""
    def line(entry: SocketEntry) -> str:
        if client_side:
            return f"    {endpoint(entry.local)} -> {endpoint(entry.remote)}   {state}"
        return f"    {four_tuple(entry)}   {state}"

    lines = [line(e) for e in entries[:2]]
    if len(entries) > 2:
        lines[-1] += f"   ({len(entries) - 2} more)"
    return lines


@check("server-burst", title="Absorbs a burst of connections", concepts=("backlog",),
       depends_on=("server-starts",), params={"clients": 100, "timeout": 3.0})
async def server_burst(ctx: CheckContext) -> Outcome:
    """Many clients connect in the same instant. Until your server accept()s them, the
    kernel keeps them in the listening socket's accept queue, whose size is the backlog
    passed to listen(): a burst larger than that queue is partly dropped."""
    await require_server(ctx)
    port, count = ctx.server.port, ctx.params["clients"]
    found = await ctx.probe.call(m.ReadListeners(port))
    ipv4 = [item for item in found.listeners if ":" not in item.local[0]]
    backlog = (sum(item.backlog for item in ipv4 or found.listeners)
               if found.source == "sock_diag" and found.listeners else -1)
    before = await ctx.probe.call(m.ReadCounters())
    async with ctx.connections(count, sources=source_addresses(count), pacing="burst",
                               timeout=ctx.params["timeout"]) as group:
        opened = group.opened
        after = await ctx.probe.call(m.ReadCounters())
        # Judged once the server took what the burst left in its accept queue: a server
        # that crashes while accepting it crashed in this check, every time.
        listening = await _until_accepts_stop(ctx, port, ctx.params["timeout"])
        died = await died_during_check(ctx, wait=0.0 if listening else 1.0)
    dropped = {name: after.values[name] - before.values.get(name, 0) for name in after.values
               if after.values[name] > before.values.get(name, 0)}
    evidence = {"clients": count, "backlog": backlog,
                "accept_queue_holds": backlog + 1 if backlog >= 0 else None,
                "connected": opened.opened, "connect_errors": opened.errors,
                "seconds": opened.pacing.seconds, "kernel_counters": dropped,
                "counters_of": "the pod" if ctx.pod.sandboxed else "the whole machine"}
    this_time = (f"This time {opened.opened} of {count} connected within "
                 f"{ctx.params['timeout']:g} s" + (
                     "; the kernel counted " + ", ".join(f"{n} {name}" for name, n in
                                                         dropped.items())
                     if dropped else ", with no overflow counted") + ".")
    if died is not None:
        return failed(f"{count} connections in one instant: {died}", evidence=evidence,
                      details=(this_time,),
                      hint="Keep the listening socket open and keep accepting: a server "
                           "must survive any number of clients.")
    if backlog < 0:
        if opened.opened == count and not dropped:
            return passed(f"{count} connections in one instant: all connected, none dropped "
                          "(your backlog could not be read)", evidence=evidence)
        return failed(f"{count} connections in one instant: {opened.opened} connected, "
                      "some were dropped", evidence=evidence, details=(this_time,),
                      hint=BACKLOG_HINT)
    holds = backlog + 1  # the kernel queues one more than the backlog
    if holds < count:
        luck = ("" if dropped or opened.opened < count else
                " Your accept loop kept up this time, but only by winning a race against "
                "the burst: on a busier machine, or when your server is slow for a moment, "
                "the connections that do not fit are dropped.")
        return failed(
            f"your listen backlog is {backlog}: the kernel holds at most "
            f"{counted(holds, 'connection')} your server has not accepted yet, fewer than "
            f"a burst of {count}", evidence=evidence,
            details=(f"We connected {count} clients in the same instant to port {port}. "
                     + this_time + luck,
                     "A dropped handshake is retried by the client's kernel after 1 s, 3 s, "
                     "7 s...: clients of a busy server wait seconds to connect, or give up."),
            hint=BACKLOG_HINT)
    if opened.opened < count:
        reasons = "; ".join(f"{n}x {why}" for why, n in opened.errors.items())
        return failed(f"{count} connections in one instant: only {opened.opened} connected "
                      f"({reasons})", evidence=evidence, details=(this_time,),
                      hint="Keep the listening socket open and keep accepting.")
    return passed(f"{count} connections in one instant: all connected; your backlog of "
                  f"{backlog} holds them all", evidence=evidence)


@check("server-lifecycle", title="Closes each connection when its client is done",
       concepts=("Q2",), depends_on=("server-starts",),
       params={"connections": 16, "round_timeout": 5.0, "close_timeout": 5.0,
               "connect_timeout": 10.0})
async def server_lifecycle(ctx: CheckContext) -> Outcome:
    """Clients get their replies, then end their stream (they shut down their sending
    side): your server must close its side of each connection soon after, and hold
    nothing once they are gone."""
    await require_server(ctx)
    port, count = ctx.server.port, ctx.params["connections"]
    async with ctx.connections(count, sources=source_addresses(count),
                               timeout=ctx.params["connect_timeout"]) as group:
        first = await ctx.protocol.round(group, 1, ctx.params["round_timeout"])
        served = [a.connection for a in first.answers if a.outcome == "answered"]
        await group.half_close()
        ends = await group.await_end(ctx.params["close_timeout"])
        local = group.local
        idle = group.idle_seconds
    table = await ctx.server.socket_table()
    ours = [local[i] for i in served]
    lingering = [e for e in table.toward(ours, port) if e.state in ("ESTABLISHED", "CLOSE_WAIT")]
    ours_in_time_wait = [e for e in table.from_ends(ours) if e.state == "TIME_WAIT"]
    closed = [i for i in served if i in ends.closed_by_peer or i in ends.reset]
    evidence = {"connections": count, "answered": len(served), "closed_by_server": len(closed),
                "close_timeout": ctx.params["close_timeout"],
                "server_sockets_left": [f"{four_tuple(e)} {e.state}" for e in
                                        lingering[:MAX_SHOWN]],
                "server_sockets_left_count": len(lingering),
                "client_ends_in_time_wait": len(ours_in_time_wait),
                "server_idle_seconds": idle}
    if not served:
        if (died := await died_during_check(ctx, wait=1.0)) is not None:
            return failed(f"none of {count} connections was answered: {died}",
                          evidence=evidence, hint="Keep serving: a server must outlive "
                          "each of its clients and answer the next.")
        return inconclusive(f"none of {count} connections was answered, so how your server "
                            "ends connections could not be seen", evidence=evidence)
    story = [f"{len(served)} connections got their reply; then each client shut down its "
             f"sending side, and we waited up to {ctx.params['close_timeout']:g} s for your "
             f"server to close its side" + (f" (or until it sat idle, using no CPU, for "
                                            f"{idle:g} s)" if idle else "")
             + f". It closed {len(closed)} of {len(served)}."]
    if lingering or len(closed) < len(served):
        close_wait = [e for e in lingering if e.state == "CLOSE_WAIT"]
        if close_wait:
            story += ["After the clients left, your server's side of these connections "
                      "was still open, in CLOSE_WAIT (the client is done, the server never "
                      "closed):", *_shown(close_wait, "CLOSE_WAIT")]
        not_closed = counted(len(served) - len(closed), "connection")
        return scored(len(closed) / len(served),
                      f"your server did not close {not_closed} of {len(served)} after the "
                      "client ended its stream"
                      + (f"; {len(close_wait)} left in CLOSE_WAIT" if close_wait else ""),
                      evidence=evidence, details=tuple(story),
                      hint="When recv() returns 0 (end of stream), the client is done: close "
                           "that socket (and end its thread or remove it from your poll "
                           "set). A server that never closes keeps a descriptor per client "
                           "until it runs out, and a client that reads until the end of "
                           "stream waits forever.")
    story += [f"Your server's side is gone; the clients closed first, so the TIME_WAIT "
              f"entries are theirs ({len(ours_in_time_wait)} on the client side, none on "
              f"port {port}): the side that closes first keeps TIME_WAIT."]
    story += _shown(ours_in_time_wait, "TIME_WAIT", client_side=True)
    return passed(f"closed {len(closed)}/{len(served)} connections once their clients were "
                  "done; nothing left open on your side", evidence=evidence,
                  details=tuple(story))


ACCEPT_PAUSE = 0.5  # seconds without an accept after which a server stopped accepting


async def _until_accepts_stop(ctx: CheckContext, port: int, limit: float) -> bool:
    """Until the accept queue on `port` is empty, its listener gone, or the server took
    none for ACCEPT_PAUSE seconds (at most `limit` seconds); whether it still listens."""
    queued, since = -1, trio.current_time()
    listening = True
    with trio.move_on_after(limit):
        while True:
            found = await ctx.probe.call(m.ReadListeners(port))
            listening = bool(found.listeners)
            now_queued = sum(item.queued for item in found.listeners)
            if not listening or now_queued == 0:
                break
            if queued < 0 or now_queued < queued:
                queued, since = now_queued, trio.current_time()
            elif trio.current_time() - since > ACCEPT_PAUSE:
                break
            await trio.sleep(0.02)
    return listening


async def _listening(ctx: CheckContext, port: int) -> bool:
    return bool((await ctx.probe.call(m.ReadListeners(port))).listeners)


@check("server-restart", title="Restarts at once despite TIME_WAIT", concepts=("Q2",),
       depends_on=("server-starts",),
       params={"connections": 24, "round_timeout": 5.0, "close_timeout": 5.0,
               "connect_timeout": 10.0})
async def server_restart(ctx: CheckContext) -> Outcome:
    """We stop your server while clients are connected, which leaves its port with
    TIME_WAIT sockets, then start it again at once: it must listen and answer again."""
    await require_server(ctx)
    port, count = ctx.server.port, ctx.params["connections"]
    async with ctx.connections(count, sources=source_addresses(count),
                               timeout=ctx.params["connect_timeout"]) as group:
        before = await ctx.protocol.round(group, 1, ctx.params["round_timeout"])
        crashed = await died_during_check(ctx, wait=0.0 if await _listening(ctx, port)
                                          else 1.0)
        await ctx.server.stop()
        needed_kill = ctx.server.program is not None and ctx.server.program.needed_kill
        await group.await_end(ctx.params["close_timeout"])
        opened = group.size
    time_wait = (await ctx.server.socket_table()).server_side(port, "TIME_WAIT")
    evidence = {"port": port, "connections": count, "opened": opened,
                "answered_before_stop": before.answered,
                "time_wait_on_port": len(time_wait),
                "time_wait_examples": [four_tuple(e) for e in time_wait[:MAX_SHOWN]],
                "stop_needed_sigkill": needed_kill}
    talked = ("each answered a message" if before.answered == opened
              else f"{before.answered} of them answered a message")
    stopped = (f"(SIGTERM; it ignored that, so SIGKILL after {ctx.limits.stop_grace:g} s)"
               if needed_kill else "(SIGTERM)")
    if crashed is not None:
        return inconclusive(
            f"{crashed}, before we stopped it, so how it restarts could not be seen",
            evidence=evidence, details=(f"We opened {opened} connections ({talked}) to stop "
                                        "your server while clients were connected.",))
    if not time_wait:
        return inconclusive(
            f"no TIME_WAIT sockets on :{port} after stopping your server, so a restart would "
            "prove nothing", evidence=evidence,
            details=(f"We opened {opened} connections ({talked}), then stopped your server "
                     f"{stopped}.",))
    start = await ctx.server.start()
    evidence.update({"restart_seconds": round(start.seconds, 3),
                     "restart_exit_code": start.exit_code, "restart_stderr": tail(start.stderr),
                     "restart_listening": start.listening})
    story = [f"We opened {opened} connections ({talked}), then stopped your server "
             f"{stopped}. The kernel closed those connections from the server's side, so "
             f"{len(time_wait)} of them sit in TIME_WAIT on port {port}, as they should:",
             *_shown(time_wait, "TIME_WAIT")]
    if not start.listening:
        problem = start_problem(start)
        if problem.lines and start.exit_code is not None:
            said = (f"We started your server again at once. It "
                    f"{describe_status(start.exit_code, start.oom_killed)} after "
                    f"{start.seconds:.2f} s, printing",
                    *(f"    {line}" for line in problem.lines))
        else:
            said = (f"We started your server again at once. It {problem.summary}.",)
        # It listened before; what changed is the TIME_WAIT sockets, unless its own
        # words say otherwise (a crash of its own, a missing file).
        hint = problem.hint if problem.specific else REUSE_HINT
        return failed(f"restart could not listen on :{port} while {len(time_wait)} sockets "
                      "were in TIME_WAIT", evidence=evidence, details=(*story, *said),
                      hint=hint)
    async with ctx.connections(1, sources=["127.0.0.1"], timeout=5.0) as group:
        after = await ctx.protocol.round(group, 1, ctx.params["round_timeout"])
    outcome = after.answers[0].outcome if after.answers else "no connection"
    evidence["after_restart"] = outcome
    listening = (f"listening again after {start.seconds:.2f} s while {len(time_wait)} "
                 f"sockets were in TIME_WAIT on :{port}")
    before_outcomes = {answer.outcome for answer in before.answers}
    if after.answered == 1 or (not before.answered and outcome in before_outcomes):
        # Serving as before the stop is what a restart must show; how well it serves is
        # judged (and charged) by the checks about the protocol.
        return passed(listening, evidence=evidence, details=tuple(story))
    if not before.answered:
        seen_before = ", ".join(sorted(before_outcomes)) or "none opened"
        return inconclusive(
            f"{listening}, but whether it serves as before could not be seen: none of our "
            f"connections was answered before the stop either ({seen_before}; after the "
            f"restart: {outcome})", evidence=evidence, details=tuple(story))
    return failed(f"your server listened again after the restart but did not answer "
                  f"({outcome}), though {before.answered} of {opened} connections were "
                  "answered before the stop", evidence=evidence, details=tuple(story),
                  hint="After a restart the server must serve clients as before.")
