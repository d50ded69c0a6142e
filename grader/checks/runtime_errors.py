"""Reading the error reports runtimes print when a program dies: Python tracebacks, Rust
panics, Node and Java exceptions, Go panics, C assertions and compiler errors.

Pure text in, a Report out. Each reader looks for its runtime's own shape and picks the
lines worth quoting: the error itself and the student's frame, never the runtime's
trailer (`note: run with RUST_BACKTRACE=1`, `Node.js v20`) or library frames.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Report:
    runtime: str  # python, rust, node, java, go, c, compiler
    verb: str  # what the program did, before the message: "crashed with", "panicked:"
    message: str  # "ZeroDivisionError: division by zero"
    where: str  # in the student's code: "server.py, line 2, in average"; "" when unknown
    lines: tuple[str, ...]  # the lines to quote, in the order the runtime printed them
    name: str = ""  # the exception's type, when it has one: "ZeroDivisionError"
    compile_error: bool = False  # the source never ran: a compiler or a SyntaxError


def _base(path: str) -> str:
    return PurePosixPath(path).name or path


def _next(lines: list[str], i: int) -> str:
    return lines[i + 1] if i + 1 < len(lines) else ""


# Python

_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_PY_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?::(?: (?P<message>.*))?)?$")
_PY_LIBRARY = re.compile(r"^<|/lib/(?:python|pypy)\d[\d.]*/|/site-packages/|/dist-packages/")
_PY_SYNTAX = ("SyntaxError", "IndentationError", "TabError")


def _python(lines: list[str]) -> Report | None:
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if starts:
        start = starts[-1] + 1
    else:  # a SyntaxError in the main file comes without a traceback header
        start = next((i for i in range(len(lines) - 1, -1, -1)
                      if (m := _PY_FRAME.match(lines[i])) and not m["func"]), -1)
        if start < 0:
            return None
    frames: list[tuple[re.Match[str], str]] = []
    exception = None
    for i in range(start, len(lines)):
        if frame := _PY_FRAME.match(lines[i]):
            source = _next(lines, i)
            shown = source if source.startswith(" ") and not _PY_FRAME.match(source) else ""
            frames.append((frame, shown))
        elif lines[i] and not lines[i][0].isspace():
            exception = _PY_EXCEPTION.match(lines[i])
            break
    if exception is None or not frames:
        return None
    name = exception["name"]
    if not starts and name.rsplit(".", 1)[-1] not in _PY_SYNTAX:
        return None
    own = [f for f in frames if not _PY_LIBRARY.search(f[0]["path"])] or frames
    frame, source = own[-1]
    func = frame["func"]
    where = f"{_base(frame['path'])}, line {frame['line']}"
    if func and func != "<module>":
        where += f", in {func}"
    header = lines[starts[-1] - 1] if starts and starts[-1] else ""
    shown = [header] if header.startswith("Exception in thread") else []
    shown += [frame.group(0).strip(), source.strip()] if source else [frame.group(0).strip()]
    syntax = name.rsplit(".", 1)[-1] in _PY_SYNTAX
    return Report("python", "did not compile:" if syntax else "crashed with",
                  exception.group(0), where, (*shown, exception.group(0)), name, syntax)


# Rust

_RUST_PANIC = re.compile(r"^thread '(?P<thread>[^']*)'(?: \(\d+\))? panicked at "
                         r"(?:'(?P<message>.*)', )?(?P<where>\S+:\d+:\d+):?$")
_RUST_MAIN_ERROR = re.compile(r"^Error: (?P<message>\w+ \{.*\}|\w+\(.*\))$")
_RUST_USELESS = re.compile(r"Any \{ \.\. \}|PoisonError")


def _rust(lines: list[str]) -> Report | None:
    panics = []
    for i, line in enumerate(lines):
        if not (m := _RUST_PANIC.match(line)):
            continue
        body = [m["message"]] if m["message"] is not None else []
        if not body:  # since Rust 1.73 the message follows on its own lines
            for text in lines[i + 1:i + 4]:
                if not text.strip() or text.startswith(("note: ", "stack backtrace:")):
                    break
                body.append(text)
        shown = (line,) if m["message"] is not None else (line, *body)
        panics.append((m, " ".join(body), shown))
    if panics:
        useful = [p for p in panics if not _RUST_USELESS.search(p[1])] or panics
        m, message, shown = useful[-1]  # a thread's panic, not main's unwrap of its join
        where = m["where"] + (f", in thread '{m['thread']}'" if m["thread"] != "main" else "")
        return Report("rust", "panicked:", message, where, shown)
    for line in reversed(lines):
        if m := _RUST_MAIN_ERROR.match(line):
            return Report("rust", "returned an error from main:", m["message"], "", (line,))
    return None


# Node

_NODE_ERROR = re.compile(r"^(?P<name>[A-Z]\w*)(?: \[(?P<code>\w+)\])?: ?(?P<message>.*)$")
_NODE_FRAME = re.compile(r"^\s+at (?:(?P<func>.+?) \()?(?P<path>[^()\s]+?):(?P<line>\d+)"
                         r":(?P<col>\d+)\)?$")
_NODE_CODE = re.compile(r"^\s+code: '(?P<code>\w+)',?$")


def _node(lines: list[str]) -> Report | None:
    found = [i for i, line in enumerate(lines)
             if _NODE_ERROR.match(line) and _NODE_FRAME.match(_next(lines, i))]
    if not found:
        return None
    i = found[-1]
    error = lines[i]
    frames = []
    for line in lines[i + 1:]:
        if not (m := _NODE_FRAME.match(line)):
            break
        frames.append(m)
    own = [m for m in frames if not m["path"].startswith(("node:", "internal/"))
           and "/node_modules/" not in m["path"]]
    shown = [error]
    where = ""
    if own:
        m = own[0]
        where = f"{_base(m['path'])}:{m['line']}:{m['col']}"
        if m["func"] and "<anonymous>" not in m["func"]:
            where += f", in {m['func']}"
        shown.append(m.group(0).strip())
    code = next((m for line in lines[i:] if (m := _NODE_CODE.match(line))), None)
    if code:
        shown.append(code.group(0).strip().rstrip(","))
    name = _NODE_ERROR.match(error)["name"]  # type: ignore[index]
    return Report("node", "crashed with", error, where, tuple(shown), name)


# Java (and other JVM languages)

_JAVA_EXCEPTION = re.compile(r'^(?:Exception in thread "(?P<thread>[^"]*)" )?'
                             r"(?P<name>[\w$]+(?:\.[\w$]+)*)(?:: (?P<message>.*))?$")
_JAVA_FRAME = re.compile(r"^\s+at (?:(?P<module>[\w.]+(?:@[\w.-]+)?)/)?(?P<method>[\w$.<>]+)"
                         r"\((?P<source>[^)]*)\)$")
_JAVA_CAUSE = re.compile(r"^Caused by: (?P<cause>.+)$")
_JVM_LIBRARY = ("java.", "javax.", "sun.", "jdk.", "com.sun.", "kotlin.", "scala.")


def _java(lines: list[str]) -> Report | None:
    found = []
    for i, line in enumerate(lines):
        m = _JAVA_EXCEPTION.match(line)
        if m and _JAVA_FRAME.match(_next(lines, i)) and ("." in m["name"] or m["thread"]):
            found.append(i)
    if not found:
        return None
    uncaught = [i for i in found if lines[i].startswith("Exception in thread")]
    i = (uncaught or found)[-1]
    m = _JAVA_EXCEPTION.match(lines[i])
    assert m is not None
    message = m["name"] + (f": {m['message']}" if m["message"] is not None else "")
    shown = [lines[i]]
    where = ""
    causes = []
    for line in lines[i + 1:]:
        if cause := _JAVA_CAUSE.match(line):
            causes.append(cause.group(0))
        elif (frame := _JAVA_FRAME.match(line)) is None:
            if not line.strip().startswith("..."):
                break
        elif not where and not frame["module"] and not frame["method"].startswith(_JVM_LIBRARY):
            where = f"{frame['source']}, in {frame['method']}"
            shown.append(line.strip())
    if m["thread"] not in (None, "main"):
        where = f"{where}, in thread {m['thread']}" if where else f"in thread {m['thread']}"
    shown += causes[-1:]
    return Report("java", "crashed with", message, where, tuple(shown),
                  m["name"].rsplit(".", 1)[-1])


# Go

_GO_PANIC = re.compile(r"^(?:panic: (?P<panic>.+?)|fatal error: (?P<fatal>.+))$")
_GO_FUNC = re.compile(r"^(?P<func>main\.[\w.*()\[\]]+)\(.*\)$")
_GO_FILE = re.compile(r"^\t(?P<path>\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$")


def _go(lines: list[str]) -> Report | None:
    found = [i for i, line in enumerate(lines) if _GO_PANIC.match(line)]
    if not found:
        return None
    i = found[0]  # a panic while panicking repeats itself: the first is the cause
    m = _GO_PANIC.match(lines[i])
    assert m is not None
    shown = [lines[i]]
    if _next(lines, i).startswith("[signal "):
        shown.append(_next(lines, i))
    where = ""
    for j in range(i + 1, len(lines) - 1):
        if (func := _GO_FUNC.match(lines[j])) and (file := _GO_FILE.match(lines[j + 1])):
            where = f"{_base(file['path'])}:{file['line']}, in {func['func']}"
            shown += [lines[j], lines[j + 1].strip()]
            break
    if m["panic"]:
        return Report("go", "panicked:", m["panic"], where, tuple(shown))
    return Report("go", "crashed with", lines[i], where, tuple(shown))


# C

_C_ASSERT = re.compile(r"^(?:[^:]+: )?(?P<path>[^:\s]+):(?P<line>\d+): (?P<func>[^:]+): "
                       r"Assertion [`'](?P<expression>.*)' failed\.$")


def _c_assert(lines: list[str]) -> Report | None:
    for line in reversed(lines):
        if m := _C_ASSERT.match(line):
            where = f"{_base(m['path'])}:{m['line']}, in {m['func']}"
            message = f"assertion `{m['expression']}` failed"
            return Report("c", "crashed with", message, where, (line,))
    return None


# Compilers: the first error is the one to fix; the rest often follow from it.

_CC_ERROR = re.compile(r"^(?P<where>[^\s:][^:]*:\d+(?::\d+)?): (?:fatal )?error: (?P<message>.+)$")
_TSC_ERROR = re.compile(r"^(?P<where>\S+\(\d+,\d+\)): error (?P<message>TS\d+: .+)$")
_GO_BUILD = re.compile(r"^(?P<where>\S+\.go:\d+:\d+): (?P<message>.+)$")
_RUSTC_ERROR = re.compile(r"^error(?:\[(?P<code>E\d+)\])?: (?P<message>.+)$")
_RUSTC_WHERE = re.compile(r"^\s*--> (?P<where>\S+:\d+:\d+)$")
_LINK_ERROR = re.compile(r"^(?P<where>[^:\s]+):\([^)]*\): (?P<message>undefined reference to .+)$")
_NOT_AN_ERROR = re.compile(r"^error: (?:could not compile|aborting due to)")
_CONTEXT = re.compile(r"^(?:\s|\d+\s+\|)")


def _with_context(lines: list[str], i: int, most: int = 3) -> tuple[str, ...]:
    """The error line and the source lines under it (gcc's and rustc's gutters, carets)."""
    shown = [lines[i]]
    for line in lines[i + 1:i + 8]:
        if len(shown) > most or not _CONTEXT.match(line) or _CC_ERROR.match(line):
            break
        if line.strip(" |"):  # rustc's empty gutter lines say nothing
            shown.append(line)
    return tuple(shown)


def _compiler(lines: list[str]) -> Report | None:
    for i, line in enumerate(lines):
        for pattern in (_CC_ERROR, _TSC_ERROR, _GO_BUILD):
            if (m := pattern.match(line)) and not line.startswith("collect2:"):
                return Report("compiler", "did not compile:", m["message"], m["where"],
                              _with_context(lines, i), compile_error=True)
        if (m := _RUSTC_ERROR.match(line)) and not _NOT_AN_ERROR.match(line):
            where = next((w["where"] for text in lines[i + 1:i + 3]
                          if (w := _RUSTC_WHERE.match(text))), "")
            message = m["message"] + (f" ({m['code']})" if m["code"] else "")
            return Report("compiler", "did not compile:", message, where,
                          _with_context(lines, i), compile_error=True)
        if m := _LINK_ERROR.match(line):
            return Report("compiler", "did not link:", m["message"], m["where"], (line,),
                          compile_error=True)
    return None


# The first that recognises its shape wins. The compilers come last: their shape is the
# loosest (any `file:line:col: message` line).
READERS: tuple[Callable[[list[str]], Report | None], ...] = (
    _python, _rust, _java, _node, _go, _c_assert, _compiler)


def read_report(lines: list[str]) -> Report | None:
    """The runtime's own report of why the program died, from its output's lines."""
    for reader in READERS:
        if (report := reader(lines)) is not None:
            return report
    return None
