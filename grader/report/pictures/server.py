"""Pictures of the server checks' evidence: one listening port with many connections
fanning into it (Q1, Q3), many connections from one IP told apart by their source ports
(Q1-D, Q4), and a burst meeting the accept queue (the backlog)."""

from __future__ import annotations

import math

from .evidence import Absent, Evidence, Seen
from .svg import BAD, BAD_PALE, GOOD, GOOD_PALE, INK, LINK, MUTED, PALE, Svg, verdict_mark

SHOWN_GROUPS = 6  # source IPs drawn in the fan
SHOWN_EXTRA = 3  # extra listening ports drawn
GRID_COLUMNS = 8
MAX_CELLS = 64


def _endpoint(item: object) -> tuple[str, int] | None:
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], int):
        return str(item[0]), item[1]
    return None


def _groups(sample: list) -> list[tuple[str, list[int]]]:
    """The sampled client ends, grouped by source IP in the order first seen."""
    groups: dict[str, list[int]] = {}
    for item in sorted(sample, key=_address_order):
        end = _endpoint(item)
        if end is not None:
            groups.setdefault(end[0], []).append(end[1])
    return list(groups.items())


def _address_order(item: object) -> tuple:
    end = _endpoint(item)
    if end is None:
        return (2, "", 0)
    parts = end[0].split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, tuple(int(p) for p in parts), end[1])
    return (1, end[0], end[1])


def draw_listen(seen: Seen) -> tuple[str, list[str]]:
    """Q1/Q3: the one listening port with the connections held at once fanning into it,
    grouped by source IP; any extra listening port or UDP socket in red."""
    starts, conc = seen.evidence("server-starts"), seen.evidence("server-concurrency")
    one = seen.evidence("server-one-port")
    if starts is None and conc is None:
        raise Absent(seen.why_absent("server-starts"))
    port = seen.port()
    svg = Svg(f"your server's port {port} and the connections open at once")
    notes: list[str] = []
    listening = bool(starts.items("listeners", [])) if starts else True
    port_y, node_x, node_w = 70, 245, 150
    _port_node(svg, node_x, port_y, node_w, port, listening)

    sample = _groups(conc.items("established_sample", [])) if conc else []
    left_bottom = port_y + 20
    y = port_y + 36
    if conc is not None:
        opened = conc.whole("opened")
        accepted = conc.whole("accepted_while_all_open")
        ips = conc.whole("established_source_ips", conc.whole("source_ips"))
        svg.text(8, 14, f"{opened} connections open at once, from {ips} source IPs",
                 size=11, bold=True)
        left_bottom = _fan(svg, sample, ips, port_y, node_x, accepted >= opened)
        if accepted < opened:
            svg.mark(node_x + 14, y + 4, "bad", 9)
            svg.text(node_x + 24, y + 8, f"only {accepted} of {opened} accepted", size=10,
                     fill=BAD)
            svg.text(node_x + 24, y + 20, "while all were open", size=10, fill=BAD)
            y += 30
        if not sample:
            notes.append("No sample of the connections was recorded: only the totals are "
                         "drawn.")
    else:
        svg.text(8, 14, "No connections were made", size=11, bold=True)
        notes.append(f"No connections drawn: {seen.why_absent('server-concurrency')}.")

    extra = [p for p in (one.numbers("new_listening_ports", []) if one else [])
             if p is not None]
    for shown in extra[:SHOWN_EXTRA]:
        _bad_node(svg, node_x, y, node_w, f"TCP :{shown} LISTEN", "a new port")
        y += 34
    during = len(one.items("listening_during", [])) if one else 0
    if len(extra) > SHOWN_EXTRA:
        svg.text(node_x + node_w / 2, y + 4, f"… {during} ports listening in all",
                 size=10, anchor="middle", fill=BAD)
        y += 16
    if extra:
        notes.append(f"Your server listened on {during} ports while our clients were "
                     "connected, where one serves them all: no port per client is needed "
                     "(misconception A).")
    for udp in (starts.items("udp_bound", []) if starts else []):
        _bad_node(svg, node_x, y, node_w, f"UDP {udp}", "not TCP")
        notes.append(f"A UDP socket on {udp}, and no TCP listener: TCP keeps connections "
                     "apart by their four-tuple; UDP has none (misconception C).")
        y += 34
    others = one.items("connections_on_other_ports", []) if one else []
    if others:
        notes.append(f"{len(others)} of your server's connections were on another port, "
                     f"e.g. {others[0]}.")
    if conc is not None:
        _totals(svg, conc, max(y, left_bottom) + 8)
        notes.append(_fan_note(conc, port))
    return svg.render(), notes


def _port_node(svg: Svg, x: float, y: float, w: float, port: int | None,
               listening: bool) -> None:
    """The server's listening port, at mid-height y."""
    svg.rect(x, y - 30, w, 60, fill="#f4f6f8", stroke=MUTED, radius=6)
    svg.text(x + 8, y - 16, "your server", size=10, fill=MUTED)
    if listening:
        svg.rect(x + 8, y - 10, w - 16, 30, fill=GOOD_PALE, stroke=GOOD, width=1.5, radius=4)
        svg.mark(x + 20, y + 5, "ok")
        svg.text(x + 32, y + 4, f"TCP :{port}", size=11, bold=True)
        svg.text(x + 32, y + 15, "listening", size=9, fill=MUTED)
    else:
        svg.rect(x + 8, y - 10, w - 16, 30, stroke=BAD, dashed=True, width=1.5, radius=4)
        svg.mark(x + 20, y + 5, "bad")
        svg.text(x + 32, y + 4, f"TCP :{port}", size=11, bold=True, fill=BAD)
        svg.text(x + 32, y + 15, "no listener", size=9, fill=BAD)


def _bad_node(svg: Svg, x: float, y: float, w: float, label: str, why: str) -> None:
    svg.rect(x + 8, y, w - 16, 28, fill=BAD_PALE, stroke=BAD, dashed=True, width=1.5, radius=4)
    svg.mark(x + 20, y + 14, "bad")
    svg.text(x + 32, y + 12, label, size=10, bold=True, fill=BAD)
    svg.text(x + 32, y + 23, why, size=9, fill=BAD)


def _fan(svg: Svg, groups: list[tuple[str, list[int]]], total_ips: int, port_y: float,
         node_x: float, accepted: bool) -> float:
    """Source-IP boxes on the left, a line from each connection into the port (dashed
    when your server did not accept them all while all were open)."""
    shown = groups if len(groups) <= SHOWN_GROUPS else groups[:SHOWN_GROUPS - 1]
    y = 26.0
    for ip, ports in shown:
        y = _ip_box(svg, y, ip, ports, port_y, node_x, accepted)
    hidden = max(0, total_ips - len(shown) - (1 if len(groups) > SHOWN_GROUPS else 0))
    if hidden:
        svg.text(70, y + 10, f"⋮  {hidden} more source IPs", size=10, anchor="middle",
                 fill=MUTED)
        svg.line(140, y + 6, node_x + 8, port_y + 5, stroke=LINK, dashed=True)
        y += 18
    if len(groups) > SHOWN_GROUPS:
        ip, ports = groups[-1]
        y = _ip_box(svg, y, ip, ports, port_y, node_x, accepted)
    return y


def _ip_box(svg: Svg, y: float, ip: str, ports: list[int], port_y: float,
            node_x: float, accepted: bool) -> float:
    height = 14 + 12 * min(len(ports), 3)
    svg.rect(8, y, 132, height, fill="#eef3fb", stroke=LINK, radius=3)
    svg.text(14, y + 12, ip, size=10, bold=True, mono=True)
    for index, port in enumerate(ports[:3]):
        label = f"port {port}" if index < 2 or len(ports) == 3 else f"+{len(ports) - 2} more"
        svg.text(18, y + 24 + 12 * index, label, size=10, mono=True, fill=MUTED)
        svg.line(140, y + 20 + 12 * index, node_x + 8, port_y + 5,
                 stroke=LINK if accepted else MUTED, dashed=not accepted, width=0.9)
    return y + height + 6


def _totals(svg: Svg, conc: Evidence, y: float) -> None:
    """Bars: of the N connections, how many were opened, accepted while all were open,
    answered in each round, and served throughout."""
    count = max(1, conc.whole("connections"))
    rows = [("opened and held open", conc.whole("opened")),
            ("accepted by your server while all were open",
             conc.whole("accepted_while_all_open"))]
    answered = conc.numbers("answered_per_round", [])
    rows += [(f"answered in round {i + 1}", n or 0) for i, n in enumerate(answered)]
    rows += [(f"round {n + 1}: not run", None)
             for n in range(len(answered), conc.whole("rounds", len(answered)))]
    rows.append(("served in every round while all were open",
                 conc.whole("served_while_all_open")))
    svg.text(8, y + 4, f"Of {count} connections:", size=11, bold=True)
    y += 12
    for label, value in rows:
        svg.text(8, y + 10, label, size=10)
        svg.rect(8, y + 14, 300, 9, fill=PALE, stroke="none")
        if value is not None:
            svg.rect(8, y + 14, 300 * min(1.0, value / count), 9, fill=LINK, stroke="none")
        svg.text(316, y + 23, "–" if value is None else f"{value}/{count}", size=10)
        svg.mark(388, y + 19, verdict_mark(None if value is None else value >= count), 9)
        y += 30


def _fan_note(conc: Evidence, port: int | None) -> str:
    note = (f"{conc.whole('opened')} of {conc.whole('connections')} connections were opened "
            f"and held open at once; {conc.whole('established_before_rounds', 0)} were "
            f"ESTABLISHED on :{port} before the first message.")
    errors = conc.mapping("connect_errors", {})
    if errors:
        note += " Not opened: " + "; ".join(f"{n}x {why}" for why, n in errors.items()) + "."
    return note


OUTCOME_SHAPES = {"answered": "ok", "misrouted": "bad"}  # anything else: a hollow ring


def draw_same_ip(seen: Seen) -> tuple[str, list[str]]:
    """Q1-D/Q4: many connections from one source IP, each its own source port, any
    misrouted reply marked."""
    same = seen.require("server-same-ip")
    source, count = same.text("source_ip"), same.whole("connections")
    ports = same.numbers("source_ports", [])
    outcomes = [str(o) for o in same.items("last_round_outcomes", [])]
    port = seen.port()
    svg = Svg(f"{count} connections from {source} to your server's port {port}")
    svg.rect(130, 4, 140, 26, fill=GOOD_PALE, stroke=GOOD, width=1.5, radius=4)
    svg.text(200, 21, f"your server :{port}", size=11, bold=True, anchor="middle")
    cells = max(len(ports), len(outcomes))
    drawn = min(cells, MAX_CELLS)
    columns = GRID_COLUMNS
    cell_w, cell_h, top = 45.0, 22.0, 74.0
    for column in range(min(columns, drawn)):
        svg.line(12 + column * (cell_w + 2) + cell_w / 2, top - 6, 200, 30, stroke=LINK,
                 width=0.8)
    rows = math.ceil(drawn / columns) if drawn else 0
    svg.rect(6, top - 24, 388, rows * (cell_h + 2) + 30, fill="#eef3fb", stroke=LINK, radius=4)
    svg.text(12, top - 10, f"one source IP: {source}", size=11, bold=True, mono=True)
    for index in range(drawn):
        x = 12 + (index % columns) * (cell_w + 2)
        y = top + (index // columns) * (cell_h + 2)
        outcome = outcomes[index] if index < len(outcomes) else ""
        shape = OUTCOME_SHAPES.get(outcome, "open")
        bad = outcome == "misrouted"
        svg.rect(x, y, cell_w, cell_h, fill=BAD_PALE if bad else "#ffffff",
                 stroke=BAD if bad else (INK if shape == "ok" else MUTED),
                 dashed=shape == "open", width=2 if bad else 0.8, radius=2)
        label = str(ports[index]) if index < len(ports) and ports[index] is not None else "?"
        svg.text(x + 2, y + 15, label, size=10, mono=True)
        if outcome:
            svg.mark(x + cell_w - 7, y + 11, shape, 7)
    y = top + rows * (cell_h + 2) + 22
    if cells > drawn:
        svg.text(12, y, f"and {cells - drawn} more connections", size=10, fill=MUTED)
        y += 14
    y = _legend(svg, y, [("ok", "right reply"), ("bad", "reply meant for another connection"),
                         ("open", "no reply (see below)")])
    distinct = len({p for p in ports if p is not None})
    notes = [f"{same.whole('opened')} connections from {source}, {distinct} distinct source "
             "ports: only the source port tells them apart."]
    rounds_run, rounds = same.whole("rounds_run", 0), same.whole("rounds", 0)
    notes.append(f"{rounds_run} of {rounds} interleaved rounds run: "
                 f"{same.whole('answered')}/{same.whole('expected')} replies on the right "
                 f"connection, {same.whole('misrouted')} misrouted. The squares show the "
                 f"outcome of round {rounds_run}.")
    for example in same.items("examples", [])[:3]:
        if isinstance(example, dict):
            end = _endpoint(example.get("local"))
            notes.append(f"From port {end[1] if end else '?'} (round {example.get('round')}): "
                         f"sent {example.get('sent')!r}, got {example.get('received')!r} "
                         f"({example.get('outcome')}).")
    return svg.render(), notes


def _legend(svg: Svg, y: float, items: list[tuple[str, str]]) -> float:
    x = 12.0
    for shape, label in items:
        width = 22 + len(label) * 5.6
        if x + width > 396:
            x, y = 12.0, y + 16
        svg.mark(x + 5, y - 4, shape, 8)
        svg.text(x + 14, y, label, size=10, fill=MUTED)
        x += width
    return y + 8


def draw_burst(seen: Seen) -> tuple[str, list[str]]:
    """The backlog: a burst of connections against what the accept queue holds."""
    burst = seen.require("server-burst")
    clients, backlog = burst.whole("clients"), burst.whole("backlog")
    holds = burst.whole("accept_queue_holds", None)
    connected = burst.whole("connected")
    svg = Svg(f"{clients} connections in one instant and your accept queue")
    svg.text(8, 14, f"{clients} connections in the same instant "
             f"({burst.number('seconds', 0):.3f} s)", size=11, bold=True)
    columns, size = 20, 18.0
    drawn = min(clients, 200)
    for index in range(drawn):
        x, y = 8 + (index % columns) * (size + 1), 24 + (index // columns) * (size + 1)
        if holds is None:
            svg.rect(x, y, size, size, fill=PALE, stroke=MUTED, width=0.6)
        else:
            _cell(svg, x, y, size, index < holds)
    y = 24 + math.ceil(drawn / columns) * (size + 1) + 16
    if holds is None:
        svg.text(8, y, "your listen backlog could not be read", size=11, fill=MUTED)
        y += 16
    else:
        _cell(svg, 8, y - 9, 11, True)
        svg.text(24, y, f"fits in the accept queue ({holds})", size=10, fill=MUTED)
        if holds < clients:
            _cell(svg, 200, y - 9, 11, False)
            svg.text(216, y, "beyond it: dropped when slow", size=10, fill=MUTED)
        y += 8
        svg.text(8, y + 8, f"listen() backlog {backlog}: the kernel queues {holds} "
                 "connections not yet accepted", size=10)
        y += 24
    counters = burst.mapping("kernel_counters", {})
    svg.mark(14, y - 4, verdict_mark(connected >= clients), 9)
    svg.text(26, y, f"This time {connected}/{clients} connected", size=11, bold=True)
    notes = [f"The kernel's overflow counters ({burst.text('counters_of', 'the machine')}) "
             + ("counted " + ", ".join(f"{n} {name}" for name, n in counters.items())
                if counters else "counted nothing during the burst") + "."]
    if holds is not None and holds < clients:
        notes.append("A connection that does not fit waits for the client's kernel to retry "
                     "(1 s, 3 s, 7 s...): pass a large backlog to listen().")
    return svg.render(), notes


def _cell(svg: Svg, x: float, y: float, size: float, fits: bool) -> None:
    """One connection of a burst: a plain square when the accept queue holds it, a
    dashed one struck through when it does not."""
    if fits:
        svg.rect(x, y, size, size, fill=GOOD_PALE, stroke=GOOD, width=0.8)
    else:
        svg.rect(x, y, size, size, fill="#ffffff", stroke=BAD, dashed=True, width=0.8)
        svg.line(x + 3, y + size - 3, x + size - 3, y + 3, stroke=BAD, width=1)
