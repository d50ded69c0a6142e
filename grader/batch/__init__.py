"""Batch grading: a whole class in one run, in parallel, resumable.

    import trio
    from grader import load_assignment
    from grader.batch import BatchOptions, run_batch

    batch = trio.run(run_batch, Path("submissions"), Path("results"),
                     load_assignment("echo"), BatchOptions(backend="docker", jobs=4))

Layout of the results folder: students/<id>/report.json (or error.json) and feedback,
with students/<id>/history/<when>/ the results they had before being graded again;
grades.csv, summary.json, report.html; regrade.csv (what the last run that graded
students again changed); similarity.csv (.similarity/ keeps its report section and what
it compared); work/ holds archives being unpacked.

On a Dask cluster (`pip install 'socket-grader[cluster]'`), the gradings run on its
workers and the results are written here all the same:

    from grader.batch.cluster import open_cluster

    with open_cluster("tcp://10.0.0.5:8786") as site:
        batch = trio.run(run_batch, submissions, results, assignment, options, None, site)
"""

from .discover import Discovery, StudentEntry, UnsafeArchive, discover, unpack
from .records import StudentResult, load_result
from .run import (
    BatchOptions,
    BatchProgress,
    BatchRun,
    Graded,
    GradingSite,
    LocalSite,
    StudentRun,
    run_batch,
)

__all__ = ["BatchOptions", "BatchProgress", "BatchRun", "Discovery", "Graded", "GradingSite",
           "LocalSite", "StudentEntry", "StudentResult", "StudentRun", "UnsafeArchive",
           "discover", "load_result", "run_batch", "unpack"]
