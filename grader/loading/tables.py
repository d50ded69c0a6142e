"""Strict reading of TOML tables: every key known, every value of the expected type."""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from ..errors import InputError

_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list", dict: "a table"}


LIMIT = 64 * 1024  # bytes: a plan or a manifest is a page of text


def read_toml(path: Path, *, follow_links: bool = True) -> dict[str, Any]:
    """A TOML file, read only when it is a regular file of at most LIMIT bytes. A
    student's manifest is read without following links (`follow_links=False`): one that
    points at /dev/zero or a pipe must not hang or flood whoever reads it."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as exc:
        why = ("a link: it must be a regular file" if exc.errno == errno.ELOOP
               else f"cannot be read ({exc.strerror})")
        raise InputError(path, why) from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InputError(path, "not a regular file")
        data = handle.read(LIMIT + 1)
    if len(data) > LIMIT:
        raise InputError(path, f"larger than {LIMIT // 1024} KiB: is this the right file?")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML: {exc}") from None


class Table:
    """A TOML table read key by key; `finish()` rejects whatever was not read."""

    def __init__(self, path: Path, data: dict[str, Any], where: str = "") -> None:
        self.path = path
        self.data = data
        self.where = where
        self._read: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, message: str) -> InputError:
        return InputError(self.path, f"{self._name(key)}: {message}")

    def get(self, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
        self._read.add(key)
        if key not in self.data:
            if required:
                raise InputError(self.path, f"missing {self._name(key)} ({_TYPE_NAMES[kind]})")
            return default
        value = self.data[key]
        accepted = (int, float) if kind is float else kind
        if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
            raise self.error(key, f"expected {_TYPE_NAMES[kind]}, got {value!r}")
        return value

    def table(self, key: str, required: bool = False) -> Table | None:
        value = self.get(key, dict, required=required)
        return None if value is None else Table(self.path, value, self._name(key))

    def keys(self) -> list[str]:
        return list(self.data)

    def finish(self, known: list[str] | None = None) -> None:
        unknown = [key for key in self.data if key not in self._read]
        if unknown:
            allowed = ", ".join(sorted(known or self._read))
            raise self.error(unknown[0], f"unknown key (expected one of: {allowed})")
