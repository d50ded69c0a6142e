"""`grade export gradescope`: the zip's contents, and the Gradescope path end to end.

The end-to-end tests run the exported scripts as Gradescope does: as root, with the
zip unpacked (with its modes) at /autograder/source, the submission at
/autograder/submission, the results at /autograder/results, the venv at
/opt/socket-grader, and the user grader-student. Those paths are bind mounts in a mount
namespace of the test's own (`unshare --mount`; the empty mount points /autograder and
/opt/socket-grader are made on the host if missing). What differs from Gradescope:
setup.sh's apt-get and pip steps do not run (no network here): the venv is made with
--system-site-packages over this interpreter (so it has the dependencies installed
here), and imports the grader from the zip's copy through the same .pth file setup.sh
writes; setup.sh's last steps, protect.sh and `python -I -m grader --help`, run as they
are.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from grader.cli import main
from grader.integrations.gradescope_zip import STUDENT_USER
from grader.pod.reaping import processes_of

from .conftest import compose_reference

ECHO = Path(__file__).parents[1] / "assignments" / "echo"
MOUNT_POINTS = (Path("/autograder"), Path("/opt/socket-grader"))
# run_autograder kills every process of grader-student when it ends: one grading at a
# time, as in Gradescope's container (pytest-xdist's workers take turns on this lock).
STUDENT_LOCK = Path(f"/tmp/socket-grader-tests-{STUDENT_USER}.lock")


def _export(assignment: Path | str, target: Path) -> Path:
    assert main(["export", "gradescope", "--assignment", str(assignment),
                 "--out", str(target)]) == 0
    return target


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    return _export("echo", tmp_path_factory.mktemp("export") / "out" / "autograder.zip")


# the zip --------------------------------------------------------------------------------

def test_export_zip_members(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        infos = {info.filename: info for info in archive.infolist()}
    assert names[:4] == ["setup.sh", "run_autograder", "protect.sh", "requirements.txt"]
    for member in ("socket-grader/grader/__init__.py", "socket-grader/grader/cli.py",
                   "socket-grader/grader/report/gradescope.py",
                   "assignment/assignment.toml", "assignment/checks.py"):
        assert member in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("tests/", "reference/", "socket-grader/tests",
                                                  "socket-grader/reference"))]
    for script in ("setup.sh", "run_autograder", "protect.sh"):
        mode = infos[script].external_attr >> 16
        assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, oct(mode)
    assert (infos["socket-grader/grader/cli.py"].external_attr >> 16) & 0o111 == 0


def test_export_leaves_out_the_solution_and_the_instructors_tests(tmp_path, monkeypatch):
    own = tmp_path / "my-course" / "echo-v2"
    shutil.copytree(ECHO, own)
    toml = (own / "assignment.toml").read_text()
    (own / "assignment.toml").write_text(toml.replace('name = "echo"', 'name = "echo-v2"'))
    (own / "README.md").write_text("handout\n")
    compose_reference(own / "reference", "python")  # as `grade new-assignment` writes it
    (own / "tests").mkdir()
    (own / "tests" / "test_own.py").write_text("def test_own(): pass\n")
    (own / "conftest.py").write_text("")
    (own / "data").mkdir()
    (own / "data" / "lines.txt").write_text("what a check reads\n")
    monkeypatch.chdir(tmp_path)  # the default --out is in the current folder
    assert main(["export", "gradescope", "--assignment", str(own)]) == 0
    with zipfile.ZipFile(tmp_path / "gradescope-echo-v2.zip") as archive:
        names = archive.namelist()
        assert archive.read("assignment/README.md") == b"handout\n"
        assert b'name = "echo-v2"' in archive.read("assignment/assignment.toml")
        assert b"client_echo" in archive.read("assignment/checks.py")
    assert "assignment/data/lines.txt" in names
    assert not [n for n in names if n.startswith(("assignment/reference/", "assignment/tests/"))]
    assert "assignment/conftest.py" not in names


def test_export_pins_every_dependency_at_the_installed_version(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        pins = archive.read("requirements.txt").decode().splitlines()
    parsed = dict(pin.split("==") for pin in pins)
    assert all(re.fullmatch(r"[a-z0-9-]+==[A-Za-z0-9.+!-]+", pin) for pin in pins), pins
    for name in ("trio", "docker", "h11", "rich",  # the grader's own
                 "attrs", "sniffio", "requests", "urllib3"):  # and theirs
        assert parsed[name] == metadata.version(name)
    assert "pytest" not in parsed and "distributed" not in parsed  # extras stay out
    assert "junit-xml" not in parsed  # the grader writes its JUnit with xml.etree
    with zipfile.ZipFile(autograder_zip) as archive:
        setup = archive.read("setup.sh").decode()
    assert "pip install --no-deps --no-cache-dir -r /autograder/source/requirements.txt" in setup


def test_export_scripts_are_valid_bash_and_run_python_isolated(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder", "protect.sh"):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
        text = (tmp_path / script).read_text()
        assert text.startswith("#!/usr/bin/env bash\n")
        calls = re.findall(r"(?:python\S*|\$PYTHON\"?|\"\$1\") (-\S+)", text)
        assert all(flag == "-I" for flag in calls), (script, calls)
    run = (tmp_path / "run_autograder").read_text()
    assert "<<" not in run and "python -\n" not in run and "python - " not in run
    assert "\ncd /\n" in run


# Gradescope, end to end -----------------------------------------------------------------

@pytest.fixture(scope="module")
def student_user():
    """The user the student's programs run as (protect.sh makes it as well)."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root on Gradescope; these tests need root")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) for Gradescope's paths in a mount namespace")
    for point in MOUNT_POINTS:
        point.mkdir(mode=0o755, exist_ok=True)
    return STUDENT_USER


class Gradescope:
    """One autograder, set up from a zip as Gradescope's image would be."""

    def __init__(self, root: Path, autograder_zip: Path) -> None:
        self.source = root / "source"
        with zipfile.ZipFile(autograder_zip) as archive:
            for info in archive.infolist():  # with their modes, as unzip(1) does
                archive.extract(info, self.source)
                (self.source / info.filename).chmod((info.external_attr >> 16) & 0o777)
        self.venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                        "--without-pip", str(self.venv)], check=True, timeout=120)
        # The rest of setup.sh, after its pip step: the same .pth, protect.sh, the check.
        setup = (self.source / "setup.sh").read_text()
        tail = setup[setup.index('/opt/socket-grader/bin/python -I -c \'import sys, sysconfig'):]
        done = self.run(root / "setup", ["bash", "-c", "set -euo pipefail\ncd /\n" + tail])
        assert done.returncode == 0, done.stdout + done.stderr

    def run(self, folder: Path, command: list[str], timeout: float = 60
            ) -> subprocess.CompletedProcess:
        """`command` as root, with `folder` at /autograder (this autograder's source in
        it) and the venv at /opt/socket-grader."""
        (folder / "source").mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        script = ('mount --bind "$1" /autograder && mount --bind "$2" /autograder/source && '
                  'mount --bind "$3" /opt/socket-grader && shift 3 && exec "$@"')
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
             str(folder), str(self.source), str(self.venv), *command],
            capture_output=True, text=True, timeout=timeout)

    def grade(self, folder: Path) -> tuple[subprocess.CompletedProcess, dict]:
        """run_autograder for the submission in folder/submission, as Gradescope runs it:
        copied to /autograder/run_autograder, from the submission's folder. Then
        `left_running`: the processes of grader-student a second after it ended."""
        (folder / "results").mkdir(exist_ok=True)
        shutil.copy(self.source / "run_autograder", folder / "run_autograder")
        with STUDENT_LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = self.run(folder, ["sh", "-c", "cd /autograder/submission && "
                                     "exec /autograder/run_autograder"], timeout=240)
            time.sleep(1.0)  # a forger that survived would write in the meantime
            self.left_running = processes_of(pwd.getpwnam(STUDENT_USER).pw_uid)
        results = folder / "results" / "results.json"
        return done, json.loads(results.read_text()) if results.exists() else {}


@pytest.fixture(scope="module")
def gradescope(autograder_zip, student_user, tmp_path_factory):
    return Gradescope(tmp_path_factory.mktemp("gradescope"), autograder_zip)


def test_setup_makes_the_grader_root_s_alone(gradescope, tmp_path):
    done = gradescope.run(tmp_path, ["sh", "-c", "stat -c '%a %U' /autograder/source "
                                     "/opt/socket-grader; /opt/socket-grader/bin/python -I -c "
                                     "'import grader; print(grader.__file__)'"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["700 root", "700 root",
                                        "/autograder/source/socket-grader/grader/__init__.py"]


def test_a_low_score_is_a_result(gradescope, tmp_path):
    compose_reference(tmp_path / "submission", "python", "no-reuseaddr-server")
    done, results = gradescope.grade(tmp_path)
    assert done.returncode == 0, done.stderr
    failed = [t["name"] for t in results["tests"] if t["status"] == "failed"]
    assert failed == ["server-restart: Restarts at once despite TIME_WAIT"]
    assert 0 < results["score"] < 100
    assert {t["output_format"] for t in results["tests"]} == {"text"}
    assert not gradescope.left_running  # nothing of theirs left


def test_the_students_programs_run_as_their_own_user(gradescope, tmp_path):
    """They could otherwise rewrite results.json after the grader wrote it (issue 14):
    they run as an unprivileged user, which can neither write the results nor outlive
    the grading."""
    submission = compose_reference(tmp_path / "submission", "python")
    marker = Path(f"/tmp/sg-forger-{os.getpid()}")  # the server's own record of its user
    forger = (f"import os, sys, time\nopen({str(marker)!r}, 'w').write(str(os.getuid()))\n"
              "if os.fork() == 0:\n    os.setsid()\n    for _ in range(200):\n        try:\n"
              "            open('/autograder/results/results.json', 'w')"
              ".write('{\"score\": 100}')\n        except OSError:\n            pass\n"
              "        time.sleep(0.05)\n    os._exit(0)\n")
    (submission / "server.py").write_text(forger + (submission / "server.py").read_text())
    uid = pwd.getpwnam(STUDENT_USER).pw_uid
    try:
        done, _ = gradescope.grade(tmp_path)
        assert done.returncode == 0, done.stderr
        data = json.loads((tmp_path / "results" / "results.json").read_text())
        assert data["score"] == 100 and data["tests"], data  # ours, not the forger's
        assert marker.read_text() == str(uid)
    finally:
        marker.unlink(missing_ok=True)
    assert not gradescope.left_running


def test_an_ungradable_submission_gets_zero_and_the_reason(gradescope, tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "notes.txt").write_text("hi\n")
    done, results = gradescope.grade(tmp_path)
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0 and results["tests"] == []
    assert "no server found" in results["output"]


def test_a_bad_grade_toml_cannot_forge_the_score(gradescope, tmp_path):
    """Issue 23, 2: `grade` exited 2 and a fallback `python -` ran as root in the
    student's copy, importing the student's json.py, which wrote a score of 100."""
    submission = compose_reference(tmp_path / "submission", "python")
    (submission / "grade.toml").write_text("[server\nrun = 'python3 server.py {port}'\n")
    (submission / "json.py").write_text(
        "open('/autograder/results/results.json', 'w').write('{\"score\": 100}')\n"
        "raise SystemExit(0)\n")
    done, results = gradescope.grade(tmp_path)
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0, results
    assert "could not be graded" in results["output"] and "grade.toml" in results["output"]


def test_the_students_server_cannot_read_the_grader_or_the_assignment(gradescope, tmp_path):
    """Issue 23, 3: a server that prints the assignment's files (its checks, its plan),
    the grader's source and the venv, then exits, got them quoted in its feedback. (It
    prints a line of each: the feedback quotes the end of a long output.)"""
    secrets = {path: (gradescope.source / relative).read_text().splitlines()[0]
               for path, relative in (
                   ("/autograder/source/assignment/checks.py", "assignment/checks.py"),
                   ("/autograder/source/assignment/assignment.toml",
                    "assignment/assignment.toml"),
                   ("/autograder/source/socket-grader/grader/cli.py",
                    "socket-grader/grader/cli.py"))}
    submission = compose_reference(tmp_path / "submission", "python")
    (submission / "server.py").write_text(
        "import sys\n"
        f"for path in {[*secrets, '/opt/socket-grader/pyvenv.cfg']!r}:\n"
        "    try:\n        print(open(path).readline().strip(), file=sys.stderr)\n"
        "    except OSError as exc:\n        print(path, exc.strerror, file=sys.stderr)\n"
        "sys.exit(3)\n")
    done, results = gradescope.grade(tmp_path)
    assert done.returncode == 0, done.stderr
    # What the student sees: the program's output as it is, and in the evidence (JSON).
    text = "\n".join([results["output"], *(test["output"] for test in results["tests"])])
    for path, first_line in secrets.items():
        assert first_line not in text and json.dumps(first_line)[1:-1] not in text, path
    assert "home = " not in text  # pyvenv.cfg's first line
    assert "Permission denied" in text  # the server ran, and was refused


def test_a_compiler_error_reaches_the_student(gradescope, tmp_path):
    submission = compose_reference(tmp_path / "submission", "c")
    server = submission / "server.c"
    server.write_text(server.read_text() + "\nint broken(void) { return 1 }\n")
    done, results = gradescope.grade(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "building server: make ... failed" in results["output"]
    assert "server.c" in results["output"] and "error: expected" in results["output"]
    assert results["score"] < 100


def test_a_grader_crash_still_writes_results(student_user, tmp_path):
    """A bug of the grader's (here: an instructor's protocol that raises) must not leave
    Gradescope with no results.json: score 0, a note for the student, the traceback
    where only the instructor sees it."""
    own = tmp_path / "crashing"
    shutil.copytree(ECHO, own)
    toml = (own / "assignment.toml").read_text()
    (own / "assignment.toml").write_text(toml.replace('protocol = "echo"',
                                                      'protocol = "crashing-echo"'))
    with (own / "checks.py").open("a") as checks:
        checks.write("\n\nfrom grader.protocols.echo import EchoProtocol\n\n\n"
                     "class CrashingEcho(EchoProtocol):\n    name = 'crashing-echo'\n\n"
                     "    async def prepare(self, pod):\n"
                     "        raise RuntimeError('a bug of the grader')\n")
    autograder = Gradescope(tmp_path / "gradescope", _export(own, tmp_path / "crash.zip"))
    compose_reference(tmp_path / "run" / "submission", "python")
    done, results = autograder.grade(tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "RuntimeError: a bug of the grader" in done.stderr  # in Gradescope's log
    assert results["score"] == 0 and "internal problem" in results["output"]
    assert "RuntimeError" not in results["output"]
    assert "RuntimeError: a bug of the grader" in results["extra_data"]["grader_traceback"]
