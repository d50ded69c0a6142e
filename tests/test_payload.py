"""What travels with a grading to a cluster's worker: bytes and settings, never a path of
the coordinating machine. No cluster needed here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from grader import load_assignment
from grader.batch import StudentEntry
from grader.batch.cluster_worker import worker_argv
from grader.batch.payload import (
    Job,
    pack_assignment,
    pack_submission,
    plan_overrides,
    stage_job,
)
from grader.batch.run import BatchOptions, grade_in_worker
from grader.errors import InputError

from .conftest import compose_reference


def _job(entry: StudentEntry, **settings) -> Job:
    name, data, from_folder = pack_submission(entry, 2**20)
    return Job(entry.student, name, data, from_folder, pack_assignment(
        load_assignment("echo")), "local", None, 60.0, **settings)


def test_a_folder_travels_as_a_pod_would_take_it(tmp_path):
    folder = compose_reference(tmp_path / "alice", "python")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "lib").mkdir()
    (folder / "lib" / "inside").symlink_to("../server.py")
    (folder / "outside").symlink_to("/etc/hostname")
    root, assignment = stage_job(_job(StudentEntry("alice", folder)), tmp_path / "scratch")
    assert root.name == "alice" and root.is_relative_to(tmp_path / "scratch")
    assert (root / "server.py").read_bytes() == (folder / "server.py").read_bytes()
    assert os.access(root / "run.sh", os.X_OK)
    assert os.readlink(root / "lib" / "inside") == "../server.py"
    # A link out of the folder is made again (never followed): the pod leaves it out
    # with the same note as on the coordinating machine.
    assert os.readlink(root / "outside") == "/etc/hostname"
    assert (assignment / "assignment.toml").exists() and (assignment / "checks.py").exists()


def test_an_archive_travels_as_handed_in_and_is_unpacked_safely_where_it_is_graded(tmp_path):
    from .test_batch import _zip

    archive = _zip(tmp_path / "eve.zip", {"../evil.py": b"x"})
    job = _job(StudentEntry("eve", archive))
    assert job.submission == archive.read_bytes() and job.submission_name == "eve.zip"
    # Placed as it came, still packed: the grading's worker process unpacks it, through
    # the same code and with the same caps as on one machine.
    staged, assignment = stage_job(job, tmp_path / "scratch")
    assert staged.name == "eve.zip" and staged.read_bytes() == archive.read_bytes()
    graded = trio.run(grade_in_worker, "eve", staged, tmp_path / "scratch" / "work" / "eve",
                      assignment, BatchOptions(), 60.0)
    # worded as on one machine: the archive's name, not our copy's path
    assert graded.result.error.startswith("eve.zip: entry '../evil.py': '..' would leave")
    big = tmp_path / "big.zip"
    big.write_bytes(os.urandom(2 * 2**20 + 1))
    with pytest.raises(InputError, match="size cap"):
        pack_submission(StudentEntry("big", big), 2**20)


def test_settings_changed_in_memory_travel():
    echo = load_assignment("echo")
    assert plan_overrides(echo) == {}
    changed = echo.with_params("server-concurrency", clients=60)
    assert plan_overrides(changed) == {"server-concurrency": {"clients": 60}}


def test_grade_worker_runs_a_dask_worker_with_pods_and_our_preload():
    argv = worker_argv("tcp://127.0.0.1:8786", 3, "lab-1", ["--worker-port", "9000"])
    assert argv[1:4] == ["-m", "distributed.cli.dask_worker", "tcp://127.0.0.1:8786"]
    joined = " ".join(argv)
    for flag in ("--nthreads 3", "--resources pods=3", "--no-nanny", "--name lab-1",
                 "--preload grader.batch.cluster_worker", "--worker-port 9000"):
        assert flag in joined


def test_the_grader_needs_dask_only_with_cluster():
    import subprocess
    import sys

    code = ("import sys, grader.cli, grader.batch; "
            "print('distributed' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=True)
    assert done.stdout.strip() == "False"
