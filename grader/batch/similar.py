"""The batch's last step: the class's submissions compared for similar code
(grader.term.similarity_job, copydetect), in a process of its own under a deadline, so a
huge class cannot hang the batch. It changes no score: it adds similarity.csv and a
section of report.html, for the instructor to look at.

When copydetect is not installed, or the comparison fails or runs out of time, the
batch goes on: the step says why once (`notice`), report.html says it too, and an
earlier run's similarity.csv, which may describe other submissions, is removed.
"""

from __future__ import annotations

import html
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import trio

from ..inert import inert
from ..isolated_python import module_command
from ..loading.assignment import Assignment
from .discover import Discovery
from .outputs import PageSection
from .records import write_atomically

SIMILARITY_CSV = "similarity.csv"  # as grader.term.similarity_job writes them
STATE_FOLDER = ".similarity"
SECTION = "section.html"
JOB = "job.json"
INSTALL = "pip install 'socket-grader[term]'"


@dataclass(frozen=True)
class SimilarityStep:
    """How the comparison went in this run."""

    status: str  # compared, reused (same submissions as before), off, not compared
    students: int = 0
    pairs: int = 0  # listed in similarity.csv
    seconds: float = 0.0
    notice: str = ""  # why it was not compared, said once
    section: PageSection | None = None  # for report.html

    def describe(self) -> str:
        """One line for the terminal."""
        if self.status == "off":
            return "similar submissions: not compared (--no-similarity)"
        if self.notice:
            return f"similar submissions: {self.notice}"
        how = ("unchanged since the last comparison" if self.status == "reused"
               else f"{self.seconds:.1f} s")
        return (f"similar submissions: {self.pairs} pair{'' if self.pairs == 1 else 's'} "
                f"listed of {self.students} submissions compared ({how})")


async def compare_class(found: Discovery, results_dir: Path, assignment: Assignment,
                        timeout: float | None, max_bytes: int,
                        max_files: int) -> SimilarityStep:
    """Compare every student's submission in `found`, within `timeout` seconds (None:
    not at all)."""
    if timeout is None:
        return SimilarityStep("off")
    if importlib.util.find_spec("copydetect") is None:
        return _not_compared(results_dir, f"not compared: copydetect is not installed "
                                          f"({INSTALL})")
    state = results_dir / STATE_FOLDER
    state.mkdir(parents=True, exist_ok=True)
    scratch = results_dir / "work" / "similarity"
    job = {"results": str(results_dir), "scratch": str(scratch),
           "submissions": {e.student: str(e.source.resolve()) for e in found.students},
           "starter": [str(p) for p in assignment.similarity.starter],
           "threshold": assignment.similarity.threshold,
           "max_bytes": max_bytes, "max_files": max_files}
    write_atomically(state / JOB, json.dumps(job, ensure_ascii=False) + "\n")
    try:
        with trio.move_on_after(timeout) as deadline:
            # Cancelled at the deadline: trio ends the process (SIGTERM, then SIGKILL).
            done = await trio.run_process(
                module_command("grader.term.similarity_job", str(state / JOB)),
                capture_stdout=True, capture_stderr=True, check=False)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: shutil.rmtree(scratch, ignore_errors=True))
    if deadline.cancelled_caught:
        return _not_compared(results_dir, f"not compared: the comparison did not finish "
                                          f"within {timeout:g} s and was stopped "
                                          "(--similarity-timeout)")
    outcome = _last_json_line(done.stdout)
    if done.returncode != 0 or "pairs" not in outcome:
        last = done.stderr.decode(errors="replace").strip().splitlines()
        why = outcome.get("error") or (last[-1] if last else f"exit status {done.returncode}")
        return _not_compared(results_dir, f"not compared: the comparison failed: {why}")
    section = (state / SECTION).read_text(encoding="utf-8")
    from ..term.similarity_html import SIMILARITY_STYLE  # no copydetect: plain HTML

    return SimilarityStep("reused" if outcome.get("reused") else "compared",
                          int(outcome["students"]), int(outcome["pairs"]),
                          float(outcome.get("seconds", 0.0)),
                          section=PageSection(section, SIMILARITY_STYLE))


def _last_json_line(stdout: bytes) -> dict:
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        outcome = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return outcome if isinstance(outcome, dict) else {}


def _not_compared(results_dir: Path, notice: str) -> SimilarityStep:
    """An earlier run's outputs may describe other submissions: they go."""
    (results_dir / SIMILARITY_CSV).unlink(missing_ok=True)
    shutil.rmtree(results_dir / STATE_FOLDER, ignore_errors=True)
    text = html.escape(inert(notice))
    section = (f'<section id="similar-submissions">\n<h2>Similar submissions</h2>\n'
               f'<p class="muted">{text[:1].upper()}{text[1:]}.</p>\n</section>\n')
    return SimilarityStep("not compared", notice=notice, section=PageSection(section))

