"""The picture of the client checks' evidence (Q4, Q5): the copies of the student's
client that ran at once, the source port each was given against the OS-assigned range,
and which replies each printed."""

from __future__ import annotations

from .evidence import Absent, Evidence, Seen
from .svg import BAD, GOOD, INK, LINK, MUTED, PALE, Svg, verdict_mark

AXIS_LEFT, AXIS_RIGHT = 62.0, 236.0
TOP_PORT = 65535
ROW = 24.0


def _x(port: int) -> float:
    return AXIS_LEFT + (AXIS_RIGHT - AXIS_LEFT) * max(0, min(port, TOP_PORT)) / TOP_PORT


def draw_clients(seen: Seen) -> tuple[str, list[str]]:
    eph = seen.require("client-ephemeral-ports")
    count = eph.whole("clients")
    low, high = [*eph.numbers("ephemeral_range"), 0, 0][:2]
    ports = eph.numbers("copy_ports", [])
    codes = eph.numbers("copy_exit_codes", [])
    if not ports:  # an older report: the ports seen, not who used them
        raise Absent("client-ephemeral-ports did not record which copy used which port (a "
                     "report from an older grader?)")
    routing = seen.evidence("client-reply-routing")
    printed = routing.items("copies", []) if routing else []
    svg = Svg(f"{count} copies of your client and their source ports")
    svg.text(8, 13, f"{count} copies of your client, started at the same moment",
             size=11, bold=True)
    top = 46.0
    svg.text(AXIS_LEFT, top - 16, "source port", size=9, fill=MUTED)
    svg.text(250, top - 16, "what it printed", size=9, fill=MUTED)
    svg.rect(_x(low), top - 8, _x(high) - _x(low), ROW * count + 10, fill="#eef3fb",
             stroke=LINK, dashed=True)
    first_use: dict[int, int] = {}
    for index in range(count):
        y = top + index * ROW + 8
        port = ports[index] if index < len(ports) else None
        svg.text(6, y + 4, f"copy {index + 1}", size=10, bold=True)
        svg.line(AXIS_LEFT, y, AXIS_RIGHT, y, stroke=PALE, width=2)
        if port is None:
            code = codes[index] if index < len(codes) else None
            svg.mark(AXIS_LEFT + 6, y, "open", 9)
            svg.rect(AXIS_LEFT + 12, y - 7, 112, 13, fill="#ffffff", stroke="none")
            svg.text(AXIS_LEFT + 14, y + 3, "did not connect" + (
                f" · exit {code}" if code not in (None, 0) else ""), size=9, fill=BAD)
        else:
            inside = low <= port <= high
            again = first_use.setdefault(port, index + 1) != index + 1
            if inside and not again:
                svg.circle(_x(port), y, 4.5, fill=INK, stroke=INK)
            else:
                svg.mark(_x(port), y, "bad", 10)
            label = f"{port}" + (f" = copy {first_use[port]}'s" if again else "") + (
                "" if inside else " (outside)")
            anchor = "end" if _x(port) > (AXIS_LEFT + AXIS_RIGHT) / 2 else "start"
            offset = -8 if anchor == "end" else 8
            svg.text(_x(port) + offset, y - 3, label, size=9, mono=True, anchor=anchor,
                     fill=INK if inside and not again else BAD)
        _printed(svg, 250, y, printed[index] if index < len(printed) else None)
    y = top + count * ROW + 16
    for port in (0, 32768, TOP_PORT):
        svg.line(_x(port), y - 6, _x(port), y - 2, stroke=MUTED)
        svg.text(_x(port), y + 8, str(port), size=8, anchor="middle", fill=MUTED)
    svg.rect(AXIS_LEFT, y + 14, 14, 9, fill="#eef3fb", stroke=LINK, dashed=True)
    svg.text(AXIS_LEFT + 20, y + 22, f"the range the OS assigns ports from: {low}–{high}",
             size=9, fill=LINK)
    return svg.render(), _notes(eph, routing, low, high)


def _printed(svg: Svg, x: float, y: float, copy: object) -> None:
    """What one copy printed: its own replies, and any of another copy's."""
    if not isinstance(copy, dict):
        svg.text(x + 14, y + 4, "–", size=10, fill=MUTED)
        return
    own, expected = copy.get("own", 0), copy.get("expected", 0)
    foreign, whose = copy.get("foreign", 0), copy.get("from", [])
    ok = not foreign and own == expected
    svg.mark(x + 5, y, verdict_mark(ok), 9)
    own_text = f"its own {own}/{expected}"
    if not foreign:
        svg.text(x + 14, y + 4, own_text, size=10, fill=GOOD if ok else BAD)
        return
    others = ", ".join(str(w) for w in whose[:3]) + ("…" if len(whose) > 3 else "")
    svg.text(x + 14, y - 2, own_text, size=9, fill=MUTED)
    svg.text(x + 14, y + 9, f"+{foreign} of cop{'ies' if len(whose) > 1 else 'y'} {others}",
             size=9, fill=BAD)


def _notes(eph: Evidence, routing: Evidence | None, low: int, high: int) -> list[str]:
    distinct, connected = eph.whole("distinct_ports"), eph.whole("connected")
    notes = [f"{connected} of {eph.whole('clients')} copies reached our server while the "
             f"others were connected; {distinct} distinct source ports, "
             + ("all" if not eph.items("outside_range", []) else "not all")
             + f" in the range the OS assigns from ({low}–{high})."]
    if not eph.flag("all_overlapped", True):
        notes.append("Not every copy was connected at the same moment.")
    notes += [f"A copy {headline}." for headline in eph.items("client_errors", [])[:2]]
    if routing is not None:
        notes += [str(e) for e in routing.items("examples", [])[:2]]
    return notes
