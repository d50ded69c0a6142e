"""diagnose() on real runtimes' output, and on what no fixture shows.

The fixtures under tests/data/crashes are the stderr of tiny programs that really failed
on this machine (tests/data/crashes/capture.py makes them again); index.json keeps each
one's exit status and role. Go is not installed there, so its formats are tested from
their documented shape below.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.checks.diagnosis import KINDS, MAX_HEADLINE, MAX_LINE, MAX_QUOTED, diagnose

CRASHES = Path(__file__).parent / "data" / "crashes"
INDEX = {entry["name"]: entry for entry in json.loads((CRASHES / "index.json").read_text())}

# What a runtime adds after the error, and frames that are not the student's: never the
# headline, never a quoted line.
TRAILERS = ("RUST_BACKTRACE", "Node.js v", "could not compile", "collect2", "make: ***",
            "For more information", "1 error", "Aborted", "Segmentation fault")
LIBRARY_FRAMES = ("/lib/python3", "threading.py", "socket.py", "json/", "node:internal",
                  "node:net", "java.base/", "Native Method")


@dataclass(frozen=True)
class Expect:
    kind: str
    headline: tuple[str, ...]  # each is in the headline
    quoted: tuple[str, ...] = ()  # each is in some quoted line
    hint: tuple[str, ...] = ()  # each is in the hint


_REUSE_Q2 = ("SO_REUSEADDR", "TIME_WAIT", "Q2")
_EPHEMERAL = ("bind()", "ephemeral", "Q5")
_RUNTIME_REUSES = ("sets SO_REUSEADDR itself",)
_REFUSED = ("host and port given as its arguments",)
_PRIVILEGED = ("below 1024",)

EXPECTED = {
    "python-exception": Expect(
        "exception", ("crashed with ZeroDivisionError: division by zero",
                      "server.py, line 2, in average"),
        ("return total / count", "ZeroDivisionError"), ("ZeroDivisionError", "per connection")),
    "python-chained": Expect(  # the exception raised last, not the one it replaced
        "exception", ("RuntimeError: config.json is not valid JSON", "line 8, in load_config"),
        ('raise RuntimeError("config.json',), ("RuntimeError",)),
    "python-eaddrinuse-server": Expect(
        "address-in-use", ("[Errno 98] Address already in use", "server.py, line 8, in main"),
        ("listener.bind((host, port))",), _REUSE_Q2),
    "python-eaddrinuse-client": Expect(
        "address-in-use", ("[Errno 98]", "client.py, line 7, in connect"),
        ("sock.bind(source)",), _EPHEMERAL),
    "python-eaddrnotavail-client": Expect(
        "address-not-available", ("[Errno 99] Cannot assign requested address",),
        ("sock.bind(source)",), _EPHEMERAL),
    "python-econnrefused-client": Expect(  # the student's frame, not socket.py's
        "connection-refused", ("ConnectionRefusedError", "client.py, line 6, in main"),
        ("socket.create_connection",), _REFUSED),
    "python-eacces-server": Expect(
        "permission-denied-port", ("PermissionError: [Errno 13] Permission denied",),
        ("listener.bind",), _PRIVILEGED),
    "python-econnreset-server": Expect(
        "connection-reset", ("ConnectionResetError", "line 6, in handle"),
        ("conn.recv(1024)",), ("end of that one connection",)),
    "python-thread-exception": Expect(
        "exception", ("status 0", "KeyError: 'name'", "server.py, line 5, in handle"),
        ("Exception in thread", 'client["name"]'), ("KeyError",)),
    "python-missing-file": Expect(
        "file-not-found", ("could not start", "can't open file", "exit status 2"),
        ("server.py",), ("server.py", "does not exist")),
    "python-syntax-error": Expect(
        "compile-error", ("SyntaxError: invalid syntax", "server.py, line 3"),
        ("def main(:",), ("syntax error at server.py, line 3",)),
    "python-module-not-found": Expect(
        "exception", ("ModuleNotFoundError", "client.py, line 2"), (),
        ("`trio_websocket_not_installed` is not installed",)),
    "python-usage-exit": Expect("exit", ("status 1", "usage: client.py HOST PORT")),
    "rust-panic-addrinuse": Expect(
        "address-in-use", ("panicked: called `Result::unwrap()`", "AddrInUse",
                           "src/main.rs:5:59"),
        ("panicked at src/main.rs:5:59",), _RUNTIME_REUSES),
    "rust-panic-parse": Expect(
        "exception", ("panicked:", "ParseIntError { kind: InvalidDigit }", "src/main.rs:4:62"),
        (), ("panic at src/main.rs:4:62",)),
    "rust-main-error-connrefused": Expect(
        "connection-refused", ("ConnectionRefused", "Connection refused"), ("Error: Os",),
        _REFUSED),
    "cargo-compile-error": Expect(
        "compile-error", ("cannot find value `prot` in this scope", "E0425",
                          "src/main.rs:3:20"),
        ("--> src/main.rs:3:20", 'println!("{}", prot);'), ("first error",)),
    "node-eaddrinuse": Expect(
        "address-in-use", ("Error: listen EADDRINUSE: address already in use",),
        ("code: 'EADDRINUSE'",), _RUNTIME_REUSES),
    "node-eacces": Expect(
        "permission-denied-port", ("listen EACCES: permission denied 127.0.0.1:80",), (),
        _PRIVILEGED),
    "node-exception": Expect(
        "exception", ("TypeError: Cannot read properties of undefined", "server.js:2:23",
                      "in reply"),
        ("at reply (",), ("TypeError at server.js:2:23",)),
    "node-econnrefused-client": Expect(
        "connection-refused", ("Error: connect ECONNREFUSED 127.0.0.1:",),
        ("code: 'ECONNREFUSED'",), _REFUSED),
    "node-missing-file": Expect(
        "file-not-found", ("could not start", "Cannot find module", "exit status 1"), (),
        ("server.js", "does not exist")),
    "java-bindexception": Expect(
        "address-in-use", ("java.net.BindException: Address already in use",
                           "Server.java:5, in Server.main"),
        ("at Server.main(Server.java:5)",), _RUNTIME_REUSES),
    "java-caused-by": Expect(
        "address-in-use", ("RuntimeException: could not listen on", "Server.java:9"),
        ("Caused by: java.net.BindException",), _RUNTIME_REUSES),
    "java-exception": Expect(
        "exception", ("java.lang.ArithmeticException: / by zero",
                      "Server.java:3, in Server.perClient"),
        ("at Server.perClient(Server.java:3)",), ("ArithmeticException",)),
    "java-connectexception-client": Expect(
        "connection-refused", ("java.net.ConnectException: Connection refused",
                               "Client.java:5"), (), _REFUSED),
    "java-missing-class": Expect(
        "file-not-found", ("Could not find or load main class Server",), (), ("`Server`",)),
    "javac-compile-error": Expect(
        "compile-error", ("';' expected", "Server.java:3"), ("Integer.parseInt(args[0])",),
        ("Server.java:3",)),
    "c-segfault": Expect("signal", ("SIGSEGV", "memory error"), (), ("-fsanitize=address",)),
    "c-segfault-bash": Expect(
        "signal", ("status 139", "SIGSEGV"), (), ("-fsanitize=address",)),
    "c-assert": Expect(
        "signal", ("SIGABRT", "assertion `argc == 3` failed", "server.c:4, in main"),
        ("Assertion",), ("assert()",)),
    "c-double-free": Expect(
        "signal", ("SIGABRT", "double free detected"), (), ("double free",)),
    "c-double-free-bash": Expect(  # not bash's "Aborted" line
        "signal", ("status 134", "SIGABRT", "double free detected"), (), ("double free",)),
    "c-sigpipe-client": Expect(
        "signal", ("SIGPIPE",), (), ("the server had already closed", "MSG_NOSIGNAL")),
    "c-perror-eaddrinuse-server": Expect(
        "address-in-use", ("status 1", "bind: Address already in use"), (), _REUSE_Q2),
    "c-perror-eaddrinuse-client": Expect(
        "address-in-use", ("bind: Address already in use",), (), _EPHEMERAL),
    "c-perror-eacces": Expect(
        "permission-denied-port", ("bind: Permission denied",), (), _PRIVILEGED),
    "c-perror-econnrefused-client": Expect(
        "connection-refused", ("connect: Connection refused",), (), _REFUSED),
    "gcc-compile-error": Expect(
        "compile-error", ("did not compile", "server.c:3:5", "before"), ("return port;",),
        ("server.c:3:5",)),
    "gcc-link-error": Expect(
        "compile-error", ("did not link", "undefined reference to `serve'"), (),
        ("never defined",)),
    "make-gcc-error": Expect(
        "compile-error", ("undefined_port", "server.c:2:12"), (), ("server.c:2:12",)),
    "make-run-exit": Expect(  # not make's "*** [Makefile:2: run] Error 1"
        "exit", ("status 2", "server: no port given"), ("no port given",)),
    "sh-not-found": Expect(
        "command-not-found", ("the command was not found", "sh: 1: socat: not found",
                              "exit status 127"), (), ("`socat`", "grading image")),
    "bash-not-found": Expect(
        "command-not-found", ("socat: command not found", "exit status 127"), (),
        ("`socat`",)),
    "sh-not-found-path": Expect(
        "command-not-found", ("./server: not found",), (), ("`./server`", "build step")),
    "bash-no-such-file": Expect(
        "command-not-found", ("./server: No such file or directory",), (),
        ("`./server`", "build step")),
    "sh-permission-denied": Expect(
        "not-executable", ("not executable", "Permission denied", "exit status 126"), (),
        ("chmod +x", "interpreter")),
    "bash-exec-format": Expect(
        "not-executable", ("Exec format error", "exit status 126"), (),
        ("not a program this machine can run",)),
    "env-interpreter-missing": Expect(
        "command-not-found", ("#! line", "ruby"), (), ("`ruby`", "#!")),
}


def fixture(name: str) -> tuple[dict, bytes]:
    return INDEX[name], (CRASHES / f"{name}.txt").read_bytes()


def test_every_fixture_has_its_expectations_and_its_file():
    assert set(INDEX) == set(EXPECTED)
    for name in INDEX:
        assert (CRASHES / f"{name}.txt").is_file(), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_crash(name):
    entry, stderr = fixture(name)
    expect = EXPECTED[name]
    found = diagnose(entry["exit_code"], stderr, entry["stdout"], role=entry["role"])
    assert found.kind == expect.kind, found
    for part in expect.headline:
        assert part in found.headline, (part, found.headline)
    for part in expect.quoted:
        assert any(part in line for line in found.lines), (part, found.lines)
    for part in expect.hint:
        assert part in found.hint, (part, found.hint)
    assert_well_formed(found)
    for useless in TRAILERS:
        assert useless not in found.headline
        assert not any(useless in line for line in found.lines), (useless, found.lines)
    for frame in LIBRARY_FRAMES:
        assert not any(frame in line for line in found.lines), (frame, found.lines)


def assert_well_formed(found) -> None:
    assert found.kind in KINDS
    assert 0 < len(found.headline) <= MAX_HEADLINE
    assert found.headline.isprintable(), repr(found.headline)
    assert len(found.lines) <= MAX_QUOTED
    assert all(len(line) <= MAX_LINE and line.isprintable() for line in found.lines)


ADDRESS_IN_USE = [name for name, e in EXPECTED.items() if e.kind == "address-in-use"]


@pytest.mark.parametrize("name", ADDRESS_IN_USE)
def test_address_in_use_hint_follows_from_the_role(name):
    """The same evidence: a fixed source port in a client, the server's port in a server."""
    entry, stderr = fixture(name)
    client = diagnose(entry["exit_code"], stderr, role="client")
    server = diagnose(entry["exit_code"], stderr, role="server")
    assert client.kind == server.kind == "address-in-use"
    assert all(part in client.hint for part in _EPHEMERAL)
    assert "SO_REUSEADDR" in server.hint and "Q5" not in server.hint
    assert "SO_REUSEADDR" not in client.hint
    build = diagnose(entry["exit_code"], stderr, role="build")
    assert build.hint == ""


def test_sigpipe_names_the_peer_of_the_role():
    stderr = fixture("c-sigpipe-client")[1]
    assert "the client had already closed" in diagnose(-13, stderr, role="server").hint
    assert "the server had already closed" in diagnose(141, stderr, role="client").hint


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_any_cut_of_a_real_crash_is_handled(name):
    """Output capped mid-way (or a program killed mid-write) never breaks the reading."""
    entry, stderr = fixture(name)
    cuts = {*range(0, len(stderr), 7), len(stderr)}
    for cut in sorted(cuts):
        for text in (stderr[:cut], stderr[cut:]):
            assert_well_formed(diagnose(entry["exit_code"], text, role=entry["role"]))


# Statuses with nothing on stderr


def test_exit_127_alone_is_a_command_not_found():
    found = diagnose(127, b"", role="server")
    assert found.kind == "command-not-found"
    assert "127" in found.headline and "grade.toml" in found.hint


def test_exit_126_alone_is_not_executable():
    found = diagnose(126, "", role="client")
    assert found.kind == "not-executable"
    assert "chmod +x" in found.hint


def test_timeout():
    found = diagnose(None, b"", role="client")
    assert found.kind == "timeout"
    assert "time limit" in found.headline and "EOF" in found.hint
    assert diagnose(-9, b"", role="client", timed_out=True).kind == "timeout"
    assert diagnose(None, b"", role="server").hint == ""


def test_a_timeout_still_quotes_what_it_printed():
    stderr = fixture("python-thread-exception")[1]
    found = diagnose(None, stderr, role="server")
    assert found.kind == "timeout"
    assert any("KeyError" in line for line in found.lines)


def test_oom():
    found = diagnose(137, b"", role="server", oom_killed=True)
    assert found.kind == "oom"
    assert "memory" in found.headline and "memory" in found.hint
    assert diagnose(None, b"", role="server", oom_killed=True).kind == "oom"


def test_clean_exit():
    assert diagnose(0, b"", role="client") == diagnose(0, b"connected\n", role="client")
    found = diagnose(0, b"", role="client")
    assert (found.kind, found.headline, found.lines, found.hint) == (
        "ok", "exited with status 0", (), "")


def test_nonzero_status_with_empty_stderr():
    found = diagnose(3, b"  \n\n", role="server")
    assert found.kind == "exit"
    assert "status 3" in found.headline and "printed nothing" in found.headline
    assert "perror" in found.hint


def test_an_errno_message_on_stdout_counts_when_stderr_is_empty():
    found = diagnose(1, b"", b"echo 1\nconnect: Connection refused\n", role="client")
    assert found.kind == "connection-refused"
    assert found.lines == ("connect: Connection refused",)


def test_stdout_is_not_quoted_as_the_reason():
    found = diagnose(1, b"", b"hello-1\nhello-2\n", role="client")
    assert found.kind == "exit" and found.lines == ()


def test_permission_denied_opening_a_file_is_not_a_port_problem():
    found = diagnose(1, b"fopen: Permission denied\n", role="server")
    assert found.kind == "exit"


def test_unknown_role_is_a_grader_bug():
    with pytest.raises(ValueError):
        diagnose(1, b"", role="tester")


# Hostile output


def test_huge_stderr_is_read_from_its_end_and_stays_fast():
    entry, crash = fixture("python-exception")
    flood = b"debug: got a line from a client\n" * 300_000 + crash  # about 10 MB
    started = time.monotonic()
    found = diagnose(entry["exit_code"], flood, role="server")
    assert time.monotonic() - started < 2.0
    assert found.kind == "exception" and "ZeroDivisionError" in found.headline


def test_one_endless_line():
    found = diagnose(1, b"x" * 5_000_000, role="server")
    assert found.kind == "exit"
    assert_well_formed(found)


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage(seed):
    rng = random.Random(seed)
    garbage = bytes(rng.randrange(256) for _ in range(200_000))
    for code in (1, -11, 139, 127, 0, None):
        assert_well_formed(diagnose(code, garbage, garbage, role="client"))


def test_escape_sequences_and_control_bytes_are_not_quoted():
    found = diagnose(1, b"\x1b[31mbind: Address already in use\x1b[0m\x07\r\n", role="server")
    assert found.kind == "address-in-use"
    assert found.lines == ("bind: Address already in use?",)


# Formats of runtimes this machine does not have, or versions it does not run, from their
# documented shape.

GO_PANIC = """\
panic: listen tcp 127.0.0.1:8080: bind: address already in use

goroutine 1 [running]:
main.listen(...)
\t/home/student/echo/server.go:21
main.main()
\t/home/student/echo/server.go:12 +0x1d4
exit status 2
"""

GO_NIL = """\
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47b9c5]

goroutine 6 [running]:
main.handle({0x0, 0x0})
\t/app/server.go:30 +0x25
created by main.main in goroutine 1
\t/app/server.go:18 +0x7a
"""


def test_go_panic():
    found = diagnose(2, GO_PANIC, role="server")
    assert found.kind == "address-in-use"
    assert found.headline.startswith("panicked: listen tcp 127.0.0.1:8080: bind: address")
    assert "server.go:21, in main.listen" in found.headline
    assert "exit status" not in found.headline
    assert "Go's net package" in found.hint


def test_go_nil_pointer_panic():
    found = diagnose(2, GO_NIL, role="server")
    assert found.kind == "exception"
    assert "nil pointer dereference" in found.headline
    assert "server.go:30, in main.handle" in found.headline
    assert any(line.startswith("[signal SIGSEGV") for line in found.lines)


def test_go_log_fatal():
    found = diagnose(1, "2024/05/01 10:00:00 dial tcp 127.0.0.1:9: connect: connection "
                        "refused\n", role="client")
    assert found.kind == "connection-refused"
    assert "connect: connection refused" in found.headline


def test_go_build_error():
    found = diagnose(1, "# example.com/echo\n./server.go:9:2: undefined: lisen\n",
                     role="build")
    assert found.kind == "compile-error"
    assert "undefined: lisen" in found.headline and "./server.go:9:2" in found.headline


def test_go_deadlock():
    found = diagnose(2, "fatal error: all goroutines are asleep - deadlock!\n\n"
                        "goroutine 1 [chan receive]:\nmain.main()\n\t/app/main.go:8 +0x2d\n",
                     role="client")
    assert found.kind == "exception"
    assert "deadlock" in found.headline and "main.go:8" in found.headline


@pytest.mark.parametrize("header", [
    "thread 'main' panicked at src/main.rs:14:45:",  # Rust 1.73 to 1.9x
    "thread 'main' (4242) panicked at src/main.rs:14:45:",  # with the thread id
])
def test_rust_panic_formats(header):
    stderr = (f"{header}\ncalled `Result::unwrap()` on an `Err` value: Os {{ code: 99, "
              f"kind: AddrNotAvailable, message: \"Cannot assign requested address\" }}\n"
              f"note: run with `RUST_BACKTRACE=1` environment variable to display a "
              f"backtrace\n")
    found = diagnose(101, stderr, role="client")
    assert found.kind == "address-not-available"
    assert "(src/main.rs:14:45)" in found.headline and "RUST_BACKTRACE" not in found.headline


def test_rust_panic_before_1_73():
    stderr = ("thread 'main' panicked at 'index out of bounds: the len is 3 but the index "
              "is 5', src/main.rs:7:13\nnote: run with `RUST_BACKTRACE=1` environment "
              "variable to display a backtrace\n")
    found = diagnose(101, stderr, role="client")
    assert found.kind == "exception"
    assert found.headline == ("panicked: index out of bounds: the len is 3 but the index "
                              "is 5 (src/main.rs:7:13)")


def test_a_worker_panic_is_named_rather_than_mains_unwrap_of_its_join():
    stderr = ("thread '<unnamed>' panicked at src/main.rs:20:9:\nattempt to divide by zero\n"
              "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
              "thread 'main' panicked at src/main.rs:31:23:\ncalled `Result::unwrap()` on an "
              "`Err` value: Any { .. }\n")
    found = diagnose(101, stderr, role="server")
    assert "attempt to divide by zero" in found.headline
    assert "src/main.rs:20:9, in thread '<unnamed>'" in found.headline


def test_the_panic_that_ended_the_program_is_named():
    """A worker's panic ends only its thread; the one after it, in main, ended the program."""
    stderr = ("thread '<unnamed>' panicked at src/main.rs:20:9:\nattempt to divide by zero\n"
              "thread 'main' panicked at src/main.rs:9:50:\ncalled `Result::unwrap()` on an "
              "`Err` value: Os { code: 24, kind: Uncategorized, message: \"Too many open "
              "files\" }\n")
    found = diagnose(101, stderr, role="server")
    assert "Too many open files" in found.headline and "src/main.rs:9:50" in found.headline


def test_node_aggregate_error():
    """Node 20 connecting to `localhost` where ::1 and 127.0.0.1 both refuse."""
    stderr = """\
node:events:497
      throw er; // Unhandled 'error' event
      ^

AggregateError [ECONNREFUSED]:
    at internalConnectMultiple (node:net:1117:18)
    at afterConnectMultiple (node:net:1684:7)
Emitted 'error' event on Socket instance at:
    at emitErrorNT (node:internal/streams/destroy:169:8)
    at process.processTicksAndRejections (node:internal/process/task_queues:82:21) {
  code: 'ECONNREFUSED',
  [errors]: [
    Error: connect ECONNREFUSED ::1:8080
        at createConnectionError (node:net:1647:14) {
      errno: -111,
      code: 'ECONNREFUSED',
    }
  ]
}

Node.js v20.11.0
"""
    found = diagnose(1, stderr, role="client")
    assert found.kind == "connection-refused"
    assert "AggregateError [ECONNREFUSED]" in found.headline
    assert "Node.js" not in found.headline


def test_python_broken_pipe_in_a_server():
    stderr = """\
Traceback (most recent call last):
  File "/submission/server.py", line 14, in serve
    conn.sendall(data)
BrokenPipeError: [Errno 32] Broken pipe
"""
    found = diagnose(1, stderr, role="server")
    assert found.kind == "connection-reset"
    assert "server.py, line 14, in serve" in found.headline


def test_docker_exec_not_found():
    stderr = ('OCI runtime exec failed: exec failed: unable to start container process: '
              'exec: "socat": executable file not found in $PATH: unknown\n')
    found = diagnose(127, stderr, role="server")
    assert found.kind == "command-not-found" and "`socat`" in found.hint


@pytest.mark.parametrize(("stderr", "exit_code", "kind"), [
    ("sh: 1: exec: ./echo_server: not found", 127, "command-not-found"),
    ("sh: 1: exec: ./server: Permission denied", 2, "not-executable"),
])
def test_the_docker_backends_exec_wrapper_is_seen_through(stderr, exit_code, kind):
    # The Docker backend runs a simple command as `exec COMMAND` so that signals reach
    # the student's program; dash then names `exec` in its message.
    found = diagnose(exit_code, stderr + "\n", role="server")
    assert found.kind == kind
    assert "./" in found.hint
