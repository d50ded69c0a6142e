"""How a student program ended, in words a student can act on.

`diagnose` turns an exit status and what the program printed into a Diagnosis: a kind
from a small closed vocabulary, a one-line headline, the few lines worth quoting and a
hint that follows from that evidence and from the program's role. It is pure: text in,
record out, so it is tested against real runtimes' output without running anything.

The headline reads after "your server " / "your client " / "your build ":
"crashed with ZeroDivisionError: division by zero (server.py, line 2, in average)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..pod.base import Completed, describe_status
from .hints import SIGNAL_MEANINGS, hint_for
from .runtime_errors import Report, read_report

KINDS = (
    "command-not-found",  # the shell could not find the command (exit 127)
    "not-executable",  # the command exists but cannot be run (exit 126)
    "file-not-found",  # the interpreter ran, but the file it was told to run is missing
    "compile-error",  # a compiler's error, or a SyntaxError: the code never ran
    "address-in-use",  # EADDRINUSE
    "address-not-available",  # EADDRNOTAVAIL
    "connection-refused",  # ECONNREFUSED
    "connection-reset",  # ECONNRESET or EPIPE: the other side closed first
    "permission-denied-port",  # EACCES binding a privileged port
    "exception",  # an uncaught exception or panic, in any language
    "signal",  # killed by a signal (SIGSEGV, SIGABRT, SIGPIPE...)
    "exit",  # a non-zero exit with nothing more specific to say
    "timeout",  # still running at its deadline, and stopped
    "oom",  # killed at the sandbox's memory limit
    "ok",  # exit status 0 and no error in sight
)
ROLES = ("server", "client", "build")

MAX_INPUT = 64_000  # characters of each stream read, from the end, where the error is
MAX_SCANNED_LINES = 3_000
MAX_LINE = 200  # characters of a quoted line
MAX_HEADLINE = 160
MAX_QUOTED = 6


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # one of KINDS
    headline: str  # one line, at most MAX_HEADLINE characters
    lines: tuple[str, ...]  # at most MAX_QUOTED lines to quote to the student
    hint: str  # what to do next; "" when nothing specific follows from the evidence


_SHELL = r"(?:\S*/)?(?:sh|bash|dash|ash|zsh|ksh|mksh|busybox)(?:: line \d+|: \d+)?"
_LAUNCH = (
    # dash names `exec` where the Docker backend runs a simple command as `exec COMMAND`
    ("command-not-found", re.compile(
        rf"^{_SHELL}: (?:exec: )?(?P<command>[^:]+): (?:command )?not found$")),
    ("command-not-found", re.compile(
        r"^\S+(?:: line \d+)?: (?P<command>[^:]+): command not found$")),
    ("command-not-found", re.compile(
        rf"^{_SHELL}: (?:exec: )?(?P<command>[^:]+): (?:No such file or directory|cannot execute: "
        r"required file not found)$")),
    ("command-not-found/interpreter", re.compile(  # the #! line names a missing program
        r"^(?:\S*/)?env: ['‘\"]?(?P<command>[^'’\"]+?)['’\"]?: No such file or directory$")),
    ("command-not-found", re.compile(r'exec: "?(?P<command>[^":]+)"?: executable file not found')),
    ("not-executable", re.compile(
        rf"^{_SHELL}: (?:exec: )?(?P<command>[^:]+): Permission denied$")),
    ("not-executable", re.compile(r'exec: "?(?P<command>[^":]+)"?: permission denied')),
    ("not-executable/exec-format", re.compile(
        r"^\S+(?:: line \d+)?: (?P<command>[^:]+): cannot execute binary file(?:: .*)?$")),
    ("not-executable/exec-format", re.compile(r"(?i)(?P<command>)exec format error")),
    ("file-not-found", re.compile(
        r"^\S*python[\d.]*: can't open file ['\"](?P<file>.+)['\"]: \[Errno 2\] No such file")),
    ("file-not-found", re.compile(r"^Error: Cannot find module '(?P<file>[./][^']*)'$")),
    ("file-not-found", re.compile(r"^Error: Could not find or load main class (?P<file>\S+)$")),
    ("file-not-found", re.compile(r"^Error: Unable to access jarfile (?P<file>.+)$")),
    ("file-not-found", re.compile(
        r"^\S+: (?:fatal )?error: (?P<file>[^:]+): No such file or directory$")),
    ("file-not-found", re.compile(
        r"^make(?:\[\d+\])?: \*\*\* No rule to make target ['`‘](?P<file>[^'’]+)['’]")),
    ("file-not-found", re.compile(r"^error: could not find `(?P<file>Cargo\.toml)`")),
)

_LAUNCH_WORDS = {
    "command-not-found": "the command was not found",
    "interpreter": "the interpreter its #! line names was not found",
    "not-executable": "the command is not executable",
    "exec-format": "the command is not a program this machine can run",
    "file-not-found": "a file it names does not exist",
}

_ERRNO = (
    ("address-in-use", re.compile(
        r"EADDRINUSE|address already in use|\[Errno 98\]|os error 98\b|code: 98\b|AddrInUse",
        re.I)),
    ("address-not-available", re.compile(
        r"EADDRNOTAVAIL|cannot assign requested address|\[Errno 99\]|os error 99\b"
        r"|code: 99\b|AddrNotAvailable", re.I)),
    ("connection-refused", re.compile(
        r"ECONNREFUSED|connection refused|\[Errno 111\]|os error 111\b|code: 111\b"
        r"|ConnectionRefused", re.I)),
    ("connection-reset", re.compile(
        r"ECONNRESET|EPIPE\b|ECONNABORTED|connection reset|broken pipe|connection abort"
        r"|\[Errno (?:104|32|103)\]|os error (?:104|32|103)\b|code: (?:104|32|103)\b", re.I)),
    ("permission-denied-port", re.compile(
        r"EACCES|permission denied|\[Errno 13\]|os error 13\b|code: 13\b", re.I)),
)
# "Permission denied" is about a port only where the program was binding or listening.
_BIND_CONTEXT = re.compile(r"\bbind\b|\blisten\b|BindException|\.bind\(|\.listen\(", re.I)

_SIGNAL_WORDS = (r"(?:Segmentation fault|Aborted|Killed|Bus error|Floating point exception"
                 r"|Broken pipe|Illegal instruction|CPU time limit exceeded"
                 r"|File size limit exceeded)")
_TRAILERS = re.compile(
    r"^(?:note: run with `RUST_BACKTRACE=|Node\.js v\d|\(Use `node --trace-|exit status \d+$"
    r"|make(?:\[\d+\])?: \*\*\* \[|collect2: error: ld returned|error: could not compile `"
    r"|error: aborting due to|For more information about (?:this|an) error|\d+ (?:error|warning)s?$"
    r"|Some errors have detailed explanations"
    # a shell restating that its child died of a signal (bash names the pid, dash does
    # not): the headline names the signal already
    rf"|.*: line \d+: +\d+ +{_SIGNAL_WORDS}\b|{_SIGNAL_WORDS}(?: +\(core dumped\))?$)")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _lines(text: str | bytes) -> list[str]:
    """The end of a stream as lines, bounded, with escapes and control bytes made harmless."""
    if isinstance(text, bytes):
        text = text[-4 * MAX_INPUT:].decode("utf-8", errors="replace")
    cut = len(text) > MAX_INPUT
    text = _ANSI.sub("", text[-MAX_INPUT:]).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")[1 if cut else 0:]  # after a cut the first line is partial
    return [_printable(line[:1000]).rstrip() for line in lines[-MAX_SCANNED_LINES:]]


def _printable(line: str) -> str:
    """Control bytes, unassigned code points and bidi overrides shown as `?`, so a quoted
    line can neither garble a terminal nor reorder a report's text."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() or c == "\t" else "?" for c in line)


def _meaningful(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip() and not _TRAILERS.match(line)]


def _shown(line: str) -> str:
    line = line.expandtabs(4).rstrip()
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


def _fit(text: str, room: int) -> str:
    return text if len(text) <= room else text[:max(room - 1, 0)] + "…"


def _signal_name(exit_code: int) -> str:
    words = describe_status(exit_code)
    m = re.search(r"\b(SIG[A-Z0-9]+)\b", words)
    return m[1] if m else ""


def _errno_kind(text: str, context: str) -> str:
    for kind, pattern in _ERRNO:
        if pattern.search(text) and (kind != "permission-denied-port"
                                     or _BIND_CONTEXT.search(context)):
            return kind
    return ""


def _launch(lines: list[str]) -> tuple[str, str, str] | None:
    """(kind, the line that says so, the command or file named) when it never started."""
    for line in reversed(lines):
        for kind, pattern in _LAUNCH:
            if m := pattern.search(line):
                named = m.groupdict().get("command") or m.groupdict().get("file") or ""
                return kind, line, named.strip()
    return None


def diagnose_run(completed: Completed, role: str) -> Diagnosis:
    """How a program that ran to completion (or to its deadline) ended."""
    return diagnose(completed.exit_code, completed.stderr, completed.stdout, role=role,
                    timed_out=completed.timed_out)


def diagnose(exit_code: int | None, stderr: str | bytes, stdout: str | bytes = "", *,
             role: str, timed_out: bool = False, oom_killed: bool = False) -> Diagnosis:
    """How a program ended: `exit_code` None means it was stopped at its deadline (as
    `Completed.exit_code`), negative means killed by that signal. Never raises on any
    output, however long or binary."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    err = _lines(stderr)
    said = _meaningful(err)
    report = read_report(err)
    if report is None and not said:
        # Only an error report or an errno message counts from stdout: the rest of it is
        # the program's output, not a word about why it ended.
        out = _lines(stdout)[-200:]
        report = read_report(out)
        context = "\n".join(out)
        said = [line for line in _meaningful(out) if _errno_kind(line, context)]
    status = "" if exit_code is None else f"exit status {exit_code}"
    signal = ""
    if exit_code is not None and exit_code != 0:
        signal = _signal_name(exit_code) or (f"signal {-exit_code}" if exit_code < 0 else "")

    if oom_killed:
        head = describe_status(exit_code, oom_killed=True) if exit_code is not None \
            else "was killed for using more memory than the sandbox allows"
        return _make("oom", head, report, said, role)
    if timed_out or exit_code is None:
        return _make("timeout", "was still running at its time limit and was stopped",
                     report, said, role)
    # A failed start is the program's last word (Node adds its stack after it).
    if launch := _launch([*said[-3:], *(report.lines[:1] if report else ())]):
        kind, line, named = launch
        kind, _, flavour = kind.partition("/")
        what = _LAUNCH_WORDS[flavour or kind]
        room = MAX_HEADLINE - len(what) - len(status) - len("could not start: ( , )")
        head = f"could not start: {what} ({_fit(line, room)}, {status})"
        return _finish(kind, head, (line,), role, named=named, flavour=flavour)
    if signal:
        # what it printed as it died (an assertion, glibc's "double free") says why
        detail = report.message if report else said[-1] \
            if said and signal == "SIGABRT" else ""
        head = describe_status(exit_code)
        if not detail and ":" not in head:
            detail = SIGNAL_MEANINGS.get(signal, "")
        head += f": {detail}" if detail else ""
        if report and report.where:
            head = f"{_fit(head, MAX_HEADLINE - len(report.where) - 3)} ({report.where})"
        return _make("signal", head, report, said, role, signal=signal)
    if report and report.compile_error:
        return _make("compile-error", _report_headline(report, exit_code), report, said, role)
    context = "\n".join(err)
    if report:
        kind = _errno_kind(report.message, context) or _errno_kind("\n".join(report.lines),
                                                                   context) or "exception"
        return _make(kind, _report_headline(report, exit_code), report, said, role)
    for line in reversed(said):
        if kind := _errno_kind(line, context):
            head = f"{describe_status(exit_code)}: {line.strip()}"
            return _make(kind, head, None, said[:said.index(line) + 1], role)
    if exit_code == 0:
        if role == "server" and said:  # a server has no reason to end: its last words
            return Diagnosis("ok", _fit(f"exited with status 0: {said[-1].strip()}",
                                        MAX_HEADLINE), tuple(_shown(s) for s in said[-3:]), "")
        return Diagnosis("ok", "exited with status 0", (), "")
    if exit_code in (126, 127) and not said:
        kind = "command-not-found" if exit_code == 127 else "not-executable"
        head = f"could not start: {status} means the command was " + (
            "not found" if exit_code == 127 else "not executable")
        return _finish(kind, head, (), role)
    head = describe_status(exit_code)
    head += f": {said[-1].strip()}" if said else " and printed nothing on stderr"
    return _make("exit", head, None, said, role)


def _report_headline(report: Report, exit_code: int) -> str:
    where = f" ({report.where})" if report.where else ""
    verb = report.verb if exit_code != 0 else "exited with status 0, but printed"
    return f"{_fit(f'{verb} {report.message}', MAX_HEADLINE - len(where))}{where}"


def _make(kind: str, headline: str, report: Report | None, said: list[str], role: str,
          signal: str = "") -> Diagnosis:
    quoted = report.lines if report else tuple(said[-3:])
    return _finish(kind, headline, quoted, role, report=report, signal=signal,
                   quiet=not said)


def _finish(kind: str, headline: str, quoted: tuple[str, ...], role: str, *,
            report: Report | None = None, signal: str = "", named: str = "",
            flavour: str = "", quiet: bool = False) -> Diagnosis:
    hint = hint_for(kind, role, report=report, signal=signal, named=named,
                    flavour=flavour, quiet=quiet)
    return Diagnosis(kind, _fit(" ".join(headline.split()), MAX_HEADLINE),
                     tuple(_shown(line) for line in quoted[:MAX_QUOTED]), hint)
