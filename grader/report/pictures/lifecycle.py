"""Pictures of how connections end (Q2): who closed first and where the TIME_WAIT sits,
and the restart's timeline: connections open, server stopped, sockets in TIME_WAIT on its
port, what the restart's bind() did."""

from __future__ import annotations

from ...results import Status
from .evidence import Seen
from .svg import BAD, BAD_PALE, GOOD, GOOD_PALE, INK, LINK, MUTED, PALE, Svg, verdict_mark, wrap

CLIENT_X, SERVER_X = 70.0, 320.0


def draw_lifecycle(seen: Seen) -> tuple[str, list[str]]:
    """A sequence diagram: request and reply, the client ends its stream, the server
    closes (or never does), and which side is left with which state."""
    life = seen.require("server-lifecycle")
    answered, closed = life.whole("answered"), life.whole("closed_by_server")
    left = life.whole("server_sockets_left_count", 0)
    client_tw = life.whole("client_ends_in_time_wait", 0)
    wait = life.number("close_timeout", 5.0)
    port = seen.port()
    svg = Svg(f"who closed first: {answered} connections to port {port}")
    svg.text(CLIENT_X, 14, f"our clients (×{answered})", size=11, bold=True, anchor="middle")
    svg.text(SERVER_X, 14, f"your server :{port}", size=11, bold=True, anchor="middle")
    svg.line(CLIENT_X, 22, CLIENT_X, 178, stroke=MUTED)
    svg.line(SERVER_X, 22, SERVER_X, 178, stroke=MUTED)
    svg.arrow(CLIENT_X, 38, SERVER_X, 46, stroke=LINK)
    svg.text(195, 36, "1. a message", size=10, anchor="middle")
    svg.arrow(SERVER_X, 58, CLIENT_X, 66, stroke=LINK)
    svg.text(195, 56, f"2. its reply ({answered} answered)", size=10, anchor="middle")
    svg.arrow(CLIENT_X, 86, SERVER_X, 94)
    svg.text(195, 84, "3. the client ends its stream first (FIN)", size=10, anchor="middle")
    everyone = answered > 0 and closed >= answered
    svg.arrow(SERVER_X, 116, CLIENT_X, 124, stroke=INK if everyone else BAD,
              dashed=not everyone)
    svg.text(195, 112, f"4. your server closes its side: {closed}/{answered} within {wait:g} s",
             size=10, anchor="middle", fill=INK if everyone else BAD)
    svg.mark(CLIENT_X + 16, 126, verdict_mark(everyone), 9)
    # Who holds what once it is over.
    svg.rect(CLIENT_X - 64, 140, 128, 36, fill=PALE, stroke=INK, radius=4)
    svg.text(CLIENT_X, 155, f"TIME_WAIT ×{client_tw}", size=11, bold=True, anchor="middle",
             mono=True)
    svg.text(CLIENT_X, 169, "closed first: keeps it" if client_tw else "waiting for your FIN",
             size=9, anchor="middle", fill=MUTED)
    if left:
        svg.rect(SERVER_X - 76, 140, 152, 36, fill=BAD_PALE, stroke=BAD, dashed=True,
                 width=1.5, radius=4)
        svg.mark(SERVER_X - 62, 158, "bad")
        svg.text(SERVER_X + 6, 155, f"still open ×{left}", size=11, bold=True, anchor="middle",
                 fill=BAD, mono=True)
        svg.text(SERVER_X + 6, 169, "CLOSE_WAIT: never closed", size=9, anchor="middle",
                 fill=BAD)
    else:
        svg.rect(SERVER_X - 70, 140, 140, 36, fill=GOOD_PALE, stroke=GOOD, radius=4)
        svg.mark(SERVER_X - 56, 158, "ok")
        svg.text(SERVER_X + 8, 155, "nothing left", size=11, bold=True, anchor="middle")
        svg.text(SERVER_X + 8, 169, "closed after the client", size=9, anchor="middle",
                 fill=MUTED)
    notes = ["The side that closes a connection first keeps its TIME_WAIT: "
             + ("here the clients, as it should be." if client_tw and not left
                else f"the clients closed first; {left} of your server's sockets were still "
                     "open (CLOSE_WAIT) after they left.")]
    notes += [str(line) for line in life.items("server_sockets_left", [])[:3]]
    return svg.render(), notes


def draw_restart(seen: Seen) -> tuple[str, list[str]]:
    """The restart as a timeline, one step under the other."""
    restart = seen.require("server-restart")
    port = restart.whole("port", seen.port() or 0)
    opened, answered = restart.whole("opened"), restart.whole("answered_before_stop")
    waiting = restart.whole("time_wait_on_port")
    svg = Svg(f"your server stopped and restarted on port {port}")
    y = 16.0
    y = _step(svg, y, verdict_mark(answered == opened and opened > 0),
              f"{opened} connections open, {answered} answered a message", [])
    signal = ("SIGTERM, ignored; SIGKILL after the grace period"
              if restart.flag("stop_needed_sigkill", False) else "SIGTERM")
    y = _step(svg, y, "none", f"your server stopped ({signal})",
              ["the kernel closes its connections from the server's side"])
    examples = [str(e) for e in restart.items("time_wait_examples", [])[:2]]
    y = _step(svg, y, "open" if not waiting else "none",
              f"{waiting} sockets in TIME_WAIT on :{port}",
              [*examples] if waiting else ["nothing to prove: the restart was not tried"],
              mono=True)
    if waiting:
        y = _time_wait_chips(svg, y - 12, waiting)
    listening = restart.flag("restart_listening", None)
    code = restart.whole("restart_exit_code", None)
    seconds = restart.number("restart_seconds", 0.0)
    printed = restart.text("restart_stderr", "")
    if listening is None:  # recorded before restart_listening was
        listening = code is None and seen.status("server-restart") is Status.PASS
    if not waiting:
        pass
    elif listening:
        y = _step(svg, y, "ok", f"started again: bind() and listen() on :{port} worked",
                  [f"listening after {seconds:.2f} s"])
        after = restart.text("after_restart", "")
        y = _step(svg, y, verdict_mark(after == "answered") if after else "none",
                  "a new connection: " + (after or "not recorded"), [])
    else:
        how = (f"exited with status {code} after {seconds:.2f} s" if code is not None
               else f"no listener after {seconds:.2f} s")
        lines = [how] + (["it printed:"] if printed else [])
        y = _step(svg, y, "bad", f"started again: could not listen on :{port}", lines)
        if printed:
            y = _printed(svg, y, printed)
        y = _step(svg, y, "none", "a new connection: not tried (nothing listening)", [])
    svg.line(16, 18, 16, y - 20, stroke=MUTED, under=True)
    notes = []
    if waiting:
        notes.append(f"Stopped with clients connected, your server closed first, so its port "
                     f"kept {waiting} sockets in TIME_WAIT. Only a listener that sets "
                     "SO_REUSEADDR before bind() may take that port again at once.")
    return svg.render(), notes


def _step(svg: Svg, y: float, mark: str, title: str, lines: list[str],
          mono: bool = False) -> float:
    svg.circle(16, y + 2, 8, fill="#ffffff", stroke=MUTED)
    svg.mark(16, y + 2, mark, 9)
    svg.text(32, y + 6, title, size=11, bold=True)
    y += 20
    for line in lines:
        for part in wrap(line, 58 if mono else 62):
            svg.text(32, y, part, size=9.5 if mono else 10, fill=MUTED, mono=mono)
            y += 13
    return y + 8


def _time_wait_chips(svg: Svg, y: float, count: int) -> float:
    """A small square per TIME_WAIT socket (at most 40)."""
    for index in range(min(count, 40)):
        x = 32 + (index % 20) * 14
        svg.rect(x, y + (index // 20) * 14, 11, 11, fill=PALE, stroke=INK, width=0.7)
    if count > 40:
        svg.text(32 + 20 * 14 + 4, y + 9, f"+{count - 40}", size=10)
    return y + (min(count, 40) + 19) // 20 * 14 + 10


def _printed(svg: Svg, y: float, printed: str) -> float:
    lines = [part for line in printed.splitlines() for part in wrap(line, 64)][-4:]
    svg.rect(32, y - 10, 360, 14 * len(lines) + 8, fill="#fbf3f2", stroke=BAD, width=0.8,
             radius=3)
    for line in lines:
        svg.text(38, y + 2, line, size=9, mono=True, fill=BAD)
        y += 14
    return y + 10
