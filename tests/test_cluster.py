"""Batches on a real Dask cluster on loopback, started here: a `dask scheduler` process
and `grade worker` processes (each one becomes a `dask worker`). The same grades as the
local batch; a worker SIGKILLed mid-batch loses and duplicates nobody; a re-run after
the coordinator was SIGKILLed resumes; machine faults are retried elsewhere and, when
every machine fails, recorded as the machines' fault; a worker that stops answering
does not hang the batch; a worker of another grader version refuses work. The cluster is
TLS with certificates of `grade cluster-certs` (tcp:// only with --insecure); a result
not sealed with the results key is never a grade; a task that ends in an exception
(unpicklable, SystemExit) is that student's error, and its worker lives on."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from grader import load_assignment
from grader.batch import BatchOptions, run_batch
from grader.batch.cluster_security import make_certificates
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
    with running_cluster(tmp_path_factory.mktemp("cluster"), ["w1", "w2"],
                         tls=True) as started:
        yield started


def test_tcp_is_refused_unless_the_instructor_says_insecure(tmp_path, capsys):
    from grader.batch.command import _parser

    certs = tmp_path / "certs"
    make_certificates(certs, ["127.0.0.1"])
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    batch = ["batch", str(submissions), "--out", str(tmp_path / "out"), "--backend", "local"]
    refusals = [main([*batch, "--cluster", "tcp://127.0.0.1:9", "--certs", str(certs)]),
                main(["worker", "--scheduler", "tcp://127.0.0.1:9", "--certs", str(certs)]),
                main([*batch, "--cluster", "127.0.0.1:9", "--certs", str(certs)])]
    assert refusals == [2, 2, 2]
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 3
    for line in said:
        assert "tls://" in line and "README, Grading on several machines" in line, line
        assert "--insecure" in line
    assert "--insecure" in _parser().format_help()
    # With --insecure the address passes: what stops these is the folder without a key.
    nothing = str(tmp_path / "nothing")
    assert main([*batch, "--cluster", "tcp://127.0.0.1:9", "--certs", nothing,
                 "--insecure"]) == 2
    assert main(["worker", "--scheduler", "tcp://127.0.0.1:9", "--certs", nothing,
                 "--insecure"]) == 2
    said = capsys.readouterr().err
    assert said.count("results.key missing") == 2 and "tls://" not in said, said


def test_a_cluster_batch_grades_like_the_local_batch(cluster, tmp_path):
    submissions = _class(tmp_path / "submissions")
    local, remote = tmp_path / "local", tmp_path / "cluster"
    common = ["--backend", "local", "--clients", "60"]
    with _captured():
        assert main(["batch", str(submissions), "--out", str(local), "--jobs", "2",
                     *common]) == 0
    assert cluster.address.startswith("tls://") and not cluster.insecure
    with _captured() as printed:
        assert main(["batch", str(submissions), "--out", str(remote), *cluster.flags(),
                     *common]) == 0
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
    with open_cluster(cluster.address, **cluster.settings(), join_wait=2,
                      version="0.0.1+elsewhere") as site:
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
        with open_cluster(cluster.address, **cluster.settings(), margin=2) as site:
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
            assert main(["batch", str(submissions), "--out", str(out), *cluster.flags(),
                         "--backend", "docker"]) == 0
        rows = {row["student"]: row for row in _rows(out)}
        assert rows["alice"]["score"] == "100" and rows["bob"]["status"] == "graded"
        assert printed.getvalue().count("[on good]") == 2, printed.getvalue()

        missing = tmp_path / "missing"
        with _captured():
            assert main(["batch", str(submissions), "--out", str(missing), *cluster.flags(),
                         "--backend", "docker", "--image",
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
    with running_cluster(tmp_path / "empty", []) as empty:
        with (pytest.raises(GraderError, match=re.escape("no Dask scheduler answered at "
                                                         "tcp://127.0.0.1:9")),
              open_cluster("tcp://127.0.0.1:9", **empty.settings(), join_wait=2)):
            pass
        says = re.escape(f"grade worker --scheduler {empty.address} --certs DIR --pods N")
        with (pytest.raises(GraderError, match=f"no grading worker is connected.*{says}"),
              open_cluster(empty.address, **empty.settings(), join_wait=1)):
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


FORGER = """\
import os
from pathlib import Path
from grader.batch import cluster_worker
from grader.batch.cluster_security import seal
from grader.results import CheckResult, GradeReport, Status


def forged(*args):
    from distributed import get_worker

    worker = get_worker()
    nonce, fields = args[-2:]
    Path(os.environ["FORGED_MARK"], fields["student"]).touch()
    check = CheckResult("forged", "forged", Status.PASS, 100.0, 100.0, (), "forged")
    outcome = {"worker": worker.address, "name": str(worker.name), "prepared": 0.0,
               "report": GradeReport("echo", "forged", "local", (check,)).to_json()}
    # Sealed with the key of its own folder: a certificate of the cluster, not its key.
    mine = cluster_worker._results_key()
    return {**outcome, **seal(mine, nonce, fields["student"], outcome)}


def dask_setup(worker):
    cluster_worker.grade_task = forged
"""


def test_a_result_not_sealed_with_the_results_key_is_never_a_grade(tmp_path):
    """A stranger's worker that holds the cluster's certificate but not its results key,
    under an honest worker's name, returns a 100/100 report for everyone: none is
    written; its students are graded on the honest worker."""
    from grader.batch.cluster import open_cluster

    submissions = tmp_path / "submissions"
    submissions.mkdir()
    students = ("s1", "s2", "s3")
    for student in students:
        compose_reference(submissions / student, "python", "iterative-server")
    (tmp_path / "forger.py").write_text(FORGER)
    cluster_certs, strangers = tmp_path / "cluster" / "certs", tmp_path / "stranger"
    make_certificates(cluster_certs, ["127.0.0.1"])
    make_certificates(strangers, ["127.0.0.1"])
    for name in ("ca.pem", "worker.pem", "worker.key"):
        (strangers / name).write_bytes((cluster_certs / name).read_bytes())
    marks = tmp_path / "forged"
    marks.mkdir()
    with running_cluster(tmp_path / "cluster", ["w1", "w2"], tls=True,
                         environments={"w1": {"FORGED_MARK": str(marks)}},
                         worker_flags={"w1": ["--preload", str(tmp_path / "forger.py")]},
                         worker_certs={"w1": strangers}) as cluster, \
            open_cluster(cluster.address, **cluster.settings()) as site:
        batch = trio.run(run_batch, submissions, tmp_path / "out", load_assignment("echo"),
                         BatchOptions(backend="local"), None, site)
    assert list(marks.iterdir()), "the stranger got no student"
    for run in batch.graded:
        assert run.result.status == "graded" and run.where == "w2", run
        assert run.result.report.score < 100, run.result.report
    assert sorted(r.student for r in batch.results) == list(students)

    # Alone in the cluster, the stranger's reports make errors, never grades.
    shutil.copytree(cluster_certs, tmp_path / "alone" / "certs")
    with running_cluster(tmp_path / "alone", ["w1"], tls=True,
                         environments={"w1": {"FORGED_MARK": str(marks)}},
                         worker_flags={"w1": ["--preload", str(tmp_path / "forger.py")]},
                         worker_certs={"w1": strangers}) as cluster, \
            open_cluster(cluster.address, **cluster.settings(), join_wait=2) as site:
        batch = trio.run(run_batch, submissions, tmp_path / "alone-out",
                         load_assignment("echo"), BatchOptions(backend="local"), None, site)
    for result in batch.results:
        assert result.status == "error" and result.report is None, result
        assert "worker w1: its result is not sealed with this batch's results key" \
            in result.error, result.error
    assert not list((tmp_path / "alone-out").glob("students/*/report.json"))


CRASHER = """\
import threading
from grader.batch import cluster_worker


class UnpicklableError(Exception):
    def __init__(self):
        super().__init__("unpicklable")
        self.lock = threading.Lock()

    def __str__(self):
        raise RuntimeError("no message either")


async def crash(student, *args, **kwargs):
    if student == "exits":
        raise SystemExit(3)
    raise UnpicklableError()


def dask_setup(worker):
    cluster_worker.grade_in_worker = crash
"""


def test_a_task_that_raises_what_cannot_be_pickled_is_that_students_error(tmp_path):
    """Each student in a batch of its own: a worker that failed a student gets no more
    students of that batch for a while."""
    from grader.batch.cluster import open_cluster

    (tmp_path / "crasher.py").write_text(CRASHER)
    errors = {}
    started = time.monotonic()
    with running_cluster(tmp_path / "cluster", ["w1"],
                         worker_flags={"w1": ["--preload", str(tmp_path / "crasher.py")]}
                         ) as cluster:
        for student in ("exits", "unpicklable"):
            submissions = tmp_path / student
            compose_reference(submissions / student, "python")
            with open_cluster(cluster.address, **cluster.settings(), join_wait=5) as site:
                batch = trio.run(run_batch, submissions, tmp_path / f"out-{student}",
                                 load_assignment("echo"),
                                 BatchOptions(backend="local", student_timeout=30), None, site)
            [result] = batch.results
            assert result.status == "error" and result.report is None, result
            errors[student] = result.error
            assert cluster.workers["w1"].poll() is None, "the worker ended"
    assert time.monotonic() - started < 90
    said = "worker w1: grader error on this worker: "
    assert said + "SystemExit: 3" in errors["exits"], errors
    assert said + "UnpicklableError: (its message could not be read)" \
        in errors["unpicklable"], errors


def _batch_command(submissions: Path, out: Path, cluster: Cluster) -> list[str]:
    return [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out),
            "--backend", "local", *cluster.flags()]
