#!/usr/bin/env python3
"""Regenerate the crash fixtures: tiny programs that really fail, in every runtime this
machine has, with their stderr saved as <name>.txt and their exit status in index.json.

    python3 tests/data/crashes/capture.py [NAME ...]

Only loopback is used: a port held by a listener (for "address in use"), a port bound but
not listening (for "connection refused"), and port 80 for an unprivileged user. Every
program runs under a timeout. Cases whose runtime is missing here are skipped and keep
their old fixture. The `go` toolchain is absent on the machine these were made on, so Go's
formats are tested from their documented shape in test_diagnosis.py instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@dataclass
class Case:
    name: str
    role: str
    runtime: str  # the tool the case needs; skipped when missing
    command: list[str]  # {held} and {closed} are replaced by ports
    files: dict[str, str] = field(default_factory=dict)
    build: list[list[str]] = field(default_factory=list)
    mode: dict[str, int] = field(default_factory=dict)  # file -> chmod mode
    raw: dict[str, bytes] = field(default_factory=dict)  # binary files


PY_SERVER_BIND = """\
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket()
    listener.bind((host, port))
    listener.listen()


main()
"""

PY_CLIENT_BIND = """\
import socket
import sys


def connect(host, port, source):
    sock = socket.socket()
    sock.bind(source)
    sock.connect((host, port))
    return sock


connect(sys.argv[1], int(sys.argv[2]), (sys.argv[3], int(sys.argv[4])))
"""

C_SERVER_BIND = """\
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    return 0;
}
"""

RUST_BIND = """\
use std::net::TcpListener;

fn main() {
    let port: u16 = std::env::args().nth(1).unwrap().parse().unwrap();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    drop(listener);
}
"""

JAVA_BIND = """\
import java.net.ServerSocket;

public class Server {
    public static void main(String[] args) throws Exception {
        ServerSocket listener = new ServerSocket(Integer.parseInt(args[0]));
        listener.close();
    }
}
"""

NODE_LISTEN = """\
const net = require('net');
const server = net.createServer((socket) => socket.pipe(socket));
server.listen(Number(process.argv[3]), process.argv[2]);
"""

GCC = ["gcc", "-o", "server", "server.c"]
RUSTC = ["rustc", "-o", "server", "src/main.rs"]
NOT_BUILT = {"README": "the build step that makes ./server is missing\n"}

CASES = [
    # Python
    Case("python-exception", "server", "python3", ["python3", "server.py"], {"server.py": """\
def average(total, count):
    return total / count


def handle(request):
    return average(len(request), request.count("\\n"))


handle("no newline here")
"""}),
    Case("python-chained", "server", "python3", ["python3", "server.py"], {"server.py": """\
import json


def load_config(text):
    try:
        return json.loads(text)
    except ValueError:
        raise RuntimeError("config.json is not valid JSON")


load_config("{port: 1}")
"""}),
    Case("python-eaddrinuse-server", "server", "python3",
         ["python3", "server.py", "127.0.0.1", "{held}"], {"server.py": PY_SERVER_BIND}),
    Case("python-eaddrinuse-client", "client", "python3",
         ["python3", "client.py", "127.0.0.1", "{held}", "127.0.0.1", "{held}"],
         {"client.py": PY_CLIENT_BIND}),
    Case("python-eaddrnotavail-client", "client", "python3",
         ["python3", "client.py", "127.0.0.1", "{held}", "192.0.2.1", "5000"],
         {"client.py": PY_CLIENT_BIND}),
    Case("python-econnrefused-client", "client", "python3",
         ["python3", "client.py", "127.0.0.1", "{closed}"], {"client.py": """\
import socket
import sys


def main():
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    sock.close()


main()
"""}),
    Case("python-eacces-server", "server", "python3",
         [*NOBODY, "python3", "server.py", "127.0.0.1", "80"], {"server.py": PY_SERVER_BIND}),
    Case("python-econnreset-server", "server", "python3", ["python3", "server.py"],
         {"server.py": """\
import socket
import struct


def handle(conn):
    return conn.recv(1024)


listener = socket.create_server(("127.0.0.1", 0))
peer = socket.create_connection(listener.getsockname())
conn, _ = listener.accept()
peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
peer.close()  # with a zero linger: an RST, as a client that died would send
handle(conn)
"""}),
    Case("python-thread-exception", "server", "python3", ["python3", "server.py"],
         {"server.py": """\
import threading


def handle(client):
    return client["name"].upper()


worker = threading.Thread(target=handle, args=({},))
worker.start()
worker.join()
"""}),
    Case("python-missing-file", "server", "python3", ["python3", "server.py", "8080"]),
    Case("python-syntax-error", "server", "python3", ["python3", "server.py"],
         {"server.py": "import socket\n\ndef main(:\n    pass\n"}),
    Case("python-module-not-found", "client", "python3", ["python3", "client.py"],
         {"client.py": "import socket\nimport trio_websocket_not_installed\n"}),
    Case("python-usage-exit", "client", "python3", ["python3", "client.py"],
         {"client.py": "import sys\n\nif len(sys.argv) != 3:\n"
                       "    sys.exit(f'usage: {sys.argv[0]} HOST PORT')\n"}),
    # Rust
    Case("rust-panic-addrinuse", "server", "rustc", ["./server", "{held}"],
         {"src/main.rs": RUST_BIND}, [RUSTC]),
    Case("rust-panic-parse", "client", "rustc", ["./server", "eighty"],
         {"src/main.rs": RUST_BIND}, [RUSTC]),
    Case("rust-main-error-connrefused", "client", "rustc", ["./server", "{closed}"],
         {"src/main.rs": """\
use std::net::TcpStream;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).unwrap().parse().unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    drop(stream);
    Ok(())
}
"""}, [RUSTC]),
    Case("cargo-compile-error", "build", "cargo", ["cargo", "build", "--offline", "--quiet"],
         {"Cargo.toml": '[package]\nname = "server"\nversion = "0.1.0"\nedition = "2021"\n',
          "src/main.rs": "fn main() {\n    let port = 8080;\n    println!(\"{}\", prot);\n}\n"}),
    # Node
    Case("node-eaddrinuse", "server", "node", ["node", "server.js", "127.0.0.1", "{held}"],
         {"server.js": NODE_LISTEN}),
    Case("node-eacces", "server", "node", [*NOBODY, "node", "server.js", "127.0.0.1", "80"],
         {"server.js": NODE_LISTEN}),
    Case("node-exception", "server", "node", ["node", "server.js"], {"server.js": """\
function reply(request) {
  return request.body.toString();
}

reply({ path: '/' });
"""}),
    Case("node-econnrefused-client", "client", "node",
         ["node", "client.js", "127.0.0.1", "{closed}"], {"client.js": """\
const net = require('net');
const socket = net.connect(Number(process.argv[3]), process.argv[2]);
socket.on('connect', () => socket.end());
"""}),
    Case("node-missing-file", "server", "node", ["node", "server.js", "8080"]),
    # Java
    Case("java-bindexception", "server", "javac", ["java", "Server", "{held}"],
         {"Server.java": JAVA_BIND}, [["javac", "Server.java"]]),
    Case("java-exception", "server", "javac", ["java", "Server"], {"Server.java": """\
public class Server {
    static int perClient(int bytes, int clients) {
        return bytes / clients;
    }

    public static void main(String[] args) {
        System.out.println(perClient(100, args.length));
    }
}
"""}, [["javac", "Server.java"]]),
    Case("java-connectexception-client", "client", "javac",
         ["java", "Client", "127.0.0.1", "{closed}"], {"Client.java": """\
import java.net.Socket;

public class Client {
    public static void main(String[] args) throws Exception {
        Socket socket = new Socket(args[0], Integer.parseInt(args[1]));
        socket.close();
    }
}
"""}, [["javac", "Client.java"]]),
    Case("java-caused-by", "server", "javac", ["java", "Server", "{held}"],
         {"Server.java": """\
import java.io.IOException;
import java.net.ServerSocket;

public class Server {
    static ServerSocket listen(int port) {
        try {
            return new ServerSocket(port);
        } catch (IOException e) {
            throw new RuntimeException("could not listen on " + port, e);
        }
    }

    public static void main(String[] args) {
        listen(Integer.parseInt(args[0]));
    }
}
"""}, [["javac", "Server.java"]]),
    Case("java-missing-class", "server", "java", ["java", "Server", "8080"]),
    Case("javac-compile-error", "build", "javac", ["javac", "Server.java"], {"Server.java": """\
public class Server {
    public static void main(String[] args) {
        int port = Integer.parseInt(args[0])
    }
}
"""}),
    # C
    Case("c-segfault", "server", "gcc", ["./server"],
         {"server.c": "int main(void) {\n    int *p = 0;\n    return *p;\n}\n"}, [GCC]),
    Case("c-segfault-bash", "server", "gcc", ["bash", "-c", "./server; exit $?"],
         {"server.c": "int main(void) {\n    int *p = 0;\n    return *p;\n}\n"}, [GCC]),
    Case("c-assert", "server", "gcc", ["./server"], {"server.c": """\
#include <assert.h>

int main(int argc, char **argv) {
    assert(argc == 3);
    return 0;
}
"""}, [GCC]),
    Case("c-double-free", "server", "gcc", ["./server"], {"server.c": """\
#include <stdlib.h>

int main(void) {
    char *volatile buffer = malloc(64);
    free(buffer);
    free(buffer);
    return 0;
}
"""}, [GCC]),
    Case("c-double-free-bash", "server", "gcc", ["bash", "-c", "./server; exit $?"],
         {"server.c": """\
#include <stdlib.h>

int main(void) {
    char *volatile buffer = malloc(64);
    free(buffer);
    free(buffer);
    return 0;
}
"""}, [GCC]),
    Case("c-sigpipe-client", "client", "gcc", ["./server"], {"server.c": """\
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Both ends on loopback: the peer closes, then this end keeps writing. */
int main(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t n = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &n);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    close(accept(l, 0, 0));
    for (int i = 0; i < 100; i++) {
        write(c, "hello\\n", 6);
        usleep(10000);
    }
    return 0;
}
"""}, [GCC]),
    Case("c-perror-eaddrinuse-server", "server", "gcc", ["./server", "127.0.0.1", "{held}"],
         {"server.c": C_SERVER_BIND}, [GCC]),
    Case("c-perror-eaddrinuse-client", "client", "gcc", ["./server", "127.0.0.1", "{held}"],
         {"server.c": C_SERVER_BIND}, [GCC]),
    Case("c-perror-eacces", "server", "gcc", [*NOBODY, "./server", "127.0.0.1", "80"],
         {"server.c": C_SERVER_BIND}, [GCC]),
    Case("c-perror-econnrefused-client", "client", "gcc",
         ["./server", "127.0.0.1", "{closed}"], {"server.c": """\
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    return 0;
}
"""}, [GCC]),
    Case("gcc-compile-error", "build", "gcc", GCC,
         {"server.c": "int main(void) {\n    int port = 8080\n    return port;\n}\n"}),
    Case("gcc-link-error", "build", "gcc", GCC,
         {"server.c": "int serve(int port);\n\nint main(void) {\n    return serve(8080);\n}\n"}),
    Case("make-gcc-error", "build", "make", ["make"],
         {"Makefile": "server: server.c\n\tgcc -o server server.c\n",
          "server.c": "int main(void) {\n    return undefined_port;\n}\n"}),
    Case("make-run-exit", "server", "make", ["make", "run"],
         {"Makefile": "run:\n\tpython3 server.py\n",
          "server.py": "import sys\n\n"
                       "sys.exit('server: no port given (usage: server.py PORT)')\n"}),
    # Shells
    Case("sh-not-found", "server", "sh", ["sh", "-c", "socat TCP-LISTEN:8080 EXEC:cat"]),
    Case("bash-not-found", "server", "bash", ["bash", "-c", "socat TCP-LISTEN:8080 EXEC:cat"]),
    Case("sh-not-found-path", "server", "sh", ["sh", "-c", "./server 8080"], NOT_BUILT),
    Case("bash-no-such-file", "server", "bash", ["bash", "-c", "./server 8080"], NOT_BUILT),
    Case("sh-permission-denied", "server", "sh", ["sh", "-c", "./server 8080"],
         {"server": "#!/bin/sh\nexec python3 server.py \"$@\"\n"}, mode={"server": 0o644}),
    Case("bash-exec-format", "server", "bash", ["bash", "-c", "./server 8080"],
         raw={"server": b"\x7fELF\x02\x01\x01\x00" + bytes(56)}, mode={"server": 0o755}),
    Case("env-interpreter-missing", "client", "sh", ["sh", "-c", "./client 127.0.0.1 8080"],
         {"client": "#!/usr/bin/env ruby\nputs 'hello'\n"}, mode={"client": 0o755}),
]


def run_case(case: Case, root: Path, held: int, closed: int) -> dict | None:
    if shutil.which(case.runtime) is None or (case.command[0] == "setpriv"
                                              and shutil.which("setpriv") is None):
        print(f"skipped {case.name}: no {case.runtime}", file=sys.stderr)
        return None
    folder = root / case.name
    folder.mkdir(parents=True)
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    for name, data in case.raw.items():
        (folder / name).write_bytes(data)
    for name, mode in case.mode.items():
        (folder / name).chmod(mode)
    for step in case.build:
        subprocess.run(step, cwd=folder, check=True, timeout=120, capture_output=True)
    command = [part.replace("{held}", str(held)).replace("{closed}", str(closed))
               for part in case.command]
    # No colours, no locale-dependent quotes, nothing from the caller's environment that
    # a grading sandbox would not have either.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1",
           "CARGO_TERM_COLOR": "never"}
    for name in ("RUSTUP_HOME", "CARGO_HOME", "PYENV_ROOT", "JAVA_HOME"):
        if name in os.environ:
            env[name] = os.environ[name]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    (HERE / f"{case.name}.txt").write_bytes(done.stderr)
    return {"name": case.name, "role": case.role, "exit_code": done.returncode,
            "command": " ".join(case.command), "stdout": done.stdout.decode(errors="replace")}


def main(names: list[str]) -> None:
    index_path = HERE / "index.json"
    index = {entry["name"]: entry for entry in json.loads(index_path.read_text())} \
        if index_path.exists() else {}
    held = socket.create_server(("127.0.0.1", 0))  # listening: its port is in use
    closed = socket.socket()  # bound, never listening: connecting to it is refused
    closed.bind(("127.0.0.1", 0))
    try:
        with tempfile.TemporaryDirectory(prefix="crashes-") as tmp:
            root = Path(tmp)
            root.chmod(0o755)  # the unprivileged cases must read their programs
            for case in CASES:
                if names and case.name not in names:
                    continue
                entry = run_case(case, root, held.getsockname()[1], closed.getsockname()[1])
                if entry is not None:
                    index[case.name] = entry
                    print(f"{case.name}: exit {entry['exit_code']}")
    finally:
        held.close()
        closed.close()
    ordered = [index[case.name] for case in CASES if case.name in index]
    index_path.write_text(json.dumps(ordered, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
