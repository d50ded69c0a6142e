"""The commands of the Python processes the grader starts of its own (the local probe, a
batch's forkserver and workers, the similarity job). Each runs isolated, so that it never
imports from a folder a student can write.

`python -I` puts neither the current folder nor a script's folder on sys.path, and
ignores the PYTHON* variables and the user's site-packages: a `json.py` or `trio.py` in
the folder a process runs in is never imported. What this grader needs comes along
explicitly instead: the folder that holds the `grader` package (installed, or a checkout
on PYTHONPATH), and those PYTHONPATH entries and the user site-packages that this
process has on sys.path itself. Folders added to sys.path while running (pytest's
rootdir, the current folder of `python -c`) never come along.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

GRADER_PARENT = str(Path(__file__).resolve().parents[1])

# Puts the import path (the first argument) in front of the interpreter's own.
_SET_PATH = """import os, sys
path = sys.argv.pop(1).split(os.pathsep)
sys.path[:] = path + [entry for entry in sys.path if entry not in path]
"""
_RUN_MODULE = """import runpy
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def import_path() -> list[str]:
    """Where an isolated process of ours imports from, besides its interpreter's own
    standard library and site-packages."""
    configured = [os.path.abspath(entry) for entry in (
        *os.environ.get("PYTHONPATH", "").split(os.pathsep), site.getusersitepackages())
        if os.path.isabs(entry)]  # as site.py wrote them into sys.path
    return list(dict.fromkeys([GRADER_PARENT, *(e for e in configured if e in sys.path)]))


def python_command(code: str, *arguments: str) -> list[str]:
    """`python -I -c code arguments...`, importing from `import_path()`."""
    return [sys.executable, "-I", "-c", _SET_PATH + code, os.pathsep.join(import_path()),
            *arguments]


def module_command(module: str, *arguments: str) -> list[str]:
    """What `python -m module arguments...` does, isolated (see python_command)."""
    return python_command(_RUN_MODULE, module, *arguments)
