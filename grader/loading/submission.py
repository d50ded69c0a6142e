"""Submissions: a folder with a program for each role of the assignment, and how to run it.

An optional grade.toml at the folder's root says how to build and run each role (one
table per role, e.g. [server] and [client]); without one, the assignment's defaults for
the role are tried in order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .assignment import Assignment, Role
from .commands import placeholder_problem
from .tables import Table, read_toml

MANIFEST = "grade.toml"


@dataclass(frozen=True)
class ProgramSpec:
    role: str
    run: str
    build: str | None
    source: str  # where this came from, for messages: "grade.toml" or "default"


@dataclass(frozen=True)
class Submission:
    path: Path
    programs: Mapping[str, ProgramSpec]  # by role, in the assignment's order

    def program(self, role: str) -> ProgramSpec:
        try:
            return self.programs[role]
        except KeyError:
            raise KeyError(f"the submission has no {role!r} (roles: "
                           f"{', '.join(self.programs)})") from None

    @property
    def builds(self) -> list[tuple[str, str]]:
        """(role, command) of each distinct build command, in order: one Makefile, one run."""
        builds: list[tuple[str, str]] = []
        for spec in self.programs.values():
            if spec.build and spec.build not in [command for _, command in builds]:
                builds.append((spec.role, spec.build))
        return builds


def load_submission(path: str | Path, assignment: Assignment) -> Submission:
    folder = Path(path)
    if not folder.exists():
        raise InputError(folder, "no such folder")
    if not folder.is_dir():
        raise InputError(folder, "not a folder: give the folder holding your programs")
    manifest = (_read_manifest(folder / MANIFEST, assignment.roles)
                if os.path.lexists(folder / MANIFEST) else {})
    specs = {}
    for role in assignment.roles.values():
        spec = manifest.get(role.name) or _default_for(folder, role)
        if spec is None:
            raise InputError(folder, _nothing_found(role))
        specs[role.name] = spec
    return Submission(folder, specs)


def _read_manifest(path: Path, roles: Mapping[str, Role]) -> dict[str, ProgramSpec]:
    top = Table(path, read_toml(path, follow_links=False))
    for section in top.keys():  # noqa: SIM118 (a Table, not a dict)
        if section not in roles:
            raise top.error(section, f"not a program of this assignment (its roles: "
                                     f"{', '.join(roles)}; write one [ROLE] table each)")
    specs = {}
    for role in roles.values():
        table = top.table(role.name)
        if table is None:
            continue
        run = table.get("run", str)
        if run is None:
            raise table.error("run", f"missing: say how to start your {role.name}, "
                                     f'e.g. run = "{_example(role)}"')
        build = table.get("build", str)
        table.finish()
        for key, template, allowed in (("run", run, role.placeholders), ("build", build, ())):
            problem = template and placeholder_problem(template, allowed)
            if problem:
                raise table.error(key, problem)
        specs[role.name] = ProgramSpec(role.name, run, build, MANIFEST)
    top.finish(list(roles))
    return specs


def _example(role: Role) -> str:
    return " ".join([f"./{role.name}", *(f"{{{p}}}" for p in role.placeholders)])


def _default_for(folder: Path, role: Role) -> ProgramSpec | None:
    for default in role.defaults:
        if all((folder / name).exists() for name in default.when):
            return ProgramSpec(role.name, default.run, default.build, "default")
    return None


def _nothing_found(role: Role) -> str:
    options = "; ".join(f"{' + '.join(d.when)} (runs {d.run!r})" for d in role.defaults)
    expected = f"Expected one of: {options}. Or add" if options else "Add"
    return (f"no {role.name} found. {expected} a {MANIFEST} with [{role.name}] "
            f'run = "{_example(role)}" saying how to start it')
