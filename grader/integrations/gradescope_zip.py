"""`grade export gradescope`: the autograder zip an instructor uploads to Gradescope.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once while it builds
its image (Ubuntu, as root, with network access), then `run_autograder` for every
submission. Its container has no Docker, so submissions run with the local backend.

    setup.sh          installs python3 (3.11 or newer), gcc, make; the grader in a venv
    run_autograder    grades a copy of /autograder/submission into results.json
    socket-grader/    the grader's source: grader/, assignments/, pyproject.toml, README.md
    assignment/       the assignment being graded (bundled or the instructor's own)
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import GraderError
from ..loading.assignment import Assignment

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding grader/
SOURCE_PARTS = ("grader", "assignments", "pyproject.toml")
README_STUB = b"# socket-grader\n\nThe grader's source, bundled for Gradescope.\n"
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".partial"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same source gives the same zip

VENV = "/opt/socket-grader"
STUDENT_USER = "grader-student"  # runs the student's programs, and nothing else

SETUP_SH = f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
# Installs a Python 3.11+ with venv, gcc and make (for C submissions), then the grader
# from the copy of its source in this zip, into the virtualenv {VENV}.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip gcc make libc6-dev

python_ok() {{ "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }}
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

"$PYTHON" -m venv {VENV}
{VENV}/bin/python -m pip install --upgrade pip
# Editable: the grader finds its bundled assignments beside its source.
{VENV}/bin/python -m pip install -e /autograder/source/socket-grader
{VENV}/bin/grade --help >/dev/null
# The student's programs run as this user, never as root: they cannot touch the results
# or the grader, and every process of theirs is killed before the results are written.
id {STUDENT_USER} >/dev/null 2>&1 || useradd --system --no-create-home \
    --shell /usr/sbin/nologin {STUDENT_USER}
"""

RUN_AUTOGRADER = f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades a copy of the submission with
# the local backend (Gradescope's container has no Docker), the student's programs
# running as {STUDENT_USER} (killed, every one, before the results are written; the
# results folder is root's), and writes /autograder/results/results.json. A low score
# is a result, not a failure: --fail-under 0.
set -uo pipefail

SOURCE=/autograder/source
RESULTS=/autograder/results/results.json
ASSIGNMENT="$SOURCE/assignment"
FAIL_UNDER=0
WORK=$(mktemp -d)
ERRORS=$(mktemp)
trap 'rm -rf "$WORK" "$ERRORS"' EXIT

mkdir -p /autograder/results
chmod 755 /autograder/results
cp -a /autograder/submission/. "$WORK/"
cd "$WORK"

{VENV}/bin/grade "$WORK" --backend local --run-as {STUDENT_USER} --assignment "$ASSIGNMENT" \\
    --fail-under "$FAIL_UNDER" --gradescope "$RESULTS" 2>"$ERRORS"
status=$?
cat "$ERRORS" >&2

if [ "$status" -eq 2 ] && [ ! -s "$RESULTS" ]; then
    # The submission could not be graded (a missing file, a bad grade.toml): tell the
    # student why, instead of Gradescope's bare "autograder failed".
    {VENV}/bin/python - "$RESULTS" "$ERRORS" <<'PY'
import json, sys
message = open(sys.argv[2], encoding="utf-8", errors="replace").read().strip()
json.dump({{"score": 0, "output": "Your submission could not be graded:\\n" + message,
           "visibility": "visible", "stdout_visibility": "hidden", "tests": []}},
          open(sys.argv[1], "w", encoding="utf-8"))
PY
    exit 0
fi
# 0: graded (whatever the score). Anything else is a grader problem: let Gradescope
# report the run as failed rather than invent a score.
exit "$status"
"""


def write_autograder_zip(assignment: Assignment, target: Path) -> Path:
    """Write the autograder zip for `assignment` to `target`."""
    missing = [part for part in SOURCE_PARTS if not (SOURCE_ROOT / part).exists()]
    if missing:
        raise GraderError(f"export needs the grader's source checkout; {SOURCE_ROOT} has no "
                          f"{', '.join(missing)} (install with `pip install -e` from a clone)")
    members = [("setup.sh", SETUP_SH.encode(), True),
               ("run_autograder", RUN_AUTOGRADER.encode(), True)]
    for part in SOURCE_PARTS:
        members += [(f"socket-grader/{name}", data, executable)
                    for name, data, executable in _tree(SOURCE_ROOT / part, part)]
    readme = SOURCE_ROOT / "README.md"  # pyproject.toml names it: pip needs one
    members.append(("socket-grader/README.md",
                    readme.read_bytes() if readme.is_file() else README_STUB, False))
    members += [(f"assignment/{name}", data, executable)
                for name, data, executable in _tree(assignment.path, "")]
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


def _tree(path: Path, prefix: str) -> Iterator[tuple[str, bytes, bool]]:
    """(name in the zip, content, executable?) of a file, or of each file under a folder."""
    if path.is_file():
        yield prefix or path.name, path.read_bytes(), _executable(path)
        return
    for item in sorted(path.rglob("*")):
        relative = item.relative_to(path)
        if (item.is_file() and not SKIPPED_NAMES & set(relative.parts)
                and item.suffix not in SKIPPED_SUFFIXES):
            yield ("/".join(filter(None, (prefix, *relative.parts))), item.read_bytes(),
                   _executable(item))


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)
