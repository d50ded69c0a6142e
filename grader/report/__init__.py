"""Report renderers: each turns a GradeReport into one format and never changes it.

FILE_FORMATS maps a format's name (as in `grade --json FILE`) to its renderer. Every
renderer a student reads (terminal, markdown, html, junit, github, gradescope's
top-level output) renders the student's view (results.student_view) of whatever report
it is given; json is the instructor's and renders everything.
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
