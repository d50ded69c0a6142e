"""Batch grading: discovery and safe unpacking, the class outputs, resuming (also after
SIGKILL), per-student errors and deadlines, and the class report as a browser draws it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
import trio

from grader import GradeReport, Status, load_assignment
from grader.batch import BatchOptions, UnsafeArchive, discover, run_batch, unpack
from grader.cli import main
from grader.errors import InputError

from .conftest import REPO, compose_reference, wait_for

CHECK_IDS = [p.check.id for p in load_assignment("echo").checks]


def _points(check_id: str) -> float:
    return next(p.points for p in load_assignment("echo").checks if p.check.id == check_id)


# --- discovery and unpacking ---------------------------------------------------------------

def _zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zipped.writestr(info, target)
    return path

def _sigkill_after_first_report(command: list[str], out: Path, timeout: float) -> None:
    """Run the batch `command` and SIGKILL it once a first student's report is written."""
    batch = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list(out.glob("students/*/report.json")) or batch.poll() is not None,
                 timeout)
        assert list(out.glob("students/*/report.json")), f"no report within {timeout} s"
        assert batch.poll() is None, "the batch ended before it could be killed"
        batch.send_signal(signal.SIGKILL)
        batch.wait(10)
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.wait()



def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tarred:
        for info, data in members:
            info.size = len(data)
            tarred.addfile(info, io.BytesIO(data) if data else None)
    return path


def _end_record_claiming(entries: int) -> bytes:
    """A zip that is only an end-of-central-directory record claiming `entries` entries
    (zipfile would read that many directory records before any cap applied)."""
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, 46 * entries,
                       0, 0)


def _directory_claiming_one(entries: int) -> bytes:
    """A zip whose central directory holds `entries` one-letter entries behind an end
    record that claims one (zipfile would read every one before any cap applied)."""
    entry = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
                        0, 0, 0, 0) + b"a"
    return entry * entries + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1,
                                         len(entry) * entries, 0, 0)


def _zip64_record_claiming(entries: int) -> bytes:
    """A zip whose zip64 end record claims `entries` entries (its plain one says 0xFFFF)."""
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                         46 * entries, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    return record + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF,
                                          0xFFFFFFFF, 0xFFFFFFFF, 0)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_discover_one_student_per_folder_or_archive(tmp_path):
    (tmp_path / "alice").mkdir()
    _zip(tmp_path / "bob.zip", {"server.py": b""})
    _tar(tmp_path / "carol.tar.gz", [(_member("server.py"), b"")])
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".hidden").mkdir()
    _zip(tmp_path / ".dave.zip", {"x": b""})
    found = discover(tmp_path)
    assert [(s.student, s.source.name) for s in found.students] == [
        ("alice", "alice"), ("bob", "bob.zip"), ("carol", "carol.tar.gz")]
    assert found.ignored == ("notes.txt",)


def test_a_student_with_a_folder_and_an_archive_stops_the_batch_naming_both(tmp_path,
                                                                           capsys):
    # Issue 23: alice got a grader error instead of a grade; now the instructor chooses.
    submissions = tmp_path / "submissions"
    compose_reference(submissions / "alice", "python")
    _zip(submissions / "alice.zip", {"server.py": b""})
    _zip(submissions / "bob.zip", {"server.py": b""})
    _tar(submissions / "bob.tar.gz", [(_member("server.py"), b"")])
    (submissions / "carol").mkdir()
    out = tmp_path / "results"
    status = main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                   "--no-similarity"])
    said = capsys.readouterr().err
    assert status == 2, said
    assert "alice/ and alice.zip" in said and "bob.tar.gz and bob.zip" in said
    assert "carol" not in said and "Keep one each" in said
    assert not (out / "students").exists()  # refused before anyone was graded
    # Renamed to start with '.', as the message says, the archive is passed over.
    (submissions / "alice.zip").rename(submissions / ".alice.zip")
    (submissions / "bob.tar.gz").unlink()
    assert [s.student for s in discover(submissions).students] == ["alice", "bob", "carol"]


def test_only_names_a_student_by_whole_id_first_then_by_commas(tmp_path):
    for student in ("Liddell, Alice", "Liddell", "bob", "carol"):
        (tmp_path / student).mkdir()
    found = discover(tmp_path)
    assert found.chosen(("Liddell, Alice",), tmp_path) == ("Liddell, Alice",)
    assert found.chosen(("bob, carol", "bob"), tmp_path) == ("bob", "carol")
    assert found.chosen(("bob", "Liddell, Alice", "Liddell"), tmp_path) == (
        "bob", "Liddell, Alice", "Liddell")
    with pytest.raises(InputError, match=r"no submission for 'Alice', 'dave' \(students: "
                                         r"Liddell, Liddell, Alice, bob, carol\)"):
        found.chosen(("Liddell,Alice", "dave"), tmp_path)


def test_only_grades_a_student_whose_id_has_a_comma(tmp_path):
    submissions = tmp_path / "submissions"
    for student in ("Liddell, Alice", "bob", "carol"):
        (submissions / student).mkdir(parents=True)  # no server: an error record each
    out = tmp_path / "results"

    def batch(*only: str) -> str:
        with _captured() as printed:
            assert main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                         "--no-similarity", *only]) == 0
        return printed.getvalue()

    assert "grading 3 students" in batch()
    stamps = {s: (out / "students" / s).stat().st_mtime_ns for s in ("bob", "carol")}
    assert "grading 1 student" in batch("--only", "Liddell, Alice")
    assert {s: (out / "students" / s).stat().st_mtime_ns for s in stamps} == stamps
    assert "grading 2 students" in batch("--only", "bob,carol")


def test_unpack_uses_the_single_top_folder_and_keeps_the_executable_bit(tmp_path):
    info = _member("alice/run.sh")
    info.mode = 0o755
    root = unpack(_tar(tmp_path / "a.tar.gz", [(_member("alice", tarfile.DIRTYPE), b""),
                                               (info, b"#!/bin/sh\n"),
                                               (_member("alice/server.py"), b"pass\n")]),
                  tmp_path / "out")
    assert root == tmp_path / "out" / "alice"
    assert (root / "server.py").read_text() == "pass\n"
    assert os.access(root / "run.sh", os.X_OK) and not os.access(root / "server.py", os.X_OK)


@pytest.mark.parametrize(("make", "says"), [
    (lambda d: _zip(d / "s.zip", {"ok.py": b"", "../evil.py": b"x"}), "'..'"),
    (lambda d: _zip(d / "s.zip", {"/etc/evil": b"x"}), "absolute path"),
    (lambda d: _zip(d / "s.zip", {"a.py": b""}, links={"link": "/etc/passwd"}),
     "symbolic link"),
    (lambda d: _tar(d / "s.tar.gz", [(_member("a/../../evil"), b"x")]), "'..'"),
    (lambda d: _tar(d / "s.tar.gz", [(_member("l", tarfile.SYMTYPE, "/etc/passwd"), b"")]),
     "symbolic link"),
    (lambda d: _tar(d / "s.tar.gz", [(_member("h", tarfile.LNKTYPE, "/etc/passwd"), b"")]),
     "hard link"),
    (lambda d: _tar(d / "s.tar.gz", [(_member("dev", tarfile.CHRTYPE), b"")]), "devices"),
    (lambda d: _zip(d / "s.zip", {"big.bin": b"\0" * 5000}), "size cap"),
    (lambda d: _zip(d / "s.zip", {f"f{i}": b"" for i in range(30)}), "file-count cap"),
    (lambda d: _tar(d / "s.tar.gz", [(_member(f"f{i}"), b"") for i in range(30)]),
     "file-count cap"),
    (lambda d: (d / "s.zip").write_bytes(b"not a zip") and d / "s.zip", "not a readable"),
    # Issue 14: entries it would skip count too; a name of megabytes is refused before
    # it is read; a zip's entry count is checked before its directory is parsed.
    (lambda d: _zip(d / "s.zip", {f"__MACOSX/f{i}": b"" for i in range(30)}),
     "file-count cap"),
    (lambda d: _tar(d / "s.tar.gz", [(_member("n" * 4_000_000), b"")]), "header of"),
    (lambda d: (d / "s.zip").write_bytes(_end_record_claiming(60000)) and d / "s.zip",
     "more than 20 entries"),
    # Issue 23: the directory itself is measured, whatever the end record claims.
    (lambda d: (d / "s.zip").write_bytes(_directory_claiming_one(30)) and d / "s.zip",
     "holds more than 20 entries"),
    (lambda d: (d / "s.zip").write_bytes(_directory_claiming_one(5000)) and d / "s.zip",
     "more than 20 entries could need"),
    (lambda d: (d / "s.zip").write_bytes(_zip64_record_claiming(60000)) and d / "s.zip",
     "claims 60000 entries"),
], ids=["zip-dotdot", "zip-absolute", "zip-symlink", "tar-dotdot", "tar-symlink",
        "tar-hardlink", "tar-device", "too-large", "zip-too-many", "tar-too-many",
        "not-an-archive", "skipped-entries-count", "tar-huge-name", "zip-huge-directory",
        "zip-directory-beyond-its-claim", "zip-directory-too-large", "zip64-huge-directory"])
def test_unpack_refuses_unsafe_archives(tmp_path, make, says):
    archive = make(tmp_path)
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchive) as caught:
        unpack(archive, target, max_bytes=4096, max_files=20)
    assert says in str(caught.value)
    assert len(str(caught.value)) < 400  # a name of megabytes is not quoted whole
    assert not target.exists()  # nothing half-unpacked is left
    assert not (tmp_path / "evil.py").exists() and not Path("/etc/evil").exists()


def test_a_zip_directory_of_a_million_entries_is_refused_before_it_is_read(tmp_path):
    archive = tmp_path / "s.zip"
    archive.write_bytes(_directory_claiming_one(1_000_001))
    started = time.process_time()
    with pytest.raises(UnsafeArchive, match="file-count cap"):
        unpack(archive, tmp_path / "out")
    assert time.process_time() - started < 0.5  # zipfile took 5 s to parse it whole


def test_unpack_counts_the_bytes_it_writes_not_the_headers(tmp_path):
    """A gzip bomb: tiny archive, huge content; stopped at the cap while writing."""
    archive = _tar(tmp_path / "bomb.tar.gz", [(_member("zeros"), b"\0" * (8 * 2**20))])
    assert archive.stat().st_size < 64 * 1024
    with pytest.raises(UnsafeArchive, match="size cap"):
        unpack(archive, tmp_path / "out", max_bytes=2**20)


# --- a small class, graded once for several tests ------------------------------------------

def _class(folder: Path) -> Path:
    """alice: correct; bob: iterative server; carol: no server; dave: a zip of a folder
    holding a server without SO_REUSEADDR; eve: a zip that tries to escape."""
    folder.mkdir()
    compose_reference(folder / "alice", "python")
    compose_reference(folder / "bob", "python", "iterative-server")
    (folder / "carol").mkdir()
    (folder / "carol" / "notes.txt").write_text("no server yet <b>&</b>")
    dave = compose_reference(folder.parent / "dave-src", "python", "no-reuseaddr-server")
    _zip(folder / "dave.zip", {f"dave/{p.name}": p.read_bytes() for p in dave.iterdir()})
    _zip(folder / "eve.zip", {"../evil.py": b"x"})
    return folder


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    submissions, out = _class(base / "submissions"), base / "results"
    with _captured() as printed:
        status = main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                       "--jobs", "2"])
    assert status == 0
    return submissions, out, printed.getvalue()


class _captured:
    def __enter__(self) -> io.StringIO:
        self.buffer, self.saved = io.StringIO(), sys.stdout
        sys.stdout = self.buffer
        return self.buffer

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self.saved


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def test_gradebook_has_one_row_per_student_with_points_per_check(graded_class):
    _, out, _ = graded_class
    with open(out / "grades.csv", newline="") as stream:
        header = next(csv.reader(stream))
    assert header == ["student", "status", "score", "max_score", *CHECK_IDS, "reason"]
    rows = {row["student"]: row for row in _rows(out)}
    assert list(rows) == ["alice", "bob", "carol", "dave", "eve"]
    assert (rows["alice"]["status"], rows["alice"]["score"]) == ("graded", "100")
    assert rows["bob"]["server-concurrency"] == "0" and rows["bob"]["server-starts"] == "2"
    assert rows["dave"]["server-restart"] == "0"
    assert rows["dave"]["score"] == f"{100 - _points('server-restart'):g}"
    assert rows["carol"]["status"] == "error" and "no server found" in rows["carol"]["reason"]
    assert rows["eve"]["status"] == "error" and "'..'" in rows["eve"]["reason"]
    assert rows["carol"]["score"] == ""


def test_each_student_has_one_complete_result_and_feedback(graded_class):
    _, out, printed = graded_class
    for student in ("alice", "bob", "dave"):
        folder = out / "students" / student
        assert sorted(p.name for p in folder.iterdir()) == ["feedback.html", "feedback.md",
                                                            "report.json"]
        data = json.loads((folder / "report.json").read_text())
        assert data["assignment"] == "echo" and len(data["checks"]) == len(CHECK_IDS)
    for student in ("carol", "eve"):
        folder = out / "students" / student
        assert sorted(p.name for p in folder.iterdir()) == ["error.json", "feedback.html",
                                                            "feedback.md"]
        assert json.loads((folder / "error.json").read_text())["status"] == "error"
    feedback = (out / "students" / "dave" / "feedback.md").read_text()
    assert "server-restart" in feedback and "TIME" in feedback
    page = (out / "students" / "dave" / "feedback.html").read_text()
    assert 'id="fig-restart"' in page and "<svg" in page and "could not listen" in page
    assert "reason" in (out / "students" / "carol" / "feedback.html").read_text().lower()
    assert json.loads((out / "students" / "dave" / "report.json").read_text())[
        "submission"].endswith("submissions/dave.zip")
    assert not (out / "work").exists()
    lines = printed.splitlines()
    assert "[5/5]" in printed and any(line.endswith("] alice 100/100") for line in lines)
    bob = GradeReport.from_json(json.loads((out / "students" / "bob" / "report.json")
                                           .read_text()))
    not_passed = sum(1 for c in bob.checks if c.status not in (Status.PASS, Status.SKIPPED))
    assert any(line.endswith(f"] bob {bob.score:g}/100 ({not_passed} failed)")
               for line in lines), printed


def test_summary_counts_concepts_failing_checks_and_scores(graded_class):
    _, out, _ = graded_class
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"graded": 3, "error": 2, "pending": 0}
    concepts = summary["concepts"]
    assert list(concepts) == [item.id for item in load_assignment("echo").concepts]
    assert concepts["Q2"]["shown"] == 2 and concepts["Q2"]["share_shown"] == pytest.approx(2 / 3,
                                                                                          abs=1e-3)
    assert concepts["Q5"]["share_shown"] == 1.0
    failing = {item["id"]: item["students"] for item in summary["failing_checks"]}
    # bob's iterative server, and dave's restart without SO_REUSEADDR:
    assert failing == {"server-concurrency": 1, "server-one-port": 1, "server-same-ip": 1,
                       "end-to-end": 1, "server-restart": 1}
    histogram = {b["from"]: b["students"] for b in summary["scores"]["histogram"]}
    assert histogram[90] == 1 and histogram[80] == 1 and histogram[60] == 1
    assert sum(histogram.values()) == 3
    assert summary["scores"]["median_percent"] == 100 - _points("server-restart")
    assert {e["student"] for e in summary["errors"]} == {"carol", "eve"}


def test_class_report_is_self_contained_and_escaped(graded_class):
    _, out, _ = graded_class
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 2 and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "Q2</tspan> TIME_WAIT and SO_REUSEADDR" in page
    assert "students/alice/feedback.md" in page
    assert "students/alice/feedback.html" in page


def test_class_report_escapes_what_students_chose():
    from grader.batch import StudentResult
    from grader.batch.outputs import class_report, summarize

    assignment = load_assignment("echo")
    results = [StudentResult("m<i>&", error="x.zip: entry '<script>': '..' would leave")]
    page = class_report(assignment, summarize(assignment, results), results)
    assert "m&lt;i&gt;&amp;" in page and "&lt;script&gt;" in page
    assert "<i>" not in page and "<script" not in page


def test_names_a_student_chose_reach_no_output_raw(tmp_path):
    """A folder name with escape sequences (a cleared screen, a window title) or a
    spreadsheet formula: every human-facing output shows it inert (issue 14)."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    tricky = ["\x1b[2J\x1b]0;pwned\x07eve", "=HYPERLINK(\"x\",\"y\")"]
    for name in tricky:
        (submissions / name).mkdir()  # no server, no client: an error record each
    out = tmp_path / "results"
    with _captured() as printed:
        assert main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                     "--jobs", "2"]) == 0
    texts = {"printed": printed.getvalue(), "grades.csv": (out / "grades.csv").read_text(),
             "report.html": (out / "report.html").read_text(),
             **{f"feedback of {name!r}": (out / "students" / name / "feedback.md").read_text()
                for name in tricky}}
    for where, text in texts.items():
        assert "\x1b" not in text and "\x07" not in text, where
    rows = list(csv.reader(io.StringIO(texts["grades.csv"])))
    assert any(row[0].startswith("'=HYPERLINK") for row in rows)
    assert not any(row[0].startswith("=") for row in rows)


def test_rerun_skips_complete_students_and_force_grades_again(graded_class, tmp_path):
    submissions, original, _ = graded_class
    out = tmp_path / "results"
    shutil.copytree(original, out)
    stamps = _stamps(out)
    (out / "grades.csv").unlink()
    with _captured() as printed:
        assert main(["batch", str(submissions), "--out", str(out), "--backend",
                     "local"]) == 0
    assert "grading 0 students (5 already complete, skipped" in printed.getvalue()
    assert _stamps(out) == stamps  # nobody graded twice
    assert len(_rows(out)) == 5  # the gradebook is made again from the stored results

    shutil.rmtree(submissions / "bob")  # gone from the folder: still in the gradebook
    with _captured() as printed:
        assert main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                     "--force"]) == 0
    assert "grading 4 students" in printed.getvalue()
    after = _stamps(out)
    assert after["bob"] == stamps["bob"]
    assert all(after[s] != stamps[s] for s in ("alice", "carol", "dave", "eve"))
    assert [r["student"] for r in _rows(out)] == ["alice", "bob", "carol", "dave", "eve"]


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    stamps = {}
    for folder in (out / "students").iterdir():
        marker = next(p for p in (folder / "report.json", folder / "error.json") if p.exists())
        stat = marker.stat()
        stamps[folder.name] = (stat.st_ino, stat.st_mtime_ns)
    return stamps


# --- one student's trouble is that student's error --------------------------------------

def test_a_batch_of_another_assignment_uses_its_plan_and_concepts(tmp_path):
    """`grade batch --assignment http`: its checks as the gradebook's columns, its own
    concepts in the summary, and each student graded against it."""
    from .test_http_verdicts import compose_http

    submissions = tmp_path / "submissions"
    compose_http(submissions / "ada", "python/correct")
    compose_http(submissions / "bea", "python/faulty/closes-after-response")
    out = tmp_path / "results"
    with _captured():
        assert main(["batch", str(submissions), "--out", str(out), "--backend", "local",
                     "--assignment", "http", "--jobs", "2"]) == 0
    http = load_assignment("http")
    with open(out / "grades.csv", newline="") as stream:
        header = next(csv.reader(stream))
    assert header[4:-1] == [p.check.id for p in http.checks]
    rows = {row["student"]: row for row in _rows(out)}
    assert rows["ada"]["score"] == "100"
    assert rows["bea"]["http-keep-alive"] == "0" and rows["bea"]["server-concurrency"] != "0"
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["concepts"]) == [c.id for c in http.concepts]
    assert summary["concepts"]["http"]["partly_shown"] == 1
    feedback = (out / "students" / "bea" / "feedback.md").read_text()
    assert "http-keep-alive" in feedback and "Speaking HTTP/1.1" in feedback


def test_a_grading_past_its_deadline_is_stopped_and_recorded(tmp_path, monkeypatch):
    mark = _mark(monkeypatch)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    compose_reference(submissions / "slow", "python")
    options = BatchOptions(backend="local", jobs=1, student_timeout=1.5)
    started = time.monotonic()
    batch = trio.run(run_batch, submissions, tmp_path / "out", load_assignment("echo"),
                     options)
    assert time.monotonic() - started < 30
    [result] = batch.results
    assert result.status == "error" and "did not finish within 2 s" in result.error
    assert _wait_for_no_marked(mark, 15) == []


def test_a_grader_failure_for_one_student_is_that_students_error(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    compose_reference(submissions / "alice", "python")
    options = BatchOptions(backend="no-such-backend", jobs=1)
    batch = trio.run(run_batch, submissions, tmp_path / "out", load_assignment("echo"),
                     options)
    [result] = batch.results
    assert result.status == "error" and "no-such-backend" in result.error


def test_one_batch_per_results_folder(tmp_path):
    import fcntl

    (tmp_path / "submissions").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        status = main(["batch", str(tmp_path / "submissions"), "--out", str(out),
                       "--backend", "local"])
    assert status == 2


# --- SIGKILL mid-way, then a re-run --------------------------------------------------------

def _mark(monkeypatch) -> str:
    """An environment marker every process the batch starts inherits."""
    mark = f"SOCKET_GRADER_TEST_MARK={uuid.uuid4().hex}"
    key, value = mark.split("=")
    monkeypatch.setenv(key, value)
    return mark


def _marked(mark: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(f"{entry.name}: "
                                 + (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                                 .decode(errors="replace"))
        except OSError:
            continue
    return found


def _wait_for_no_marked(mark: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_sigkill_mid_batch_then_rerun_finishes_without_loss_or_double_grading(
        tmp_path, monkeypatch):
    mark = _mark(monkeypatch)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    students = {"s1": None, "s2": "iterative-server", "s3": None,
                "s4": "no-reuseaddr-server", "s5": "keyed-by-ip-server"}
    for student, faulty in students.items():
        compose_reference(submissions / student, "python", faulty)
    (submissions / "s6").mkdir()
    (submissions / "s6" / "README").write_text("no server")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out),
               "--backend", "local", "--jobs", "2"]
    _sigkill_after_first_report(command, out, 120)
    complete = {p.parent.name for p in out.glob("students/*/*.json")}
    assert 0 < len(complete) < len(students) + 1, complete
    stamps = _stamps(out)
    # Its workers see their lifeline close and tear their pods down; nothing survives.
    assert _wait_for_no_marked(mark, 45) == []

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(complete)} already complete, skipped" in rerun.stdout
    for student in [*students, "s6"]:
        markers = [p.name for p in (out / "students" / student).iterdir()
                   if not p.name.startswith(".")]
        assert sorted(markers) in (["feedback.html", "feedback.md", "report.json"],
                                   ["error.json", "feedback.html", "feedback.md"]), (student,
                                                                                     markers)
    assert {k: v for k, v in _stamps(out).items() if k in stamps} == stamps
    rows = _rows(out)
    assert [r["student"] for r in rows] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert [r["status"] for r in rows] == ["graded"] * 5 + ["error"]
    stored = [GradeReport.from_json(json.loads(
        (out / "students" / s / "report.json").read_text())).score
              for s in list(students)[:5]]
    assert [r["score"] for r in rows[:5]] == [f"{score:g}" for score in stored]
    assert stored[0] == stored[2] == 100 and stored[1] < 100 and stored[3] < 100
    assert _wait_for_no_marked(mark, 15) == []


# --- the class report in a browser ---------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_class_report_renders_its_charts_in_headless_chromium(graded_class, tmp_path):
    _, out, _ = graded_class
    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        f"--screenshot={shot}", "--window-size=1200,900",
                        (out / "report.html").as_uri()],
                       capture_output=True, timeout=90, check=True)
    width, height, pixels = _read_png(shot.read_bytes())
    assert (width, height) == (1200, 900)
    colours = {}
    for colour, name in (((0x2F, 0x7D, 0x4F), "concept bars"),
                         ((0x3B, 0x6F, 0xB6), "histogram bars")):
        colours[name] = sum(1 for p in pixels if p[:3] == colour)
    # Concept bars: 2 of 3 students showed Q1..Q4, all showed Q5; three histogram bars.
    assert colours["concept bars"] > 5 * 18 * 200, colours
    assert colours["histogram bars"] > 3 * 30 * 20, colours
    if os.environ.get("SOCKET_GRADER_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SOCKET_GRADER_KEEP_SCREENSHOT"])


def _read_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """A minimal PNG reader (8-bit RGB or RGBA, no interlace): enough for a screenshot."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    size = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * size
    previous = bytearray(stride)
    pixels = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        pixels += [tuple(line[i:i + size]) for i in range(0, stride, size)]
        previous = line
    return width, height, pixels


@pytest.mark.parametrize("cpus, memory_gib, jobs", [(2, 24, 8), (2, 4, 4), (64, 256, 16),
                                                    (1, 0.5, 1)])
def test_default_jobs_are_four_per_cpu_within_memory(monkeypatch, cpus, memory_gib, jobs):
    """A grading mostly waits, so four per CPU; but a pod may hold about 1 GiB."""
    from grader.batch import run

    page = 4096
    sizes = {"SC_PHYS_PAGES": int(memory_gib * 2**30) // page, "SC_PAGE_SIZE": page}
    monkeypatch.setattr(run.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(run.os, "sysconf", sizes.__getitem__)
    assert run.default_jobs() == jobs
