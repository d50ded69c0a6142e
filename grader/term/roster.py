"""The class roster: which LMS account each batch student id belongs to.

A CSV file with a header row. Column names are matched without regard to case, spaces,
hyphens or underscores, and may come in any order; other columns are ignored, so an
LMS's own gradebook export with a `student_id` column added is a roster.

    student_id      required: the batch's id (a submission's folder or archive name)
    name            the student's name (also: Student, Full name; or First name + Last name)
    canvas_id       Canvas's user ID (the column "ID" of a Canvas gradebook export)
    sis_user_id     Canvas's "SIS User ID"
    sis_login_id    Canvas's "SIS Login ID"
    section         Canvas's "Section"
    username        Moodle's username
    idnumber        Moodle's ID number (also: ID number)
    email           Moodle's email address (also: Email address)

The row Canvas's export writes under its header ("Points Possible") and blank rows are
skipped. Which identifiers each LMS needs is checked by the export (gradebook.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

FIELDS = ("student_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section",
          "username", "idnumber", "email")
ALIASES = {"student": "name", "fullname": "name", "id": "canvas_id",
           "emailaddress": "email"}
NAME_PARTS = ("firstname", "lastname")
CANVAS_POINTS_ROW = "Points Possible"


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster; fields the roster does not give are empty strings."""

    student_id: str
    line: int  # where it is in the roster file, for messages
    ids: Mapping[str, str] = field(default_factory=dict)  # FIELDS[1:] -> value

    def get(self, name: str) -> str:
        return self.ids.get(name, "")


@dataclass(frozen=True)
class Roster:
    path: Path
    entries: tuple[RosterEntry, ...]
    columns: tuple[str, ...]  # the FIELDS the file has a column for, in FIELDS order

    def __iter__(self) -> Iterator[RosterEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def student_ids(self) -> set[str]:
        return {entry.student_id for entry in self.entries}

    def filled(self, name: str) -> bool:
        """Whether every student has a value for `name`."""
        return bool(self.entries) and all(entry.get(name) for entry in self.entries)


def _key(header: str) -> str:
    return "".join(ch for ch in header.strip().lower() if ch.isalnum())


def load_roster(path: Path | str) -> Roster:
    """Read and check a roster file: a student_id column, no student twice."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
    except FileNotFoundError:
        raise InputError(path, "no such roster file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the roster: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InputError(path, "the roster is empty: it needs a header row with student_id")
    columns: dict[str, int] = {}
    parts: dict[str, int] = {}
    for index, title in enumerate(header):
        key = _key(title)
        name = next((f for f in FIELDS if f.replace("_", "") == key), ALIASES.get(key, ""))
        if name and name not in columns:
            columns[name] = index
        elif key in NAME_PARTS:
            parts[key] = index
    if "student_id" not in columns:
        raise InputError(path, "the roster has no student_id column (the batch's student "
                         f"ids); its columns: {', '.join(header)}")
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num  # where the row ends: a quoted cell may hold line breaks
        if not any(cell.strip() for cell in row):
            continue

        def cell(index: int, row: list[str] = row) -> str:
            return row[index].strip() if index < len(row) else ""

        values = {name: cell(index) for name, index in columns.items()}
        if not values.get("name") and len(parts) == len(NAME_PARTS):
            values["name"] = " ".join(filter(None, (cell(parts[p]) for p in NAME_PARTS)))
        student = values.pop("student_id")
        if not student:
            if any(CANVAS_POINTS_ROW in c for c in row):
                continue  # the row under a Canvas export's header, not a student
            raise InputError(path, f"line {line}: no student_id (give every student "
                             "the batch's id for them, or delete the row)")
        if student in seen:
            raise InputError(path, f"line {line}: student_id {student!r} is already on "
                             f"line {seen[student]}")
        seen[student] = line
        entries.append(RosterEntry(student, line, {k: v for k, v in values.items() if v}))
    has_name = "name" in columns or len(parts) == len(NAME_PARTS)
    present = tuple(f for f in FIELDS if f in columns or (f == "name" and has_name))
    return Roster(path, tuple(entries), present)
