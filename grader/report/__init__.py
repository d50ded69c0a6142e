"""Report renderers: each turns a GradeReport into one format and never changes it.

FILE_FORMATS maps a format's name (as in `grade --json FILE`) to its renderer.
"""

from collections.abc import Callable

from ..results import GradeReport
from . import as_json

Renderer = Callable[[GradeReport], str]

FILE_FORMATS: dict[str, Renderer] = {
    "json": as_json.render,
}

__all__ = ["FILE_FORMATS", "Renderer"]
