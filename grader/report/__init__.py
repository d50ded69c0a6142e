"""Report renderers: each turns a GradeReport into one format and never changes it.

FILE_FORMATS maps a format's name (as in `grade --json FILE`) to its renderer.
"""

from collections.abc import Callable

from ..results import GradeReport
from . import as_json, gradescope, html, junit, markdown

Renderer = Callable[[GradeReport], str]

FILE_FORMATS: dict[str, Renderer] = {
    "json": as_json.render,
    "junit": junit.render,
    "gradescope": gradescope.render,
    "markdown": markdown.render,
    "html": html.render,
}

__all__ = ["FILE_FORMATS", "Renderer"]
