"""Drawing primitives for the report's pictures: an inline SVG builder that escapes every
text it is given, and the marks that say pass or fail by their shape, not their colour
alone (a tick, a cross, a hollow ring)."""

from __future__ import annotations

import html
import re
import textwrap

INK, MUTED, PALE = "#1d2430", "#5b6472", "#e6e9ee"
GOOD, BAD, LINK = "#2f7d4f", "#b3261e", "#3b6fb6"
GOOD_PALE, BAD_PALE = "#dcefe3", "#f8dcd9"
WIDTH = 400  # every picture is drawn 400 units wide and scales to the page (a phone too)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: object) -> str:
    """Any text for the page (HTML or SVG): escaped, control characters made visible."""
    visible = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return html.escape(visible, quote=True)


def wrap(text: str, chars: int, lines: int = 0) -> list[str]:
    """`text` in lines of at most `chars` characters (at most `lines` of them, the last
    ending in an ellipsis when cut)."""
    out: list[str] = []
    for paragraph in str(text).split("\n"):
        out += textwrap.wrap(paragraph, chars, break_long_words=True,
                             break_on_hyphens=False) or [""]
    if lines and len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][:max(0, chars - 1)] + "…"
    return out


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class Svg:
    """One picture. Coordinates are in units of a 400-wide drawing; its height grows with
    what is drawn."""

    def __init__(self, label: str, width: int = WIDTH) -> None:
        self.label = label
        self.width = width
        self.bottom = 0.0
        self.parts: list[str] = []

    def _grow(self, y: float) -> None:
        self.bottom = max(self.bottom, y)

    def text(self, x: float, y: float, text: object, *, size: float = 11, bold: bool = False,
             anchor: str = "start", fill: str = INK, mono: bool = False) -> None:
        family = ' font-family="DejaVu Sans Mono, monospace"' if mono else ""
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" '
                          f'text-anchor="{anchor}" fill="{fill}"{family}{weight}>'
                          f"{clean(text)}</text>")
        self._grow(y + size * 0.3)

    def lines(self, x: float, y: float, texts: list[str], *, size: float = 11,
              gap: float = 1.35, **style: object) -> float:
        """Several lines of text from baseline `y`; returns the baseline after the last."""
        for line in texts:
            self.text(x, y, line, size=size, **style)  # type: ignore[arg-type]
            y += size * gap
        return y

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str = "none",
             stroke: str = INK, dashed: bool = False, width: float = 1,
             radius: float = 0) -> None:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        self.parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" '
                          f'rx="{_n(radius)}" fill="{fill}" stroke="{stroke}" '
                          f'stroke-width="{_n(width)}"{dash}/>')
        self._grow(y + h + width)

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = INK,
             dashed: bool = False, width: float = 1, under: bool = False) -> None:
        """A line; `under` draws it beneath everything drawn so far."""
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.parts.insert(0 if under else len(self.parts),
                          f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
                          f'stroke="{stroke}" stroke-width="{_n(width)}"{dash}/>')
        self._grow(max(y1, y2))

    def arrow(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = INK,
              dashed: bool = False, width: float = 1.3) -> None:
        """A line from (x1, y1) with a head at (x2, y2)."""
        length = max(1e-6, ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5)
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        self.line(x1, y1, x2 - 6 * ux, y2 - 6 * uy, stroke=stroke, dashed=dashed, width=width)
        left = (x2 - 8 * ux - 4 * uy, y2 - 8 * uy + 4 * ux)
        right = (x2 - 8 * ux + 4 * uy, y2 - 8 * uy - 4 * ux)
        self.parts.append(f'<polygon points="{_n(x2)},{_n(y2)} {_n(left[0])},{_n(left[1])} '
                          f'{_n(right[0])},{_n(right[1])}" fill="{stroke}"/>')

    def circle(self, x: float, y: float, r: float, *, fill: str = "none",
               stroke: str = INK, width: float = 1) -> None:
        self.parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{fill}" '
                          f'stroke="{stroke}" stroke-width="{_n(width)}"/>')
        self._grow(y + r)

    def mark(self, x: float, y: float, kind: str, size: float = 10) -> None:
        """A verdict by its shape, centred on (x, y): "ok" a tick, "bad" a cross, "open" a
        hollow ring (nothing came), "none" a dash (not tried)."""
        h = size / 2
        if kind == "ok":
            self.parts.append(f'<polyline points="{_n(x - h)},{_n(y)} {_n(x - h / 3)},'
                              f'{_n(y + h * 0.8)} {_n(x + h)},{_n(y - h * 0.8)}" fill="none" '
                              f'stroke="{GOOD}" stroke-width="2.2"/>')
        elif kind == "bad":
            self.line(x - h * 0.8, y - h * 0.8, x + h * 0.8, y + h * 0.8, stroke=BAD, width=2.2)
            self.line(x - h * 0.8, y + h * 0.8, x + h * 0.8, y - h * 0.8, stroke=BAD, width=2.2)
        elif kind == "open":
            self.circle(x, y, h * 0.75, stroke=MUTED, width=1.6)
        else:
            self.line(x - h * 0.7, y, x + h * 0.7, y, stroke=MUTED, width=2)
        self._grow(y + h)

    def render(self, pad: float = 6) -> str:
        height = round(self.bottom + pad)
        return (f'<svg class="picture" viewBox="0 0 {self.width} {height}" role="img" '
                f'aria-label="{clean(self.label)}"><title>{clean(self.label)}</title>'
                + "".join(self.parts) + "</svg>")


def verdict_mark(ok: bool | None) -> str:
    """The mark for a yes/no finding (None: not known)."""
    return "none" if ok is None else "ok" if ok else "bad"
