"""Assignments as folders: finding one, collecting what its folder defines beside what the
grader has built in, and reading its plan.

An assignment is a folder: assignment.toml (the plan), README.md (the student's handout),
optionally checks.py (its own checks and protocols, written against `grader.api`) and
concepts.toml (its own concepts), and any data files its checks use. Bundled ones live
in the repository's assignments/ folder and are found by name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from .checks import BUILT_IN as BUILT_IN_CHECKS
from .checks.base import Check
from .concepts import BUILT_IN as BUILT_IN_CONCEPTS
from .concepts import Concept
from .errors import InputError
from .loading.assignment import Assignment, Known, read_assignment
from .loading.tables import Table, read_toml
from .protocols.base import Protocol

CHECKS_FILE = "checks.py"
CONCEPTS_FILE = "concepts.toml"
DEFAULT_ASSIGNMENT = "echo"


def _bundled_folder() -> Path:
    """The repository's assignments/ (a checkout or editable install), else the copy an
    installed wheel puts under <prefix>/share/socket-grader/assignments."""
    in_repository = Path(__file__).resolve().parents[1] / "assignments"
    installed = Path(sys.prefix) / "share" / "socket-grader" / "assignments"
    return in_repository if in_repository.is_dir() or not installed.is_dir() else installed


BUNDLED = _bundled_folder()


def bundled_names() -> list[str]:
    return sorted(p.parent.name for p in BUNDLED.glob("*/assignment.toml"))


def resolve_assignment(name_or_path: str) -> Path:
    """A bundled assignment's name, or the path of a folder holding assignment.toml."""
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / "assignment.toml").exists():
        return candidate / "assignment.toml"
    if candidate.suffix == ".toml" and candidate.exists():
        return candidate
    if "/" not in name_or_path and (BUNDLED / name_or_path / "assignment.toml").exists():
        return BUNDLED / name_or_path / "assignment.toml"
    names = ", ".join(bundled_names()) or "none"
    where = ("the folder has no assignment.toml" if candidate.is_dir()
             else "no such assignment")
    raise InputError(name_or_path, f"{where} (bundled: {names}; or give the path of a "
                                   "folder with an assignment.toml)")


@dataclass(frozen=True)
class FolderDefinitions:
    """What an assignment's checks.py defines (or imports): checks, in the order they are
    defined, and protocols."""

    checks: dict[str, Check] = field(default_factory=dict)
    protocols: dict[str, type[Protocol]] = field(default_factory=dict)


def load_assignment(name_or_path: str = DEFAULT_ASSIGNMENT) -> Assignment:
    path = resolve_assignment(name_or_path)
    own = collect_definitions(path.parent / CHECKS_FILE)
    for check_id in own.checks:
        if check_id in BUILT_IN_CHECKS:
            raise InputError(path.parent / CHECKS_FILE,
                             f"check {check_id!r} is a built-in check's id: choose another")
    concepts = {item.id: item for item in BUILT_IN_CONCEPTS}
    concepts.update(read_concepts(path.parent / CONCEPTS_FILE))
    protocols = dict(own.protocols)
    plan_protocol = Table(path, read_toml(path)).data.get("protocol")
    if isinstance(plan_protocol, str) and plan_protocol not in protocols:
        protocols.update(_bundled_protocol(plan_protocol))
    return read_assignment(path, Known({**BUILT_IN_CHECKS, **own.checks}, concepts, protocols))


def collect_definitions(path: Path) -> FolderDefinitions:
    """The checks and protocols of an assignment's checks.py (none when it has none)."""
    if not path.exists():
        return FolderDefinitions()
    module = _import(path)
    found = FolderDefinitions()
    for value in vars(module).values():
        if isinstance(value, Check):
            found.checks[value.id] = value
        elif (inspect.isclass(value) and issubclass(value, Protocol) and value is not Protocol
              and not inspect.isabstract(value)):
            found.protocols[value.name] = value
    return found


def _import(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"socket_grader_assignment_{path.parent.name.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look their module up by name
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:  # without a __pycache__ in the instructor's folder (it may be read-only)
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise InputError(path, f"line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename == str(path)]
        line = f"line {frames[-1].lineno}: " if frames else ""
        raise InputError(path, f"{line}importing it raised {type(exc).__name__}: "
                               f"{exc}") from None
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


def _bundled_protocol(name: str) -> dict[str, type[Protocol]]:
    """A protocol of the grader's own (grader/protocols/<name>.py), found by its name."""
    if not name.isidentifier():
        return {}
    try:
        module = importlib.import_module(f"{__package__}.protocols.{name}")
    except ModuleNotFoundError:
        return {}
    return {value.name: value for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, Protocol)
            and getattr(value, "name", None) == name}


def read_concepts(path: Path) -> dict[str, Concept]:
    """An assignment's own concepts: one table per concept, with title, question, idea."""
    if not path.exists():
        return {}
    top = Table(path, read_toml(path))
    concepts = {}
    for concept_id in top.keys():  # noqa: SIM118 (a Table, not a dict)
        entry = top.table(concept_id, required=True)
        assert entry is not None
        concepts[concept_id] = Concept(concept_id, entry.get("title", str, required=True),
                                       entry.get("question", str, required=True),
                                       entry.get("idea", str, required=True))
        entry.finish()
    top.finish()
    return concepts
