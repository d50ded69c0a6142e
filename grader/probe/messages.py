"""The grader-probe conversation: one dataclass per request, one per result.

Both sides import this module: the grader builds requests and reads results, the probe
(copied into the pod on its own) does the reverse. So it imports only the standard
library. On the wire a message is JSON: `to_wire` flattens dataclasses, `from_wire`
rebuilds them from the type hints. Bytes travel as latin-1 text, which maps every byte
to one character and back, so nothing a student's program sends is lost or altered.

The probe knows no protocol: it opens connections at a pace, sends the bytes it is
given (whole, in slices, in a shuffled order), reads until a delimiter, a length or the
end of stream, half-closes, resets, records clients, and reads the kernel's tables.
What the bytes mean is the business of the protocol modules on the grader's side.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

Address = tuple[str, int]


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """An operation with nothing to report."""


@dataclass(frozen=True)
class Greeting:
    open_files: tuple[int, int]  # soft and hard limit the probe runs with
    port_range: tuple[int, int]  # ip_local_port_range of the probe's network namespace


@dataclass(frozen=True)
class SocketEntry:
    proto: str  # "tcp" or "udp"
    local: Address
    remote: Address
    state: str  # ESTABLISHED, TIME_WAIT, LISTEN, CLOSE_WAIT, ... (udp: BOUND, CONNECTED)
    inode: int
    queue: int = 0  # rx_queue; for a LISTEN entry, the accept queue's length


@dataclass(frozen=True)
class SocketTable:
    entries: tuple[SocketEntry, ...]


@dataclass(frozen=True)
class Listener:
    local: Address
    backlog: int  # what the server passed to listen(), capped by net.core.somaxconn
    queued: int  # connections the kernel completed that the server has not accepted yet
    inode: int


@dataclass(frozen=True)
class Listeners:
    listeners: tuple[Listener, ...]
    source: str  # "sock_diag" (backlog known) or "proc" (backlog unknown: -1)


@dataclass(frozen=True)
class Counters:
    """TcpExt counters of /proc/net/netstat: per network namespace, so a pod's own."""

    values: dict[str, int]


@dataclass(frozen=True)
class Pacing:
    """How a group's connections were opened."""

    mode: str  # "burst": all at once; "absorbed": never more than the accept queue holds
    backlog: int  # the listener's backlog as the kernel reported it (-1: unknown)
    window: int  # most connections waiting to be accepted at any moment
    waits: int  # times the probe waited for the server to accept before going on
    stalled: bool  # gave up: the server accepted nothing for `stall_timeout` seconds
    unaccepted: int  # connections still waiting in the accept queue at the end
    seconds: float


@dataclass(frozen=True)
class Opened:
    opened: int
    errors: dict[str, int]  # reason -> how many connections failed with it
    local: tuple[Address, ...]  # each opened connection's own end, in index order
    pacing: Pacing


@dataclass(frozen=True)
class Reply:
    """What one connection of a group sent back."""

    connection: int  # its index in the group
    outcome: str  # complete, eof, reset, timeout, send-failed, too-long, closed
    data: bytes  # what arrived (the delimiter included), capped
    error: str = ""  # for reset and send-failed: the errno's name and message
    seconds: float = 0.0  # from the start of the operation to its outcome


@dataclass(frozen=True)
class Replies:
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class Sent:
    failed: dict[str, int]  # reason -> how many connections could not send


@dataclass(frozen=True)
class Ends:
    """Per connection, whether the peer closed its side (end of stream) in time."""

    closed_by_peer: tuple[int, ...]  # indexes
    still_open: tuple[int, ...]
    reset: tuple[int, ...]


@dataclass(frozen=True)
class Concluded:
    ended: int  # waits ended; 0 when refused, or when none was under way


@dataclass(frozen=True)
class RecordStarted:
    recorder: str
    port: int


@dataclass(frozen=True)
class RecordedConnection:
    peer: Address
    local: Address
    arrived_after: float
    received: bytes
    closed_by_client: bool


@dataclass(frozen=True)
class Recording:
    port: int
    expected: int
    barrier_reached: bool
    finished: bool
    connections: tuple[RecordedConnection, ...]


# --- requests ------------------------------------------------------------------------


ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Request(Generic[ResultT]):
    """An operation of the probe; its type parameter is the result it answers with."""

    op: ClassVar[str]

    @classmethod
    def result_type(cls) -> type:
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Request:
                return typing.get_args(base)[0]
        raise TypeError(f"{cls.__name__} does not say what it answers with")

    @property
    def budget(self) -> float:
        """How long the operation itself may take, in seconds."""
        return float(getattr(self, "timeout", 5.0))


@dataclass(frozen=True)
class Hello(Request[Greeting]):
    op = "hello"


@dataclass(frozen=True)
class ReadSocketTable(Request[SocketTable]):
    """Every TCP and UDP socket of the pod, or only those with `port` at either end;
    without TIME_WAIT entries when `time_wait` is false (no process owns them, and on the
    local backend the machine may hold thousands)."""

    op = "socket_table"
    port: int | None = None
    time_wait: bool = True


@dataclass(frozen=True)
class ReadListeners(Request[Listeners]):
    op = "listeners"
    port: int


@dataclass(frozen=True)
class ReadCounters(Request[Counters]):
    op = "counters"


@dataclass(frozen=True)
class Open(Request[Opened]):
    """Open `count` connections to host:port, source IPs round-robin from `sources`
    (the source port is always the kernel's choice).

    pacing "absorbed" keeps the connections that wait to be accepted within what the
    listener's backlog holds, so none is dropped however small the backlog, and at the
    end waits until the server has accepted them all (the accept queue is empty): then
    the server holds every connection at once. It gives up when the server accepts
    nothing for `stall_timeout` seconds. "burst" opens them all in the same instant.
    """

    op = "open"
    group: str
    host: str
    port: int
    count: int
    sources: tuple[str, ...]
    timeout: float
    pacing: str = "absorbed"
    stall_timeout: float = 3.0


@dataclass(frozen=True)
class Send(Request[Sent]):
    """Send `payloads[i]` on the group's connection i (all of them when `connections`
    is empty; else those, in that order), in slices of `slice_size` bytes `pause`
    seconds apart when set. With `order_seed`, sends go one connection at a time in a
    shuffled order, so messages on connections that share a source IP interleave."""

    op = "send"
    group: str
    payloads: tuple[bytes, ...]
    timeout: float
    connections: tuple[int, ...] = ()
    slice_size: int = 0
    pause: float = 0.0
    order_seed: int | None = None


@dataclass(frozen=True)
class Read(Request[Replies]):
    """Read on each connection until `until` arrives, `length` bytes arrived (or
    `lengths[i]` on the i-th chosen connection), or the end of stream (neither set)."""

    op = "read"
    group: str
    timeout: float
    until: bytes = b""
    length: int = 0
    lengths: tuple[int, ...] = ()
    connections: tuple[int, ...] = ()
    max_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Exchange(Request[Replies]):
    """Send then read, on each connection, in one operation (see Send and Read)."""

    op = "exchange"
    group: str
    payloads: tuple[bytes, ...]
    timeout: float
    until: bytes = b""
    length: int = 0
    connections: tuple[int, ...] = ()
    slice_size: int = 0
    pause: float = 0.0
    order_seed: int | None = None
    max_bytes: int = 64 * 1024


@dataclass(frozen=True)
class HalfClose(Request[Done]):
    """shutdown(SHUT_WR) on each connection: the peer reads end of stream."""

    op = "half_close"
    group: str
    connections: tuple[int, ...] = ()


@dataclass(frozen=True)
class AwaitEnd(Request[Ends]):
    """Read and discard until the peer closes each connection, or `timeout`."""

    op = "await_end"
    group: str
    timeout: float


@dataclass(frozen=True)
class Abort(Request[Done]):
    """Close with SO_LINGER 0: the peer gets a reset (RST), not an orderly close."""

    op = "abort"
    group: str
    connections: tuple[int, ...] = ()


@dataclass(frozen=True)
class Close(Request[Done]):
    op = "close"
    group: str


@dataclass(frozen=True)
class Conclude(Request[Concluded]):
    """The grader saw the server sit idle for `quiet` seconds, so nothing more is coming:
    end the group's waits under way (read, exchange, await_end) as if their deadline had
    come, each taking in what the kernel already holds. Refused while any of the group's
    sockets has something unread, or while we are still sending to it or sent to it
    within `quiet` seconds: then the server may be waiting on the probe."""

    op = "conclude"
    group: str
    quiet: float


@dataclass(frozen=True)
class RecordStart(Request[RecordStarted]):
    """A recording listener: notes each client's four-tuple and bytes, and holds every
    connection (no answer) until `expected` are connected at once or `barrier_timeout`
    passed; then answers until each client closes, for at most `idle_timeout`: it
    mirrors what arrives, or (with `until`) answers each request read up to `until`
    with `table[key]` (`key`: a regular expression whose first group is looked up;
    `missing` when absent), half-closing after the first answer when `close` is set."""

    op = "record_start"
    expected: int
    barrier_timeout: float
    idle_timeout: float
    host: str = "127.0.0.1"
    until: bytes = b""
    key: bytes = b""
    table: dict[str, bytes] = dataclasses.field(default_factory=dict)
    missing: bytes = b""
    close: bool = False


@dataclass(frozen=True)
class RecordRelease(Request[Done]):
    """Let the recorder answer now: the caller knows its barrier can no longer be met."""

    op = "record_release"
    recorder: str


@dataclass(frozen=True)
class RecordResult(Request[Recording]):
    op = "record_result"
    recorder: str
    timeout: float


REQUESTS: dict[str, type[Request]] = {
    kind.op: kind for kind in (Hello, ReadSocketTable, ReadListeners, ReadCounters, Open,
                               Send, Read, Exchange, HalfClose, AwaitEnd, Abort, Close, Conclude,
                               RecordStart, RecordRelease, RecordResult)}


# --- the wire ------------------------------------------------------------------------


def to_wire(value: Any) -> Any:
    """A message as JSON-ready data."""
    return _writer(type(value))(value)


@functools.cache
def _writer(kind: type) -> Callable[[Any], Any]:
    """The function that writes values of type `kind`, chosen once per type (a reply of
    10,000 connections is 10,000 values of one type)."""
    if dataclasses.is_dataclass(kind):
        names = tuple(f.name for f in dataclasses.fields(kind))
        return lambda value: {name: to_wire(getattr(value, name)) for name in names}
    if issubclass(kind, bytes | bytearray):
        return lambda value: bytes(value).decode("latin-1")
    if issubclass(kind, list | tuple):
        return lambda value: [to_wire(item) for item in value]
    if issubclass(kind, dict):
        return lambda value: {str(key): to_wire(item) for key, item in value.items()}
    return _as_is


@functools.cache
def _init_fields(kind: type) -> tuple[tuple[str, Any], ...]:
    """A dataclass's constructor fields with their resolved types: resolving them is far
    dearer than building the value (a socket table has thousands of entries)."""
    hints = typing.get_type_hints(kind)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(kind) if f.init)


def from_wire(kind: Any, data: Any) -> Any:
    """Rebuild a value of type `kind` (a dataclass or a type hint) from `to_wire` data."""
    return _reader(kind)(data)


def _as_is(data: Any) -> Any:
    return data


@functools.cache
def _reader(kind: Any) -> Callable[[Any], Any]:
    """The function that rebuilds values of type `kind`, made once per type: looking at
    the type hint again for each of thousands of entries costs more than the entries."""
    if dataclasses.is_dataclass(kind):
        fields = tuple((name, _reader(hint)) for name, hint in _init_fields(kind))
        return lambda data: kind(**{name: read(data[name]) for name, read in fields
                                    if name in data})
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if kind is bytes:
        return lambda data: data.encode("latin-1")
    if origin is tuple:
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            item = _reader(arguments[0])
            return lambda data: tuple(map(item, data))
        readers = tuple(_reader(a) for a in arguments)
        return lambda data: tuple(read(item) for read, item in zip(readers, data, strict=True))
    if origin is dict:
        value = _reader(arguments[1])
        return lambda data: {key: value(item) for key, item in data.items()}
    if origin in (typing.Union, types.UnionType):
        inner = _reader(next(a for a in arguments if a is not type(None)))
        return lambda data: None if data is None else inner(data)
    if kind is float:
        return lambda data: float(data) if isinstance(data, int) else data
    return _as_is
