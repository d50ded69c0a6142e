"""Putting the grader where students and instructors already are: a GitHub Actions
workflow for a student repository (`grade init-ci`) and a Gradescope autograder zip
(`grade export gradescope`). Both only write files; neither runs anything."""

from .github_workflow import WORKFLOW_PATH, workflow_text, write_workflow
from .gradescope_zip import write_autograder_zip

__all__ = ["WORKFLOW_PATH", "workflow_text", "write_autograder_zip", "write_workflow"]
