"""socket-grader: grade students' TCP servers and clients against the ports quiz.

The public interface:

    import trio
    from grader import load_assignment, load_submission, choose_backend, grade

    assignment = load_assignment("echo")
    submission = load_submission("submission/", assignment)
    backend, notice = choose_backend("auto", assignment)
    report = trio.run(grade, submission, assignment, backend)
    print(report.score, report.max_score)
"""

from .assignments import load_assignment
from .errors import BackendUnavailable, GraderError, InputError
from .grading.runner import grade
from .loading.assignment import Assignment
from .loading.submission import Submission, load_submission
from .pod import choose_backend
from .results import CheckResult, ConceptStatus, GradeReport, Status, Visibility, student_view

__all__ = [
    "Assignment",
    "BackendUnavailable",
    "CheckResult",
    "ConceptStatus",
    "GradeReport",
    "GraderError",
    "InputError",
    "Status",
    "Submission",
    "Visibility",
    "choose_backend",
    "grade",
    "load_assignment",
    "load_submission",
    "student_view",
]
