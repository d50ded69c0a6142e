"""Strict reading of TOML tables: every key known, every value of the expected type."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import InputError

_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list", dict: "a table"}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
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
