"""Command templates such as "./server {port}": the placeholders a role's command passes."""

from __future__ import annotations

import string


def placeholder_problem(template: str, placeholders: tuple[str, ...]) -> str | None:
    """Why `template` is not a valid command that passes exactly `placeholders` (a build
    command passes none)."""
    if "\0" in template:
        return "a NUL byte in the command: no program can be given one"
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
    for name in sorted(fields):
        if name not in placeholders:
            expected = " and ".join(f"{{{p}}}" for p in placeholders) or "no placeholders"
            return f"unknown placeholder {{{name}}} in {template!r} (use {expected})"
    missing = [p for p in placeholders if p not in fields]
    if missing:
        example = " ".join(f"{{{p}}}" for p in placeholders)
        return (f"{template!r} never passes {{{missing[0]}}}: the grader chooses the "
                f"{missing[0]}, e.g. {'./program ' + example!r}")
    return None


def fill(template: str, **values: object) -> str:
    return template.format(**values)
