# Hostile: the body of every module of this folder named like one the grader's probe
# imports (json, runpy, trio and trio's own dependencies). The student's programs (the
# reference's) import none of them, so an import means a process of the grader ran with
# this folder on its sys.path. Each import appends a line to the file named in
# marker-path.txt (the test writes it), then raises, as a module that hijacks the
# probe could do anything instead. Expected: the grading is exactly the reference's
# (every check passes) and the marker file does not exist.
import os
import sys


def caught(module: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "marker-path.txt")) as listing:
        marker = listing.read().strip()
    with open(marker, "a") as out:
        out.write(f"{module} imported by uid {os.getuid()}: {sys.argv}\n")
    raise ImportError(f"the submission's {module}.py was imported by the grader")
