"""Hostile submissions aimed at the grader's own processes on the local backend, with and
without --run-as (tests/hostile/shadows-modules, tests/hostile/build-daemon-swaps): no
Python of the grader imports the student's modules, a build's daemon is gone before the
copy is sealed, and the sealing changes nothing outside the copy."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
import trio

from grader import grade, load_submission
from grader.batch.forked_workers import running_forkserver
from grader.pod import LocalBackend
from grader.pod.reaping import kill_user, processes_of
from grader.pod.sealing import seal

from .test_hostile import (
    HOSTILE,
    LOAD,
    LOCAL_LIMITS,
    WALL_BUDGET,
    Case,
    Recording,
    _assert_nothing_left,
    _assignment,
    _compose,
)

RUN_AS_USER = "sg-hostile-student"  # this file's own: every process of it gets killed


@pytest.fixture
def run_as(request) -> Iterator[str | None]:
    """None (the grader's own user), or a user made for the student's programs."""
    if request.param is None:
        yield None
        return
    if os.geteuid() != 0:
        pytest.skip("--run-as needs root")
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    RUN_AS_USER], capture_output=True, check=False)
    yield RUN_AS_USER
    kill_user(pwd.getpwnam(RUN_AS_USER).pw_uid)


LOCAL_KINDS = pytest.mark.parametrize("run_as", [None, RUN_AS_USER], indirect=True,
                                      ids=["local", "local-run-as"])


def _grade(case: Case, folder, run_as: str | None):
    assignment = _assignment(case)
    backend = Recording(LocalBackend(assignment.limits.output_cap, LOCAL_LIMITS, run_as))
    started = time.monotonic()
    report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
    assert time.monotonic() - started < WALL_BUDGET
    assert {c.id: str(c.status) for c in report.checks} == dict.fromkeys(case.checks, "pass"), \
        [(c.id, c.summary, c.grader_traceback) for c in report.checks]
    _assert_nothing_left(backend, report)
    return report


@LOCAL_KINDS
def test_no_grader_process_imports_the_students_modules(run_as, tmp_path):
    """A json.py, trio.py, runpy.py... in the submission: graded exactly as the reference
    (every check passes), and none of them was imported."""
    case = Case("shadows-modules", (*LOAD, "client-echo"), {})
    folder = _compose(case.name, tmp_path / "submission")
    marker = tmp_path / "imported.txt"
    (folder / "marker-path.txt").write_text(f"{marker}\n")
    _grade(case, folder, run_as)
    assert not marker.exists(), marker.read_text()


def test_a_batchs_own_processes_import_nothing_from_their_folder(tmp_path, monkeypatch):
    """The forkserver and the worker it forks, started from a folder holding the shadowing
    modules (as the probe is started in a student's folder)."""
    shutil.copytree(HOSTILE / "shadows-modules", tmp_path / "folder")
    marker = tmp_path / "imported.txt"
    (tmp_path / "folder" / "marker-path.txt").write_text(f"{marker}\n")
    monkeypatch.chdir(tmp_path / "folder")

    async def help_of_a_forked_worker() -> tuple[int, bytes]:
        async with running_forkserver() as forkserver:
            worker = await forkserver.start(["--help"])
            assert worker is not None
            said = bytearray()
            with trio.fail_after(60):
                while chunk := await worker.stdout.receive_some(65536):
                    said += chunk
                return await worker.wait(), bytes(said)

    status, said = trio.run(help_of_a_forked_worker)
    assert not marker.exists(), marker.read_text()
    assert status == 0 and b"--assignment" in said


@pytest.mark.parametrize("run_as", [RUN_AS_USER], indirect=True, ids=["local-run-as"])
def test_a_builds_daemon_is_killed_before_the_copy_is_sealed(run_as, tmp_path):
    case = Case("build-daemon-swaps", LOAD, {})
    folder = _compose(case.name, tmp_path / "submission")
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    (victim / "secret").write_text("root's own\n")
    (victim / "secret").chmod(0o600)
    (folder / "victim-path.txt").write_text(f"{victim}\n")

    report = _grade(case, folder, run_as)
    assert "DAEMON gone" in report.check("server-starts").evidence["stderr"]
    assert processes_of(pwd.getpwnam(run_as).pw_uid) == []
    secret = (victim / "secret").stat()
    assert (stat.S_IMODE(secret.st_mode), secret.st_uid) == (0o600, 0)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o700


# Swaps each folder dirN of the current folder with its link linkN, over and over.
_SWAPPER = textwrap.dedent("""\
    import ctypes, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    names = [(f"dir{i}".encode(), f"link{i}".encode()) for i in range(int(sys.argv[1]))]
    print("swapping", flush=True)
    stop = time.monotonic() + 20
    while time.monotonic() < stop:
        for folder, link in names:
            libc.renameat2(-100, folder, -100, link, 2)
    """)


def test_sealing_changes_nothing_behind_a_folder_swapped_for_a_link(tmp_path):
    """The sealing itself, while folders of the copy are swapped for links to a folder
    outside it as fast as can be (no user of its own here: nothing is killed first)."""
    pairs = 40
    outside, copy = tmp_path / "outside", tmp_path / "copy"
    outside.mkdir()
    (outside / "secret").write_text("not the student's\n")
    (outside / "secret").chmod(0o600)
    (copy / "swaps").mkdir(parents=True)
    for index in range(pairs):
        (copy / "swaps" / f"dir{index}").mkdir()
        (copy / "swaps" / f"dir{index}" / "secret").write_text("a decoy\n")
        (copy / "swaps" / f"link{index}").symlink_to(outside)
    swapper = subprocess.Popen([sys.executable, "-I", "-c", _SWAPPER, str(pairs)],
                               cwd=copy / "swaps", stdout=subprocess.PIPE)
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == b"swapping\n"
        for _ in range(5):
            seal(copy, None)
    finally:
        swapper.kill()
        swapper.wait(timeout=10)
    assert stat.S_IMODE((outside / "secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((copy / "swaps").stat().st_mode) == 0o555  # the copy was sealed
