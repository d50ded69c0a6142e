"""Batches on a real Dask cluster on loopback, started here: a `dask scheduler` process
and `grade worker` processes (each one becomes a `dask worker`). The same grades as the
local batch; a worker SIGKILLed mid-batch loses and duplicates nobody; a re-run after
the coordinator was SIGKILLed resumes; machine faults are retried elsewhere and, when
every machine fails, recorded as the machines' fault; a worker that stops answering
does not hang the batch; a worker of another grader version refuses work."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from grader import load_assignment
from grader.batch import BatchOptions, run_batch
from grader.batch.cluster_worker import SCRATCH_PARENT, remove_job_scratch, remove_stale_scratch
from grader.cli import main

from .cluster_helpers import Cluster, children, running_cluster
from .conftest import REPO, compose_reference, wait_for
from .test_batch import (
    _captured,
    _class,
    _mark,
    _rows,
    _sigkill_after_first_report,
    _stamps,
    _wait_for_no_marked,
)

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("distributed", reason="Dask distributed is not installed "
                        "(pip install -e '.[cluster]')")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("cluster"), ["w1", "w2"]) as started:
        yield started


def test_a_cluster_batch_grades_like_the_local_batch(cluster, tmp_path):
    submissions = _class(tmp_path / "submissions")
    local, remote = tmp_path / "local", tmp_path / "cluster"
    common = ["--backend", "local", "--clients", "60"]
    with _captured():
        assert main(["batch", str(submissions), "--out", str(local), "--jobs", "2",
                     *common]) == 0
    with _captured() as printed:
        assert main(["batch", str(submissions), "--out", str(remote), "--cluster",
                     cluster.address, *common]) == 0
    assert _rows(remote) == _rows(local)  # scores, points per check, reasons
    for student in ("alice", "bob", "dave"):
        report = json.loads((remote / "students" / student / "report.json").read_text())
        assert report["submission"].startswith(str(submissions))
        concurrency = next(c for c in report["checks"] if c["id"] == "server-concurrency")
        assert concurrency["evidence"]["connections"] == 60  # --clients travelled
    lines = printed.getvalue().splitlines()
    graded_on = {line.split("] ")[1].split()[0]: line.rsplit("[on ", 1)[-1].rstrip("]")
                 for line in lines if line.startswith("[") and "[on " in line}
    assert set(graded_on) == {"alice", "bob", "carol", "dave", "eve"}, lines
    assert set(graded_on.values()) <= {"w1", "w2"}
    assert (remote / "report.html").exists() and not (remote / "work").exists()
    assert cluster.gradings() == []


def test_a_worker_sigkilled_mid_batch_loses_nobody_and_duplicates_nobody(tmp_path,
                                                                        monkeypatch):
    mark = _mark(monkeypatch)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    kinds = {"s1": None, "s2": "iterative-server", "s3": None, "s4": "no-reuseaddr-server"}
    for student, faulty in kinds.items():
        compose_reference(submissions / student, "python", faulty)
    out = tmp_path / "out"
    with running_cluster(tmp_path / "cluster", ["w1", "w2"]) as cluster:
        batch = subprocess.Popen(_batch_command(submissions, out, cluster), cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            victim = cluster.workers["w1"]
            assert wait_for(lambda: children(victim.pid), 90), "w1 never got a grading"
            scratch = list(SCRATCH_PARENT.glob(f"{victim.pid}-*"))
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            stdout, stderr = batch.communicate(timeout=300)
        finally:
            if batch.poll() is None:
                batch.kill()
                batch.wait()
        assert batch.returncode == 0, stderr
        # The killed worker's grading saw its lifeline close: nothing of it runs.
        assert wait_for(lambda: not cluster.gradings(), 45), cluster.gradings()
    finished = [line for line in stdout.splitlines() if line.startswith("[")]
    assert sorted(line.split("] ")[1].split()[0] for line in finished) == sorted(kinds)
    rows = {row["student"]: row for row in _rows(out)}
    assert list(rows) == list(kinds)
    for student, faulty in kinds.items():
        markers = sorted(p.name for p in (out / "students" / student).iterdir())
        assert markers == ["feedback.html", "feedback.md", "report.json"], (student, markers)
        assert (rows[student]["score"] == "100") == (faulty is None), rows[student]
    # The killed worker's scratch space went when the other worker took its next task
    # (`grade worker` at its start, and `grade cleanup`, remove it too).
    assert scratch
    remove_stale_scratch()
    assert not any(folder.exists() for folder in scratch)
    assert _wait_for_no_marked(mark, 30) == []


def test_rerun_after_the_coordinator_is_sigkilled_resumes(cluster, tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for student in ("s1", "s2", "s3", "s4"):
        compose_reference(submissions / student, "python",
                          "iterative-server" if student == "s2" else None)
    out = tmp_path / "out"
    command = _batch_command(submissions, out, cluster)
    _sigkill_after_first_report(command, out, 150)
    complete = {p.parent.name for p in out.glob("students/*/report.json")}
    stamps = _stamps(out)
    # The scheduler drops the gone client's tasks; each worker stops its grading.
    assert wait_for(lambda: not cluster.gradings(), 30), cluster.gradings()
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(complete)} already complete, skipped" in rerun.stdout
    assert {k: v for k, v in _stamps(out).items() if k in stamps} == stamps
    assert [(r["student"], r["status"]) for r in _rows(out)] == [
        (s, "graded") for s in ("s1", "s2", "s3", "s4")]


def test_a_worker_of_another_grader_version_refuses_work(cluster, tmp_path):
    from grader.batch.cluster import open_cluster

    submissions = tmp_path / "submissions"
    submissions.mkdir()
    compose_reference(submissions / "alice", "python")
    with open_cluster(cluster.address, join_wait=2, version="0.0.1+elsewhere") as site:
        batch = trio.run(run_batch, submissions, tmp_path / "out", load_assignment("echo"),
                         BatchOptions(backend="local"), None, site)
    [result] = batch.results
    assert result.status == "error" and result.report is None
    assert "not of the submission" in result.error
    for name in ("w1", "w2"):
        assert (f"worker {name}: this worker runs socket-grader" in result.error
                and "refuses work from a coordinator running 0.0.1+elsewhere"
                in result.error), result.error


def test_a_worker_that_stops_answering_does_not_hang_the_batch(cluster, tmp_path):
    """The coordinator gives a task the per-student deadline plus its margin, then grades
    the student on another worker; the stopped worker gets no more of this batch."""
    from grader.batch.cluster import open_cluster

    submissions = tmp_path / "submissions"
    submissions.mkdir()
    compose_reference(submissions / "alice", "python")
    stopped: list[subprocess.Popen] = []

    async def stop_the_first_to_grade() -> None:
        while not stopped:
            for worker in cluster.workers.values():
                if children(worker.pid):
                    worker.send_signal(signal.SIGSTOP)
                    stopped.append(worker)
                    break
            await trio.sleep(0.05)

    async def batch_with_a_stop(site):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_the_first_to_grade)
            batch = await run_batch(submissions, tmp_path / "out", load_assignment("echo"),
                                    BatchOptions(backend="local", student_timeout=40), None,
                                    site)
            nursery.cancel_scope.cancel()
        return batch

    started = time.monotonic()
    try:
        with open_cluster(cluster.address, margin=2) as site:
            batch = trio.run(batch_with_a_stop, site)
    finally:
        for worker in stopped:
            worker.send_signal(signal.SIGCONT)
    assert stopped, "no worker started the grading"
    [result] = batch.results
    [run] = batch.graded
    assert result.status == "graded" and result.report.score == 100
    other = next(name for name, w in cluster.workers.items() if w is not stopped[0])
    assert run.where == other
    assert time.monotonic() - started < 120
    assert wait_for(lambda: not cluster.gradings(), 45), cluster.gradings()


@pytest.mark.docker
def test_a_machine_that_cannot_grade_passes_its_students_on(tmp_path):
    """One worker's machine has no Docker daemon: its students are graded on the other.
    With an image no machine has, every student's error names each machine and why."""
    from .conftest import engine_backend_or_skip

    engine_backend_or_skip("docker")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    compose_reference(submissions / "alice", "python")
    compose_reference(submissions / "bob", "python", "iterative-server")
    no_daemon = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    with running_cluster(tmp_path / "cluster", ["good", "broken"],
                         environments={"broken": no_daemon}) as cluster:
        out = tmp_path / "out"
        with _captured() as printed:
            assert main(["batch", str(submissions), "--out", str(out), "--cluster",
                         cluster.address, "--backend", "docker"]) == 0
        rows = {row["student"]: row for row in _rows(out)}
        assert rows["alice"]["score"] == "100" and rows["bob"]["status"] == "graded"
        assert printed.getvalue().count("[on good]") == 2, printed.getvalue()

        missing = tmp_path / "missing"
        with _captured():
            assert main(["batch", str(submissions), "--out", str(missing), "--cluster",
                         cluster.address, "--backend", "docker", "--image",
                         "socket-grader/no-such-image:never"]) == 0
    with open(missing / "grades.csv", newline="") as stream:
        reasons = [row["reason"] for row in csv.DictReader(stream)]
    for reason in reasons:
        assert "no grading worker could grade this submission" in reason, reason
        assert "worker good: the image 'socket-grader/no-such-image:never'" in reason
        assert "worker broken: no Docker daemon answered" in reason


def test_a_batch_needs_a_scheduler_that_answers_and_a_grading_worker(cluster, tmp_path):
    from grader.batch.cluster import open_cluster
    from grader.errors import GraderError

    started = time.monotonic()
    with (pytest.raises(GraderError, match=re.escape("no Dask scheduler answered at "
                                                     "tcp://127.0.0.1:9")),
          open_cluster("tcp://127.0.0.1:9", join_wait=2)):
        pass
    with running_cluster(tmp_path / "empty", []) as empty:
        says = re.escape(f"grade worker --scheduler {empty.address} --pods N")
        with (pytest.raises(GraderError, match=f"no grading worker is connected.*{says}"),
              open_cluster(empty.address, join_wait=1)):
            pass
    assert time.monotonic() - started < 60


def test_scratch_space_of_a_dead_worker_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"{dead.pid}-12345" / "job" / "folder").mkdir(parents=True)
    started = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    alive = tmp_path / f"{os.getpid()}-{started}"  # this process: its folder stays
    alive.mkdir()
    reused = tmp_path / f"{os.getpid()}-1"  # this pid, another start time: a dead owner
    reused.mkdir()
    assert remove_stale_scratch(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == [alive.name]


def test_a_workers_scratch_folder_goes_with_its_last_job(tmp_path):
    owner = tmp_path / "owner"
    first, second = owner / "job-1", owner / "job-2"
    for job in (first, second):
        (job / "work").mkdir(parents=True)
    remove_job_scratch(first)
    assert [p.name for p in owner.iterdir()] == ["job-2"]  # the other job still runs
    remove_job_scratch(second)
    assert not owner.exists()


def _batch_command(submissions: Path, out: Path, cluster: Cluster) -> list[str]:
    return [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out),
            "--backend", "local", "--cluster", cluster.address]
