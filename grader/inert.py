"""Text that came from a student (a program's output, a file or folder name, an id) made
harmless to show: every control character is written as a visible escape (`\\x1b`), so
no escape sequence reaches a terminal (clearing the screen, setting the window title,
faking a score), and bidi overrides cannot reorder what a reader sees. Newlines and tabs
stay. Applied where such text enters the result model, and where a batch shows names."""

from __future__ import annotations

import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    return _UNSAFE.sub(_escaped, text)


def inert_data(value: Any) -> Any:
    """`inert` on every string in JSON-like data (evidence)."""
    if isinstance(value, str):
        return inert(value)
    if isinstance(value, dict):
        return {inert(str(key)): inert_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [inert_data(item) for item in value]
    return value
