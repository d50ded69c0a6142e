"""What an assignment's own checks.py imports: the whole public surface for check authors.

    from grader.api import CheckContext, Outcome, check, failed, passed, require_server

    @check("upper-long-line", title="Upper-cases a long line", concepts=("U1",),
           depends_on=("server-starts",), params={"length": 10000})
    async def upper_long_line(ctx: CheckContext) -> Outcome:
        \"\"\"A line of 10,000 letters comes back upper-cased, whole.\"\"\"
        await require_server(ctx)  # raises Failure, saying why, when it is not running
        async with ctx.connections(1, sources=["127.0.0.1"], timeout=5.0) as group:
            line = b"a" * ctx.params["length"] + b"\\n"
            [reply] = await group.exchange([line], until=b"\\n", timeout=5.0)
        if reply.data == line.upper():
            return passed("the long line came back upper-cased")
        return failed(f"got {reply.data[:40]!r}", hint="Read until the newline.")

A check is a small decorated async function; its docstring is what the student reads.
It returns an Outcome (`passed`, `failed`, `scored`, `inconclusive`) or raises Failure
from wherever it is; any other exception is a grader error, never the student's fault.
A protocol is a Protocol subclass (see grader.protocols.echo for one). Names not listed
here are internal and may change; this list is pinned by a test.
"""

from .checks.base import (
    Check,
    Failure,
    Outcome,
    check,
    failed,
    inconclusive,
    passed,
    scored,
)
from .checks.diagnosis import Diagnosis, diagnose, diagnose_run
from .checks.evidence import counted, printed_details, printed_lines, source_addresses, tail
from .checks.server import require_server
from .grading.connections import ConnectionGroup
from .grading.context import CheckContext, StudentServer
from .grading.sockets import SocketTable, endpoint, four_tuple
from .pod.base import Completed, Program
from .probe import messages as probe
from .protocols.base import Answer, ClientJob, Protocol, Replies, Round

__all__ = [
    "Answer",
    "Check",
    "CheckContext",
    "ClientJob",
    "Completed",
    "ConnectionGroup",
    "Diagnosis",
    "Failure",
    "Outcome",
    "Program",
    "Protocol",
    "Replies",
    "Round",
    "SocketTable",
    "StudentServer",
    "check",
    "counted",
    "diagnose",
    "diagnose_run",
    "endpoint",
    "failed",
    "four_tuple",
    "inconclusive",
    "passed",
    "printed_details",
    "printed_lines",
    "probe",
    "require_server",
    "scored",
    "source_addresses",
    "tail",
]
