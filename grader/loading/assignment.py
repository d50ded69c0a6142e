"""Assignments: the protocol, how submissions are built and run by default, which checks
run with which parameters and points. Bundled ones live in the repository's
`assignments/` folder; an instructor's own is any folder with an `assignment.toml`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import CHECKS, Check
from ..errors import InputError
from ..protocols import PROTOCOLS, EchoProtocol, Protocol
from .commands import placeholder_problem
from .tables import Table, read_toml


def _bundled_folder() -> Path:
    """The repository's assignments/ (a checkout or editable install), else the copy an
    installed wheel puts under <prefix>/share/socket-grader/assignments."""
    in_repository = Path(__file__).resolve().parents[2] / "assignments"
    installed = Path(sys.prefix) / "share" / "socket-grader" / "assignments"
    return in_repository if in_repository.is_dir() or not installed.is_dir() else installed


BUNDLED = _bundled_folder()
DEFAULT_ASSIGNMENT = "echo"


@dataclass(frozen=True)
class RoleDefault:
    """How to build and run one role when a submission has no grade.toml."""

    when: tuple[str, ...]  # applies when all these files exist in the submission
    run: str
    build: str | None = None


@dataclass(frozen=True)
class PlannedCheck:
    check: Check
    points: float
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Limits:
    build_timeout: float = 120.0
    start_timeout: float = 10.0
    stop_grace: float = 2.0
    check_timeout: float = 120.0
    output_cap: int = 64 * 1024


@dataclass(frozen=True)
class DockerSettings:
    image: str = "socket-grader/base:bookworm"
    port: int = 443
    memory: str = "512m"
    pids: int = 4096
    cpus: float = 1.0
    nofile: int = 16384
    workdir_size: str = "64m"
    tmp_size: str = "16m"


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    path: Path
    defaults: Mapping[str, tuple[RoleDefault, ...]]
    checks: tuple[PlannedCheck, ...]
    limits: Limits = field(default_factory=Limits)
    docker: DockerSettings = field(default_factory=DockerSettings)
    protocol: Protocol = field(default_factory=EchoProtocol)

    @property
    def handout(self) -> Path:
        return self.path / "README.md"

    def with_params(self, check_id: str, **params: Any) -> Assignment:
        """A copy with some parameters of one check changed (e.g. --clients)."""
        checks = tuple(
            PlannedCheck(p.check, p.points, {**p.params, **params}) if p.check.id == check_id
            else p for p in self.checks)
        return dataclasses.replace(self, checks=checks)


def bundled_names() -> list[str]:
    return sorted(p.parent.name for p in BUNDLED.glob("*/assignment.toml"))


def resolve_assignment(name_or_path: str) -> Path:
    """A bundled assignment's name, or the path of a folder holding assignment.toml."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return candidate / "assignment.toml"
    if candidate.suffix == ".toml" and candidate.exists():
        return candidate
    if "/" not in name_or_path and (BUNDLED / name_or_path / "assignment.toml").exists():
        return BUNDLED / name_or_path / "assignment.toml"
    names = ", ".join(bundled_names()) or "none"
    raise InputError(name_or_path, f"no such assignment (bundled: {names}; or give the path "
                                   "of a folder with an assignment.toml)")


def load_assignment(name_or_path: str = DEFAULT_ASSIGNMENT) -> Assignment:
    path = resolve_assignment(name_or_path)
    top = Table(path, read_toml(path))
    name = top.get("name", str, required=True)
    title = top.get("title", str, default=name)
    protocol_name = top.get("protocol", str, default="echo")
    if protocol_name not in PROTOCOLS:
        raise top.error("protocol", f"no such protocol {protocol_name!r} (known: "
                                    f"{', '.join(PROTOCOLS)})")
    defaults = _read_defaults(top.table("defaults", required=True))
    limits = _read_dataclass(top.table("limits"), Limits)
    docker = _read_dataclass(top.table("docker"), DockerSettings)
    checks = _read_checks(top.table("checks", required=True))
    top.finish()
    return Assignment(name, title, path.parent, defaults, checks, limits, docker,
                      PROTOCOLS[protocol_name])


def _read_defaults(table: Table) -> dict[str, tuple[RoleDefault, ...]]:
    defaults = {}
    for role in ("server", "client"):
        entries = table.get(role, list, required=True)
        read = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise table.error(f"{role}[{index}]", "expected a table with when, run, build")
            item = Table(table.path, entry, f"{table.where}.{role}[{index}]")
            when = item.get("when", list, required=True)
            run = item.get("run", str, required=True)
            build = item.get("build", str)
            item.finish()
            for template, template_role in ((run, role), (build, None)):
                problem = template and placeholder_problem(template, template_role)
                if problem:
                    raise item.error("run" if template_role else "build", problem)
            read.append(RoleDefault(tuple(str(w) for w in when), run, build))
        defaults[role] = tuple(read)
    table.finish()
    return defaults


def _read_dataclass(table: Table | None, kind: type) -> Any:
    if table is None:
        return kind()
    values = {}
    for name, default in vars(kind()).items():
        value = table.get(name, type(default))
        if value is not None:
            values[name] = type(default)(value)
    table.finish()
    return kind(**values)


def _read_checks(table: Table) -> tuple[PlannedCheck, ...]:
    planned = []
    for check_id in table.keys():  # noqa: SIM118 (a Table, not a dict)
        if check_id not in CHECKS:
            known = ", ".join(CHECKS)
            raise table.error(check_id, f"no such check (known checks: {known})")
        check = CHECKS[check_id]
        entry = table.table(check_id, required=True)
        assert entry is not None
        points = entry.get("points", float, required=True)
        params = {}
        for param, default in check.params.items():
            value = entry.get(param, type(default))
            params[param] = default if value is None else type(default)(value)
        entry.finish(["points", *check.params])
        planned.append(PlannedCheck(check, float(points), params))
    table.finish()
    _check_dependencies(table, planned)
    return tuple(planned)


def _check_dependencies(table: Table, planned: list[PlannedCheck]) -> None:
    seen: set[str] = set()
    for item in planned:
        for parent in item.check.prerequisites:
            if parent not in seen:
                raise table.error(item.check.id, f"depends on {parent!r}, which must be listed "
                                                  "before it")
        seen.add(item.check.id)
