"""`grade new-assignment DIR`: a starter assignment folder an instructor adapts.

It holds a plan (assignment.toml: the built-in checks and one of its own), the
student's handout (README.md), one example check written against grader.api
(checks.py), and a reference solution (reference/) that passes every check as soon as
the folder is written.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from ..errors import GraderError

FILES = Path(__file__).parent / "files"
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def write_starter(target: Path, name: str | None = None, title: str | None = None,
                  force: bool = False) -> list[Path]:
    """Write the starter into `target` (refusing a folder with files in it, unless
    `force`); returns the files written."""
    name = name or target.resolve().name
    if not NAME.fullmatch(name):
        raise GraderError(f"{name!r} cannot name an assignment: use letters, digits, '-' "
                          "and '_', starting with a letter (--name NAME)")
    if target.exists() and not target.is_dir():
        raise GraderError(f"{target}: not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise GraderError(f"{target}: the folder is not empty (--force writes the starter "
                          "over what is there)")
    values = {"name": name, "title": title or name.replace("-", " ").capitalize(),
              "folder": str(target)}
    written = []
    for source in _starter_files():
        destination = target / source.relative_to(FILES)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(source.read_text(encoding="utf-8")).safe_substitute(values)
        destination.write_text(text, encoding="utf-8")
        written.append(destination)
    return written


def _starter_files() -> list[Path]:
    """The starter's source files: an installed grader's folder also holds the bytecode
    pip compiled next to them (__pycache__/*.pyc), which is no part of the starter."""
    return sorted(path for path in FILES.rglob("*") if path.is_file()
                  and "__pycache__" not in path.relative_to(FILES).parts
                  and path.suffix not in (".pyc", ".pyo"))
