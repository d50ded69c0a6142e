"""Submissions: a folder with the student's server and client, and how to run them.

An optional grade.toml at the folder's root says how to build and run each role;
without one, the assignment's defaults are tried in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .assignment import Assignment
from .commands import placeholder_problem
from .tables import Table, read_toml

MANIFEST = "grade.toml"
ROLES = ("server", "client")


@dataclass(frozen=True)
class ProgramSpec:
    role: str
    run: str
    build: str | None
    source: str  # where this came from, for messages: "grade.toml" or "default"


@dataclass(frozen=True)
class Submission:
    path: Path
    server: ProgramSpec
    client: ProgramSpec

    def program(self, role: str) -> ProgramSpec:
        return self.server if role == "server" else self.client

    @property
    def builds(self) -> list[tuple[str, str]]:
        """(role, command) of each distinct build command, in order: one Makefile, one run."""
        builds: list[tuple[str, str]] = []
        for spec in (self.server, self.client):
            if spec.build and spec.build not in [command for _, command in builds]:
                builds.append((spec.role, spec.build))
        return builds


def load_submission(path: str | Path, assignment: Assignment) -> Submission:
    folder = Path(path)
    if not folder.exists():
        raise InputError(folder, "no such folder")
    if not folder.is_dir():
        raise InputError(folder, "not a folder: give the folder holding your server and client")
    manifest = _read_manifest(folder / MANIFEST) if (folder / MANIFEST).exists() else {}
    specs = {}
    for role in ROLES:
        spec = manifest.get(role) or _default_for(folder, role, assignment)
        if spec is None:
            raise InputError(folder, _nothing_found(role, assignment))
        specs[role] = spec
    return Submission(folder, specs["server"], specs["client"])


def _read_manifest(path: Path) -> dict[str, ProgramSpec]:
    top = Table(path, read_toml(path))
    specs = {}
    for role in ROLES:
        table = top.table(role)
        if table is None:
            continue
        run = table.get("run", str)
        if run is None:
            example = "./server {port}" if role == "server" else "./client {host} {port}"
            raise table.error("run", f"missing: say how to start your {role}, "
                                     f'e.g. run = "{example}"')
        build = table.get("build", str)
        table.finish()
        for key, template, template_role in (("run", run, role), ("build", build, None)):
            problem = template and placeholder_problem(template, template_role)
            if problem:
                raise table.error(key, problem)
        specs[role] = ProgramSpec(role, run, build, MANIFEST)
    top.finish(list(ROLES))
    return specs


def _default_for(folder: Path, role: str, assignment: Assignment) -> ProgramSpec | None:
    for default in assignment.defaults[role]:
        if all((folder / name).exists() for name in default.when):
            return ProgramSpec(role, default.run, default.build, "default")
    return None


def _nothing_found(role: str, assignment: Assignment) -> str:
    options = "; ".join(
        f"{' + '.join(d.when)} (runs {d.run!r})" for d in assignment.defaults[role])
    return (f"no {role} found. Expected one of: {options}. Or add a {MANIFEST} with "
            f'[{role}] run = "..." saying how to start it')
