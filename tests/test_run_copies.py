"""Copies of a program run together (`Pod.run_copies`): on the engines, in one container
under the grader's launcher (grader/pod/copies_launcher.py), each copy still with its own
stdin, output, status and deadline. The launcher is tested here as a plain process too."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from grader.pod import copies_launcher
from grader.pod.container_recipe import Size, shell_argv
from grader.pod.docker_copies import LAUNCHER_ARGV

from .conftest import engine_backend_or_skip, engine_params, skip_without_limit


def _launch(commands: list[str], stdin: bytes = b"", timeout: float = 5.0, cap: int = 1000,
            close_early: bool = False) -> tuple[list[dict], float]:
    """The launcher run by this Python, as the container runs it: its answers by copy."""
    request = {"copies": [{"argv": shell_argv(c), "stdin": base64.b64encode(stdin).decode()}
                          for c in commands], "timeout": timeout, "grace": 0.5, "cap": cap}
    started = time.monotonic()
    launcher = subprocess.Popen([sys.executable, *LAUNCHER_ARGV[1:]], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
    launcher.stdin.write(json.dumps(request).encode() + b"\n")
    launcher.stdin.flush()
    answers: list[dict] = []
    try:
        if close_early:
            time.sleep(0.5)
            launcher.stdin.close()
        for line in launcher.stdout:
            answer = json.loads(line)
            if answer.get("done"):
                break
            for name in ("stdout", "stderr"):
                answer[name] = base64.b64decode(answer[name])
            answers.append(answer)
    finally:
        if not launcher.stdin.closed:
            launcher.stdin.close()
        launcher.wait(timeout=10)
    return sorted(answers, key=lambda a: a["copy"]), time.monotonic() - started


def test_each_copy_has_its_own_input_output_and_status():
    answers, _ = _launch(["cat", "cat >&2; exit 3", "kill -9 $$", "read line; echo got $line"],
                         stdin=b"one\ntwo\n")
    assert [a["exit_code"] for a in answers] == [0, 3, 128 + 9, 0]
    assert [a["stdout"] for a in answers] == [b"one\ntwo\n", b"", b"", b"got one\n"]
    assert answers[1]["stderr"] == b"one\ntwo\n"


def test_a_copy_is_stopped_at_the_deadline_even_when_it_ignores_sigterm():
    answers, took = _launch(["sleep 30", "trap '' TERM; while :; do sleep 0.1; done", "true"],
                            timeout=1.0)
    assert [a["exit_code"] for a in answers] == [None, None, 0]
    assert 1.0 <= answers[0]["seconds"] < 1.5  # SIGTERM at the deadline ended it
    assert 1.5 <= answers[1]["seconds"] < 2.5  # SIGKILL after the grace
    assert took < 5


def test_output_is_capped_and_a_flood_is_slowed_not_kept():
    answers, _ = _launch(["yes"], timeout=1.0, cap=100)
    (flood,) = answers
    assert flood["exit_code"] is None and len(flood["stdout"]) == 100
    assert 0 < flood["stdout_dropped"] < 200 * 1024 * 1024  # read at a trickle once full


def test_what_a_copy_left_running_in_its_group_ends_with_it():
    answers, took = _launch(["(sleep 20; echo late) & echo early"], timeout=30.0)
    assert answers[0]["stdout"] == b"early\n" and answers[0]["exit_code"] == 0
    assert took < 5  # the answer did not wait for the background sleep


def test_every_copy_is_killed_when_the_grader_goes_away():
    marker = f"copies-test-{time.monotonic_ns()}"
    answers, took = _launch([f"sleep 40 # {marker}"] * 2, timeout=60.0, close_early=True)
    assert answers == [] and took < 10
    # SIGKILL is sent before the launcher exits; on a loaded machine the kernel may take a
    # moment to tear the copies down after that.
    give_up = time.monotonic() + 5.0
    while (left := subprocess.run(["pgrep", "-f", marker], capture_output=True,
                                  text=True).stdout) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert left == ""


def test_copies_together_share_the_sum_of_their_limits():
    size = Size("96m", 128, 0.125).times(8)
    assert size == Size(8 * 96 * 1024 * 1024, 1024, 1.0)
    assert Size("96m", 128, 0.125).times(1) == Size("96m", 128, 0.125)


# On the engines: one container for the copies, and what its users could try.

@pytest.fixture(params=engine_params())
def backend(request):
    return engine_backend_or_skip(request.param)


# Each copy writes its name to the shared /tmp, then waits for all four: they can only
# all finish if they run at the same moment.
TOGETHER = ("touch /tmp/copy-$1; n=0; while [ $(ls /tmp | grep -c copy-) -lt 4 ] && "
            "[ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; read line; "
            "echo $1 $line $(hostname) $(ls /tmp | grep -c copy-)")


def test_copies_run_at_once_in_one_container(backend, write_submission):
    folder = write_submission({"together.sh": TOGETHER})
    ended: list[int] = []

    async def body():
        async with backend.open_pod(str(folder), "copies-test") as pod:
            async def note(index: int) -> None:
                ended.append(index)

            return await pod.run_copies(
                "client", [(f"sh together.sh {i}", f"line-{i}\n".encode()) for i in range(4)],
                30.0, note)

    runs = trio.run(body)
    printed = [run.stdout.decode().split() for run in runs]
    assert [words[:2] for words in printed] == [[str(i), f"line-{i}"] for i in range(4)]
    assert all(words[3] == "4" for words in printed)  # all four were there at once
    assert len({words[2] for words in printed}) == 1  # one container's hostname
    assert sorted(ended) == [0, 1, 2, 3] and all(run.exit_code == 0 for run in runs)


def test_the_copies_container_has_the_sum_of_the_copies_limits(backend, write_submission):
    skip_without_limit(backend, "memory")
    folder = write_submission({"notes.txt": "x"})

    async def body():
        async with backend.open_pod(str(folder), "copies-test") as pod:
            return await pod.run_copies(
                "client", [("cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                            "/sys/fs/cgroup/pids/pids.max", b"")] * 3, 30.0)

    runs = trio.run(body)
    settings = backend.settings
    memory, pids = runs[0].stdout.decode().split()
    assert int(memory) == Size(settings.client_memory, 1, 1).times(3).memory
    assert int(pids) == 3 * settings.client_pids


def test_modules_of_the_submission_never_replace_the_launchers_own(backend, write_submission):
    """The copies run in the submission's folder: a json.py or selectors.py there must
    not be what the launcher imports (it runs isolated, `python3 -I`)."""
    sabotage = "raise SystemExit('imported the submission instead')\n"
    folder = write_submission({name: sabotage for name in (
        "json.py", "selectors.py", "subprocess.py", "base64.py", "signal.py", "resource.py")})

    async def body():
        async with backend.open_pod(str(folder), "copies-test") as pod:
            return await pod.run_copies("client", [("echo fine", b"")] * 2, 30.0)

    runs = trio.run(body)
    assert [(run.exit_code, run.stdout) for run in runs] == [(0, b"fine\n")] * 2


def test_a_copy_that_kills_every_process_of_its_user_ends_only_the_copies(backend,
                                                                        write_submission):
    """The copies and the launcher run as one user: a copy may kill them all. The run
    then ends at once, every copy reported killed, not as a grader error or a hang."""
    folder = write_submission({"notes.txt": "x"})

    async def body():
        async with backend.open_pod(str(folder), "copies-test") as pod:
            started = time.monotonic()
            runs = await pod.run_copies(
                "client", [("sleep 1; kill -9 -1", b""), ("sleep 30", b"")], 60.0)
            return runs, time.monotonic() - started

    runs, took = trio.run(body)
    assert [run.exit_code for run in runs] == [137, 137]
    assert took < 20


def test_the_launcher_imports_only_the_standard_library():
    imported = {line.split()[1].split(".")[0]
                for line in Path(copies_launcher.__file__).read_text().splitlines()
                if line.startswith(("import ", "from "))}
    assert imported <= set(sys.stdlib_module_names)
