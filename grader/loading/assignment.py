"""Reading an assignment's plan, assignment.toml: its roles and how a submission's
programs are found, its protocol, which checks run in which order with which points,
parameters and visibility to students, its limits and its pod, and how a batch compares
submissions for similarity.

The reader is handed what a plan may name (`Known`: the checks, concepts and protocols
of the grader and of the assignment's own folder) and names the file and the key of
anything that does not fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..concepts import Concept
from ..errors import InputError
from ..results import Visibility
from .commands import placeholder_problem
from .tables import Table, read_toml

if TYPE_CHECKING:
    from ..checks.base import Check
    from ..protocols.base import Protocol


@dataclass(frozen=True)
class RoleDefault:
    """How to build and run one role when a submission has no grade.toml."""

    when: tuple[str, ...]  # applies when all these files exist in the submission
    run: str
    build: str | None = None


@dataclass(frozen=True)
class Role:
    """A program the students hand in: "server", "client", or whatever the plan says."""

    name: str
    placeholders: tuple[str, ...]  # what its run command must pass: ("host", "port")
    defaults: tuple[RoleDefault, ...] = ()


@dataclass(frozen=True)
class PlannedCheck:
    check: Check
    points: float
    params: Mapping[str, Any]
    visibility: Visibility = Visibility.VISIBLE  # when students may see its result


@dataclass(frozen=True)
class Limits:
    build_timeout: float = 120.0
    start_timeout: float = 10.0
    stop_grace: float = 2.0
    check_timeout: float = 120.0
    output_cap: int = 64 * 1024


@dataclass(frozen=True)
class DockerSettings:
    """A pod's settings (Docker and Podman). The server and the builds get `memory`,
    `pids` and `cpus`; each copy of the client the client_ ones; the grader's probe its
    own. The pod's budget is what they add up to (README, Security)."""

    image: str = "socket-grader/base:bookworm"
    port: int = 443
    memory: str = "512m"
    pids: int = 4096
    cpus: float = 1.0
    client_memory: str = "96m"
    client_pids: int = 128
    client_cpus: float = 0.125  # 8 copies at once share one CPU
    probe_memory: str = "256m"
    probe_pids: int = 64
    nofile: int = 16384
    workdir_size: str = "64m"
    tmp_size: str = "16m"
    uid_first: int = 20000  # the student programs' uid and the probe's, per pod, from here
    uid_count: int = 40000


@dataclass(frozen=True)
class SimilaritySettings:
    """[similarity]: the handout's starter code, whose passages make no pair similar
    (files or folders of the assignment folder), and the share that lists a pair."""

    starter: tuple[Path, ...] = ()
    threshold: float = 0.5


@dataclass(frozen=True)
class Known:
    """What a plan may name."""

    checks: Mapping[str, Check]
    concepts: Mapping[str, Concept]  # in catalogue order
    protocols: Mapping[str, type[Protocol]]


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    path: Path  # the assignment's folder
    roles: Mapping[str, Role]
    checks: tuple[PlannedCheck, ...]
    protocol: type[Protocol]  # one instance of it serves each grading
    concepts: tuple[Concept, ...]  # those its checks show, in catalogue order
    limits: Limits = field(default_factory=Limits)
    docker: DockerSettings = field(default_factory=DockerSettings)
    similarity: SimilaritySettings = field(default_factory=SimilaritySettings)

    @property
    def handout(self) -> Path:
        return self.path / "README.md"

    def with_params(self, check_id: str, **params: Any) -> Assignment:
        """A copy with some parameters of one check changed (e.g. --clients)."""
        checks = tuple(
            dataclasses.replace(p, params={**p.params, **params}) if p.check.id == check_id
            else p for p in self.checks)
        return dataclasses.replace(self, checks=checks)


def read_assignment(path: Path, known: Known) -> Assignment:
    top = Table(path, read_toml(path))
    name = top.get("name", str, required=True)
    title = top.get("title", str, default=name)
    protocol_name = top.get("protocol", str, required=True)
    if protocol_name not in known.protocols:
        raise top.error("protocol", f"no protocol named {protocol_name!r} (known: "
                                    f"{', '.join(known.protocols) or 'none'}; define one in "
                                    "the folder's checks.py)")
    roles = _read_roles(top.table("roles", required=True))
    limits = _read_dataclass(top.table("limits"), Limits)
    docker = _read_dataclass(top.table("docker"), DockerSettings)
    checks = _read_checks(top.table("checks", required=True), known, roles)
    similarity = _read_similarity(top.table("similarity"), path.parent)
    top.finish()
    used = {concept for planned in checks for concept in planned.check.concepts}
    concepts = tuple(item for item in known.concepts.values() if item.id in used)
    return Assignment(name, title, path.parent, roles, checks,
                      known.protocols[protocol_name], concepts, limits, docker, similarity)


def _read_roles(table: Table) -> dict[str, Role]:
    roles = {}
    for role in table.keys():  # noqa: SIM118 (a Table, not a dict)
        entry = table.table(role, required=True)
        assert entry is not None
        placeholders = tuple(str(p) for p in entry.get("placeholders", list, required=True))
        defaults = []
        for index, item in enumerate(entry.get("defaults", list, default=[])):
            if not isinstance(item, dict):
                raise entry.error(f"defaults[{index}]", "expected a table with when, run, "
                                                        "build")
            default = Table(table.path, item, f"{entry.where}.defaults[{index}]")
            when = default.get("when", list, required=True)
            run = default.get("run", str, required=True)
            build = default.get("build", str)
            default.finish()
            for key, template, allowed in (("run", run, placeholders), ("build", build, ())):
                problem = template and placeholder_problem(template, allowed)
                if problem:
                    raise default.error(key, problem)
            defaults.append(RoleDefault(tuple(str(w) for w in when), run, build))
        entry.finish()
        roles[role] = Role(role, placeholders, tuple(defaults))
    table.finish()
    if not roles:
        raise InputError(table.path, "[roles]: declare at least one role, e.g. "
                                     '[roles.server] placeholders = ["port"]')
    return roles


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


def _read_similarity(table: Table | None, folder: Path) -> SimilaritySettings:
    if table is None:
        return SimilaritySettings()
    starter = []
    for index, item in enumerate(table.get("starter", list, default=[])):
        key = f"starter[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise table.error(key, f"expected the path of a starter file or folder, relative "
                                   f"to the assignment folder, got {item!r}")
        relative = Path(item)
        if relative.is_absolute() or ".." in relative.parts:
            raise table.error(key, f"{item!r}: name a file or folder inside the assignment "
                                   "folder, relative to it (no absolute path, no '..')")
        path = folder / relative
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise table.error(key, f"{item!r}: no such file or folder in {folder} (links "
                                   "are not followed)")
        starter.append(path)
    threshold = table.get("threshold", float, default=SimilaritySettings.threshold)
    if not 0 < threshold <= 1:
        raise table.error("threshold", f"a share of a student's code, above 0 and at most "
                                       f"1 (0.5: half of it), not {threshold!r}")
    table.finish()
    return SimilaritySettings(tuple(starter), float(threshold))


def _read_checks(table: Table, known: Known, roles: Mapping[str, Role],
                 ) -> tuple[PlannedCheck, ...]:
    planned = []
    for check_id in table.keys():  # noqa: SIM118 (a Table, not a dict)
        if check_id not in known.checks:
            raise table.error(check_id, f"no such check (known checks: "
                                        f"{', '.join(known.checks)})")
        check = known.checks[check_id]
        entry = table.table(check_id, required=True)
        assert entry is not None
        points = entry.get("points", float, required=True)
        visibility = _read_visibility(entry)
        params = {}
        for param, default in check.params.items():
            value = entry.get(param, type(default))
            params[param] = default if value is None else type(default)(value)
        entry.finish(["points", "visibility", *check.params])
        for role in check.needs:
            if role not in roles:
                raise table.error(check_id, f"it runs the {role!r} role, which [roles] does "
                                            f"not declare (declared: {', '.join(roles)})")
        for concept in check.concepts:
            if concept not in known.concepts:
                raise table.error(check_id, f"it shows the concept {concept!r}, which no "
                                            "concept catalogue defines (built in: the ports "
                                            "quiz; the folder's own: concepts.toml)")
        planned.append(PlannedCheck(check, float(points), params, visibility))
    table.finish()
    _check_dependencies(table, planned)
    return tuple(planned)


def _read_visibility(entry: Table) -> Visibility:
    value = entry.get("visibility", str, default=str(Visibility.VISIBLE))
    if value not in set(Visibility):
        raise entry.error("visibility", f"{value!r} is not a visibility (allowed: "
                                        f"{', '.join(map(str, Visibility))})")
    return Visibility(value)


def _check_dependencies(table: Table, planned: list[PlannedCheck]) -> None:
    """Each check after those it depends on, and never shown to students before them: a
    check skipped for want of a hidden one would tell whether that one passed."""
    seen: dict[str, PlannedCheck] = {}
    for item in planned:
        for parent in item.check.prerequisites:
            if parent not in seen:
                raise table.error(item.check.id, f"depends on {parent!r}, which must be listed "
                                                  "before it")
            hidden = seen[parent].visibility
            if hidden.rank > item.visibility.rank:
                raise table.error(item.check.id, f"its visibility is {str(item.visibility)!r} "
                                  f"but it depends on {parent!r}, whose visibility is "
                                  f"{str(hidden)!r}: its skip would show students whether "
                                  f"{parent!r} passed (give it {str(hidden)!r} too)")
        seen[item.check.id] = item
