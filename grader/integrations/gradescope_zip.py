"""`grade export gradescope`: the autograder zip an instructor uploads to Gradescope.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once while it builds
its image (Ubuntu, as root, with network access), then `run_autograder` for every
submission, as root. Its container has no Docker, so submissions run with the local
backend, the student's programs as the user `grader-student`.

    setup.sh          installs python3 (3.11 or newer), gcc, make; the grader's pinned
                      dependencies (requirements.txt) in a venv; then runs protect.sh
    protect.sh        makes the user grader-student, and the grader, the assignment and
                      the venv root's alone: nothing of them readable by that user
    run_autograder    grades /autograder/submission into results.json
    requirements.txt  the grader's dependencies, at the versions installed where the zip
                      was exported (all of them, each pinned: pip installs nothing else)
    socket-grader/    the grader's source (grader/), imported from there by the venv
    assignment/       the assignment being graded, without what grading does not need:
                      its reference solution and its own tests stay out of the zip
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from ..errors import GraderError
from ..loading.assignment import Assignment

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding grader/
DISTRIBUTION = "socket-grader"
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".git"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".partial"}
# Of an assignment's folder: the solution (`grade new-assignment` writes it there) and the
# instructor's own tests, at its top; pytest's files anywhere.
INSTRUCTOR_ONLY_FOLDERS = {"reference", "tests"}
INSTRUCTOR_ONLY_FILE = re.compile(r"(conftest|test_.*|.*_test)\.py")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same source gives the same zip

SOURCE = "/autograder/source"
VENV = "/opt/socket-grader"
STUDENT_USER = "grader-student"  # runs the student's programs, and nothing else

SETUP_SH = f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# Installs a Python 3.11+ with venv, gcc and make (for C submissions), then the grader's
# dependencies at the versions of requirements.txt into the virtualenv {VENV}, which
# imports the grader from this zip's copy of its source; then protect.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd /

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv gcc make libc6-dev

python_ok() {{ "$1" -I -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }}
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
        PYTHON=$(command -v "$candidate")
        break
    fi
done
if [ -z "$PYTHON" ]; then
    # Ubuntu 22.04's python3 is 3.10; its universe has 3.11.
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=$(command -v python3.11)
fi

"$PYTHON" -I -m venv {VENV}
# Every package pinned, and --no-deps: nothing is installed that the list does not name.
{VENV}/bin/python -I -m pip install --no-deps --no-cache-dir -r {SOURCE}/requirements.txt
{VENV}/bin/python -I -c 'import sys, sysconfig
with open(sysconfig.get_path("purelib") + "/socket-grader.pth", "w") as pth:
    pth.write(sys.argv[1] + "\\n")' {SOURCE}/socket-grader
bash {SOURCE}/protect.sh
{VENV}/bin/python -I -m grader --help >/dev/null
"""

PROTECT_SH = f"""\
#!/usr/bin/env bash
# Run by setup.sh, as root. The student's programs run as {STUDENT_USER}, never as root:
# they cannot touch the results, and every process of theirs is killed before the
# results are written. Nothing of the grader, of the assignment (its checks, its plan)
# or of the venv is readable by that user: root's alone. The student's programs need
# none of it: their own copy of the submission and the system's tools (/usr/bin).
set -euo pipefail
id {STUDENT_USER} >/dev/null 2>&1 || useradd --system --no-create-home \\
    --shell /usr/sbin/nologin {STUDENT_USER}
for folder in {SOURCE} {VENV}; do
    chown -R root:root "$folder"
    chmod -R go-rwx "$folder"
done
"""

RUN_AUTOGRADER = f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as root. The grader grades the submission
# with the local backend (Gradescope's container has no Docker), the student's programs
# running as {STUDENT_USER} in a copy of it, and writes results.json on every path: a low
# score (--fail-under 0), a submission it cannot grade (score 0 and the reason), a crash
# of its own (score 0; the traceback in extra_data, which students do not see).
# Python runs isolated (-I), from a folder the student cannot write.
set -uo pipefail
RESULTS=/autograder/results/results.json
cd /
mkdir -p /autograder/results
chmod 755 /autograder/results
rm -f "$RESULTS"

{VENV}/bin/python -I -m grader /autograder/submission --backend local \\
    --run-as {STUDENT_USER} --assignment {SOURCE}/assignment --fail-under 0 \\
    --gradescope "$RESULTS"
status=$?
if [ ! -s "$RESULTS" ]; then
    echo "run_autograder: the grader ended (status $status) without writing $RESULTS" >&2
    exit 1
fi
"""


def write_autograder_zip(assignment: Assignment, target: Path) -> Path:
    """Write the autograder zip for `assignment` to `target`."""
    grader = SOURCE_ROOT / "grader"
    if not grader.is_dir():
        raise GraderError(f"export needs the grader's source checkout; {SOURCE_ROOT} has no "
                          "grader/ (install with `pip install -e` from a clone)")
    requirements = "".join(f"{pin}\n" for pin in pinned_requirements())
    members = [("setup.sh", SETUP_SH.encode(), True),
               ("run_autograder", RUN_AUTOGRADER.encode(), True),
               ("protect.sh", PROTECT_SH.encode(), True),
               ("requirements.txt", requirements.encode(), False)]
    members += [(f"socket-grader/{name}", data, executable)
                for name, data, executable in _tree(grader, "grader")]
    members += [(f"assignment/{name}", data, executable)
                for name, data, executable in _tree(assignment.path, "")
                if not _instructor_only(name)]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data, executable in members:
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        partial.replace(target)
    except OSError as exc:
        raise GraderError(f"{target}: cannot write the zip: {exc.strerror}") from None
    return target


def pinned_requirements(distribution: str = DISTRIBUTION) -> list[str]:
    """`name==version` of every distribution `distribution` needs to run (its extras
    left out), and of theirs, at the versions installed here. A requirement with an
    environment marker that is not installed here is another platform's or an older
    Python's, and is left out (the markers are not evaluated otherwise)."""
    pins: dict[str, str] = {}
    pending = [distribution]
    while pending:
        try:
            requirements = metadata.requires(pending.pop()) or []
        except metadata.PackageNotFoundError as exc:
            raise GraderError(f"export pins the grader's dependencies as installed here, "
                              f"but {exc.name} is not installed (pip install -e .)") from None
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            name = re.match(r"[A-Za-z0-9._-]+", spec.strip())
            assert name is not None  # metadata's requirements start with a name
            key = re.sub(r"[-_.]+", "-", name.group()).lower()
            if key in pins:
                continue
            try:
                pins[key] = f"{key}=={metadata.version(key)}"
            except metadata.PackageNotFoundError:
                if marker.strip():
                    continue
                raise GraderError(f"export pins the grader's dependencies as installed here, "
                                  f"but {key} is not installed") from None
            pending.append(key)
    return sorted(pins.values())


def _instructor_only(name: str) -> bool:
    parts = name.split("/")
    return parts[0] in INSTRUCTOR_ONLY_FOLDERS or bool(INSTRUCTOR_ONLY_FILE.fullmatch(parts[-1]))


def _tree(path: Path, prefix: str) -> Iterator[tuple[str, bytes, bool]]:
    """(name in the zip, content, executable?) of each file under a folder."""
    for item in sorted(path.rglob("*")):
        relative = item.relative_to(path)
        if (item.is_file() and not SKIPPED_NAMES & set(relative.parts)
                and item.suffix not in SKIPPED_SUFFIXES):
            yield ("/".join(filter(None, (prefix, *relative.parts))), item.read_bytes(),
                   _executable(item))


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)
