"""Command templates such as "./server {port}": which placeholders each role may use."""

from __future__ import annotations

import string

PLACEHOLDERS = {"server": ("port",), "client": ("host", "port")}


def placeholder_problem(template: str, role: str | None) -> str | None:
    """Why `template` is not a valid command for `role` (None: a build, no placeholders)."""
    try:
        parsed = [(name, spec, conversion) for _, name, spec, conversion
                  in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"{exc} in {template!r} (write {{{{ and }}}} for literal braces)"
    fields = {name for name, _, _ in parsed}
    for name, spec, conversion in parsed:
        # A format spec such as {port:>999999999} would make the grader build a huge string.
        if spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "")
            shown += (":" + spec if spec else "") + "}"
            return (f"{shown[:40]} in {template[:80]!r}: write a placeholder plain, as "
                    f"{{{name}}}, with no format spec or conversion")
    allowed = PLACEHOLDERS.get(role, ()) if role else ()
    for name in sorted(fields):
        if name not in allowed:
            expected = " and ".join(f"{{{p}}}" for p in allowed) or "no placeholders"
            return f"unknown placeholder {{{name}}} in {template!r} (use {expected})"
    missing = [p for p in allowed if p not in fields]
    if missing:
        return (f"{template!r} never passes {{{missing[0]}}}: the grader chooses the "
                f"{missing[0]}, e.g. {_example(role)!r}")
    return None


def _example(role: str | None) -> str:
    return "./server {port}" if role == "server" else "./client {host} {port}"


def fill(template: str, **values: object) -> str:
    return template.format(**values)
