"""Checks on the student's client, run against the grader's recording server: copies run
at once get distinct ephemeral ports, and each prints only its own replies. What a run
is given and must print comes from the assignment's protocol (`client_job`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .base import Outcome, check, failed, inconclusive, passed
from .diagnosis import diagnose_run
from .evidence import MAX_SHOWN, counted, printed_lines

if TYPE_CHECKING:
    from ..grading.context import CheckContext
    from ..protocols.base import ClientJob, Protocol

FIXED_PORT_KINDS = ("address-in-use", "address-not-available")
FIXED_PORT_HINT = ("Do not bind() the client socket to a fixed port; just connect() and let "
                   "the OS choose an ephemeral port, so that every copy of your client gets "
                   "its own four-tuple.")
PARITY_DETAIL = (
    "Linux (4.6 and later) gives a connect() without bind() a free port of the same parity "
    "as the range's first port, and a bind() to port 0 one of the other parity, while "
    "ports of that parity are free (they are: the pod's range has a thousand of each). "
    "Copies of one program that let the OS choose therefore all get one parity; ports of "
    "both parities mean the program picked them itself, e.g. from ip_local_port_range.")
PRINT_HINT = ("Print what the server sends back on your own connection, as it arrives, "
              "then exit 0 once the conversation is over.")


@check("client-ephemeral-ports", title="Concurrent clients get distinct ephemeral ports",
       concepts=("Q4", "Q5"), needs=("client",),
       params={"clients": 8, "barrier_timeout": 10.0, "timeout": 20.0})
async def client_ephemeral_ports(ctx: CheckContext) -> Outcome:
    """Several copies of your client connect at the same moment (the server holds each
    connection until all have arrived): each must get its own OS-assigned source port.
    Judged from the server's side, whatever the copies print."""
    count = ctx.params["clients"]
    jobs = [ctx.protocol.client_job(index) for index in range(count)]
    require_distinct_markers(ctx.protocol, jobs)
    recorder = await ctx.record(count, ctx.params["barrier_timeout"], ctx.params["timeout"])

    async def ended(index: int) -> None:
        # A client that ended before the barrier fell means the copies can no longer
        # all overlap: waiting out the barrier's deadline would prove nothing more.
        await ctx.release(recorder)

    runs = await ctx.run_clients(jobs, port=recorder.port, timeout=ctx.params["timeout"],
                                 ended=ended)
    recorded = await ctx.recording(recorder, timeout=5.0)
    low, high = await ctx.ephemeral_port_range()
    ports = [c.peer[1] for c in recorded.connections]
    distinct = sorted(set(ports))
    outside = [p for p in distinct if not low <= p <= high]
    chosen_parity = chosen_by_parity(distinct, low) if ctx.pod.own_port_range else []
    ends = [diagnose_run(r, "client") for r in runs if r.exit_code != 0]
    common = Counter(e.kind for e in ends).most_common(1)
    evidence = {"clients": count, "connected": len(ports), "ports": ports,
                "distinct_ports": len(distinct), "ephemeral_range": [low, high],
                "outside_range": outside, "other_parity_ports": chosen_parity,
                "all_overlapped": recorded.barrier_reached,
                "client_errors": [e.headline for e in ends[:MAX_SHOWN]],
                # Per copy: the source port the server saw it use (None: never seen), and
                # how it ended (None: stopped at its deadline).
                "copy_ports": [next((c.peer[1] for c in recorded.connections
                                     if job.marker in c.received), None)
                               for job in jobs],
                "copy_exit_codes": [None if r.timed_out else r.exit_code for r in runs]}
    carry = {"runs": [(job, run) for job, run in zip(jobs, runs, strict=True)],
             "received": [c.received for c in recorded.connections]}
    range_text = f"{low}-{high}"
    if len(distinct) == count and not outside and not chosen_parity \
            and recorded.barrier_reached:
        caveat = () if ctx.pod.own_port_range else (
            f"This backend uses the machine's own ephemeral range ({range_text}), so a "
            "client that picked random ports inside it for itself could not be told from "
            "one the OS served; a Docker or Podman pod has a narrow range of its own, "
            "placed at random, and can.",)
        return passed(f"{count} overlapping clients used {count} distinct ports in "
                      f"{range_text}", evidence=evidence, carry=carry, details=caveat)
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
    elif chosen_parity:
        others = [port for port in distinct if port not in chosen_parity]
        summary = (f"source ports {chosen_parity[:4]} and {others[:4]} differ in parity: the "
                   "OS gives concurrent clients ports of one parity, so your client chooses "
                   "its own port")
        details.append(PARITY_DETAIL)
    else:
        summary = f"only {len(ports)} of {count} clients were connected at once"
        if ends:
            summary += f"; one of the others {ends[0].headline}"
            hint = ends[0].hint or ("Each copy must connect to the host and port given as "
                                    "its arguments and stay connected until it is done.")
    return failed(summary, evidence=evidence, details=tuple(details), hint=hint, carry=carry)


class ClientJobError(Exception):
    """An assignment's protocol gives runs of the client that the checks cannot tell
    apart: the instructor's mistake, so a grader error, never the student's fail."""


def require_distinct_markers(protocol: Protocol, jobs: Sequence[ClientJob]) -> None:
    """Each run's `marker` must be non-empty and found in no other run's (the server's
    side tells the copies apart by it); raises ClientJobError naming the protocol."""
    for index, job in enumerate(jobs):
        where = f"the {protocol.name} protocol's client_job({index})"
        if not job.marker:
            raise ClientJobError(f"{where} has an empty marker: give each ClientJob the "
                                 "bytes the server receives from that run alone")
        other = next((i for i, o in enumerate(jobs) if i != index and job.marker in o.marker),
                     None)
        if other is not None:
            raise ClientJobError(f"{where} has a marker {job.marker!r} also found in "
                                 f"client_job({other})'s: each run's marker must be its own")


def chosen_by_parity(ports: list[int], low: int) -> list[int]:
    """The ports of the parity opposite to the range's start `low`, if the others have it:
    copies the OS served all get one parity (see PARITY_DETAIL), so a mix was chosen."""
    other = [port for port in ports if (port - low) % 2]
    return other if 0 < len(other) < len(ports) else []


@check("client-reply-routing", title="Each concurrent client prints only its own replies",
       concepts=("Q4",), uses=("client-ephemeral-ports",), needs=("client",))
async def client_reply_routing(ctx: CheckContext) -> Outcome:
    """Each of the copies of your client that ran at once printed its own replies, and
    none of another's: replies reach the right program through its ephemeral port."""
    seen = ctx.carried["client-ephemeral-ports"]
    runs = seen["runs"]
    owner = sole_owners([job for job, _ in runs])
    # A copy took part when the server received what only that copy sends.
    connected = [index for index, (job, _) in enumerate(runs)
                 if any(job.marker in received for received in seen["received"])]
    crossed, incomplete = [], []
    copies: list[dict | None] = [None] * len(runs)  # what each connected copy printed
    for index in connected:
        expected, completed = runs[index][0].expected, runs[index][1]
        printed = [line.strip() for line in printed_lines(completed)]
        foreign = [line for line in printed if owner.get(line, index) != index]
        missing = [text for text in expected if text.strip() not in printed]
        copies[index] = {"own": len(expected) - len(missing), "expected": len(expected),
                         "foreign": len(foreign),
                         "from": sorted({owner[line] + 1 for line in foreign})}
        if foreign:
            crossed.append((index, len(foreign), foreign[0]))
        elif missing:
            incomplete.append((index, missing))
    evidence = {"clients": len(runs), "connected": len(connected),
                "printed_others_replies": len(crossed), "incomplete": len(incomplete),
                "examples": [f"client {i + 1} printed {n} foreign line(s), e.g. {line!r}"
                             for i, n, line in crossed[:MAX_SHOWN]],
                "copies": copies}
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
    return passed(f"each of {len(connected)} clients printed only its own replies",
                  evidence=evidence)


def sole_owners(jobs: Sequence[ClientJob]) -> dict[str, int]:
    """Each expected line that one run alone expects, and that run's index: a copy that
    prints such a line (the whole line) of another's got a reply meant for it. A line
    several runs expect proves nothing about where a reply went, so it is left out."""
    expecting: dict[str, set[int]] = {}
    for index, job in enumerate(jobs):
        for text in job.expected:
            expecting.setdefault(text.strip(), set()).add(index)
    return {text: next(iter(runs)) for text, runs in expecting.items() if len(runs) == 1}
