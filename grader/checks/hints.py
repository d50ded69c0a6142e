"""What a student should do next, given how their program ended (see diagnosis.py).

Each hint follows from the evidence (the kind of ending, what the runtime named) and the
program's role: the same EADDRINUSE means a fixed source port in a client but a missing
SO_REUSEADDR in a server.
"""

from __future__ import annotations

import re

from .runtime_errors import Report

# Runtimes whose listening sockets get SO_REUSEADDR without being asked (checked with
# strace for node, java and rustc's std; Go's net package documents it), so a server in
# one of them is not failing on its own run's TIME_WAIT connections.
REUSEADDR_BY_DEFAULT = {"node": "Node", "java": "Java's ServerSocket", "rust": "Rust's std",
                        "go": "Go's net package"}

SIGNAL_MEANINGS = {
    "SIGSEGV": "a memory error",
    "SIGBUS": "a memory error",
    "SIGABRT": "it aborted itself",
    "SIGFPE": "an arithmetic error, such as an integer division by zero",
    "SIGPIPE": "it wrote to a connection the other side had closed",
    "SIGILL": "an illegal instruction",
}

_MEMORY = ("A memory error: a null or dangling pointer, an array indexed past its end, or a "
           "stack overflow. Build with -g -fsanitize=address and run it again: it names the "
           "line.")
_SIGNAL_HINTS = {
    "SIGSEGV": _MEMORY,
    "SIGBUS": _MEMORY,
    "SIGABRT": "It aborted itself: a failed assert(), or the C library catching a memory "
               "error (double free, corrupted heap, stack smashing). The message before it "
               "says which.",
    "SIGFPE": "An integer division by zero (or overflow): check the divisor first.",
    "SIGILL": "An illegal instruction: a binary built for another CPU, or undefined "
              "behaviour. Build it in the grading image.",
    "SIGKILL": "SIGKILL cannot be caught or ignored: the sandbox sends it when a program "
               "reaches a time, memory or process limit.",
    "SIGXCPU": "It used up its CPU time: a loop that spins instead of blocking in accept(), "
               "recv() or select()/poll().",
    "SIGXFSZ": "It wrote a file larger than the sandbox allows.",
}
_SIGPIPE = ("It wrote to a connection {peer} had already closed, and SIGPIPE's default action "
            "ends the whole process: ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or send with "
            "MSG_NOSIGNAL, then treat the EPIPE error as the end of that connection.")

_BY_ROLE = {
    ("address-in-use", "client"):
        "Your client binds a fixed source port that is still in use (by another connection "
        "or one in TIME_WAIT). Don't call bind() in a client: connect() alone lets the OS "
        "pick a free ephemeral port for each connection (quiz Q5).",
    ("address-in-use", "server"):
        "The port was still taken when your server called bind(), typically by the "
        "TIME_WAIT connections its previous run left behind: set SO_REUSEADDR on the "
        "listening socket between socket() and bind() (quiz Q2).",
    ("address-not-available", "client"):
        "Your client binds a fixed source address or port: an address this machine does "
        "not have, or a port whose earlier connection to the same server is still in "
        "TIME_WAIT. Don't call bind() in a client: connect() picks the source address and "
        "an ephemeral port (quiz Q5).",
    ("address-not-available", "server"):
        "Your server binds an address this machine does not have: bind to the host it is "
        "given, or to every address (0.0.0.0, or the empty host).",
    ("connection-refused", "client"):
        "Nothing was listening where your client connected: connect to the host and port "
        "given as its arguments, not to a fixed host or port. (The grader starts the "
        "server, and waits until it listens, before it runs your client.)",
    ("connection-refused", "server"):
        "Your server itself connected somewhere and was refused: check the host and port "
        "it connects to.",
    ("connection-reset", "server"):
        "A client closed or reset its connection while your server was still using it. "
        "That is normal: treat a reset or a broken pipe (ECONNRESET, EPIPE) as the end of "
        "that one connection, and keep serving the others.",
    ("connection-reset", "client"):
        "The server closed or reset the connection while your client was still using it: "
        "look at what the server did with what your client sent.",
    ("permission-denied-port", "server"):
        "Ports below 1024 are privileged and the grader runs your server as an ordinary "
        "user: listen on the port given as its argument.",
    ("permission-denied-port", "client"):
        "Your client binds a privileged port (below 1024). Don't call bind() in a client: "
        "connect() picks an ephemeral port (quiz Q5).",
    ("timeout", "client"):
        "Your client should exit by itself once its input ends (EOF on stdin) and every "
        "reply has arrived: after the last line, shut down its sending side, read until "
        "the server closes, then exit.",
    ("timeout", "build"):
        "The build did not finish in time: is it waiting for input, or downloading "
        "dependencies?",
}
_OOM = ("It used more memory than the sandbox allows: look for data that grows with every "
        "message or connection and is never freed (a buffer that only grows, a thread or "
        "process per client that never ends).")
_MISSING_MODULE = re.compile(r"No module named '(?P<module>[^']+)'|Cannot find module "
                             r"'(?P<package>[^'./][^']*)'")


def hint_for(kind: str, role: str, *, report: Report | None = None, signal: str = "",
             named: str = "", flavour: str = "", quiet: bool = False) -> str:
    """The hint for a diagnosis; `named` is the command or file the launch error names,
    `flavour` a finer kind (`exec-format`), `quiet` that the program printed nothing."""
    if hint := _BY_ROLE.get((kind, role)):
        if kind == "address-in-use" and role == "server" and report \
                and report.runtime in REUSEADDR_BY_DEFAULT:
            return (f"Another socket was already listening on that port when your server "
                    f"bound it ({REUSEADDR_BY_DEFAULT[report.runtime]} sets SO_REUSEADDR "
                    f"itself, so TIME_WAIT connections are not the cause): make sure it "
                    f"listens once, on the port it was given.")
        return hint
    shown = f"`{named}`" if named else "The command"
    if kind == "command-not-found" and flavour == "interpreter":
        return (f"The #! line of the script names {shown}, which the grading image does not "
                f"have: name an interpreter it has (#!/usr/bin/env python3), or run the "
                f"script through one.")
    if kind == "command-not-found":
        if role == "build":
            return (f"{shown} is not installed in the grading image, so this build step "
                    f"cannot run: use a compiler or build tool the image has.")
        return (f"{shown} does not exist in the grading image: a program your build should "
                f"have made but did not (is its build step in grade.toml?), a path relative "
                f"to the wrong folder (commands run in your submission's folder), or a tool "
                f"the image does not have.")
    if kind == "not-executable" and flavour == "exec-format":
        return (f"{shown} is not a program this machine can run: a binary built elsewhere "
                f"(another OS or CPU) or a script without a #! line. Build it in the grading "
                f"image with a build step in grade.toml, or run it through its interpreter.")
    if kind == "not-executable":
        return (f"{shown} is not executable: mark it executable (chmod +x, and commit that: "
                f"git update-index --chmod=+x) or run it through its interpreter "
                f"(python3 server.py, sh run.sh).")
    if kind == "file-not-found":
        return (f"{shown} does not exist where the command looks for it: check its name, "
                f"case and folder (commands run in your submission's folder), and that a "
                f"build step makes it if it is built.")
    if kind == "compile-error" and report and report.verb == "did not link:":
        return (f"{report.message[0].upper()}{report.message[1:]}: a function is declared but "
                f"never defined. Add its definition, or the source file or library (-l...) "
                f"that has it to the build command.")
    if kind == "compile-error" and report and report.runtime == "python":
        return (f"Fix the syntax error at {report.where}: Python reads the whole file before "
                f"it runs any of it, so nothing ran.")
    if kind == "compile-error":
        where = f" ({report.where})" if report and report.where else ""
        return (f"Fix the first error the compiler reports{where}; later errors often "
                f"follow from it. Build it yourself with the same command before submitting.")
    if kind == "exception" and report:
        return _exception_hint(report, role)
    if kind == "signal":
        if signal == "SIGPIPE":
            return _SIGPIPE.format(peer="the client" if role == "server" else "the server")
        return _SIGNAL_HINTS.get(signal, "")
    if kind == "oom":
        return _OOM
    if kind == "exit" and quiet:
        return ("It printed nothing on stderr before exiting with an error: print why "
                "(perror(), the exception's message) so you can tell what went wrong.")
    return ""


def _exception_hint(report: Report, role: str) -> str:
    text = f"{report.message}\n" + "\n".join(report.lines)
    if m := _MISSING_MODULE.search(text):
        return (f"The module `{m['module'] or m['package']}` is not installed in the grading "
                f"image: use the standard library, or include the module in your submission.")
    if report.name in ("MemoryError", "OutOfMemoryError"):
        return _OOM
    if report.name in ("RecursionError", "StackOverflowError"):
        return "A function calls itself without end" + (
            f" ({report.where})." if report.where else ".")
    what = report.name or ("panic" if report.verb.startswith("panicked") else "error")
    where = f" at {report.where}" if report.where else ""
    if role == "server":
        return (f"Fix the {what}{where}. Handle errors per connection too, so that one "
                f"client's failure ends that connection, not the whole server.")
    return f"Fix the {what}{where}." if where else ""
