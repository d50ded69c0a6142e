"""Similar submissions: pairs of students whose code shares long passages, for an
instructor to look at. Evidence, never a verdict: it changes no score.

The comparison is copydetect's (https://github.com/blingenf/copydetect), the winnowing
fingerprints of Schleimer, Wilkerson and Aiken that MOSS uses: code is tokenized with
Pygments, names become V/F/O and strings S (so renaming does not hide a copy), comments
and layout are dropped, and every window of `guarantee` characters of what is left
contributes a fingerprint of `noise` characters. Reordering functions does not hide a
copy, and neither does moving one to another file: each file of a submission is compared
with each file of the same language of the other submission.

Starter code handed out with the assignment is excluded: every fingerprint of a starter
file is removed from the submissions before they are compared, so code that two
students both kept from the handout makes no pair similar.

A pair's share for a student is the part of that student's fingerprinted code found in
the other's (copydetect's similarity of two files, over all the files of the two
submissions); a pair is listed when either share reaches `threshold`. copydetect hashes
with Python's hash(), salted per process, so which fingerprints the winnowing keeps, and
a share's third decimal, may change from one run to the next.

copydetect is an optional dependency (`pip install socket-grader[term]`), imported
only when `find_similar` runs. Time on 300 generated submissions: benchmarks/similarity.py.
"""

from __future__ import annotations

import bisect
import csv
import io
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import GraderError
from ..report.common import csv_text

# File suffix -> the Pygments language copydetect tokenizes it as.
LANGUAGES = {".py": "python", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
             ".hpp": "cpp", ".java": "java", ".js": "javascript", ".go": "go",
             ".rs": "rust"}
NOISE = 25  # copydetect's default: matches shorter than this (filtered) are noise
GUARANTEE = 30  # copydetect's documented default: matches this long are always found
THRESHOLD = 0.5  # list a pair when either student's share reaches this
MAX_FILE_BYTES = 256 * 1024  # larger files are not code a student wrote by hand
SKIPPED_PARTS = {"__pycache__", ".git", "node_modules", "venv", ".venv"}


@dataclass(frozen=True)
class Passage:
    """Lines of one file that the other submission shares (whole lines)."""

    file: str  # path inside the submission folder
    first_line: int
    last_line: int
    text: str

    @property
    def lines(self) -> int:
        return self.last_line - self.first_line + 1


@dataclass(frozen=True)
class SimilarPair:
    first: str  # student ids, first < second
    second: str
    first_share: float  # of the first's fingerprinted code, the part found in the second's
    second_share: float
    shared_tokens: int  # filtered characters of the first's code that match
    first_passages: tuple[Passage, ...]
    second_passages: tuple[Passage, ...]

    @property
    def score(self) -> float:
        return max(self.first_share, self.second_share)

    @property
    def first_lines(self) -> int:
        return sum(p.lines for p in self.first_passages)

    @property
    def second_lines(self) -> int:
        return sum(p.lines for p in self.second_passages)


@dataclass(frozen=True)
class SimilarityReport:
    pairs: tuple[SimilarPair, ...]  # most similar first
    students: int  # submissions with code to compare
    files: int  # code files fingerprinted
    comparisons: int  # pairs of files compared
    threshold: float
    skipped: tuple[str, ...] = ()  # files left out, and why
    seconds: Mapping[str, float] = field(default_factory=dict)  # read, fingerprint, compare


@dataclass
class _File:
    """One code file of a submission, and its fingerprint."""

    name: str  # path inside the submission folder
    language: str
    text: str
    fingerprint: Any = None
    line_starts: list[int] = field(default_factory=list)


def find_similar(submissions: Mapping[str, Path], starter: Sequence[Path] = (), *,
                 threshold: float = THRESHOLD, noise: int = NOISE,
                 guarantee: int = GUARANTEE) -> SimilarityReport:
    """Compare every pair of `submissions` (student id -> folder) and return the pairs
    whose code is suspiciously similar, with the shared passages. `starter` names the
    handout's files (or folders of them), whose code is excluded."""
    cd = _copydetect()
    if not 0 < threshold <= 1:
        raise GraderError(f"the similarity threshold is a share in (0, 1], not {threshold}")
    if guarantee < noise:
        raise GraderError("the guarantee threshold must be at least the noise threshold")
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    skipped: list[str] = []
    students: dict[str, list[_File]] = {}
    for student, folder in sorted(submissions.items()):
        files = [_File(name, language, text)
                 for name, path, language in _code_files(folder, skipped, f"{student}/")
                 if (text := _read(path, skipped, f"{student}/{name}")) is not None]
        if files:
            students[student] = files
    starter_texts = [(path, language, _read(path, skipped, f"starter {path}"))
                     for root in starter for _, path, language in _code_files(root, skipped)]
    seconds["read"] = time.perf_counter() - started

    started = time.perf_counter()
    boilerplate = _starter_hashes(cd, starter_texts, noise)
    window = guarantee - noise + 1
    for student, files in students.items():
        for file in files:
            file.fingerprint = cd.CodeFingerprint(
                f"{student}/{file.name}", noise, window, boilerplate,
                language=file.language, fp=io.StringIO(file.text))
    seconds["fingerprint"] = time.perf_counter() - started

    started = time.perf_counter()
    pairs: list[SimilarPair] = []
    comparisons = 0
    for first, second in combinations(sorted(students), 2):
        compared, slices = _match(cd, students[first], students[second], noise)
        comparisons += compared
        tokens = {key: int(cd.np.sum(where[1] - where[0])) for key, where in slices.items()}
        shares = [_share(students[s], tokens) for s in (first, second)]
        if slices and max(shares) >= threshold:
            pairs.append(SimilarPair(
                first, second, round(shares[0], 4), round(shares[1], 4),
                sum(tokens.get(id(f), 0) for f in students[first]),
                *(tuple(p for f in students[s] for p in _passages(cd, f, slices.get(id(f))))
                  for s in (first, second))))
    pairs.sort(key=lambda p: (-p.score, -p.shared_tokens, p.first, p.second))
    seconds["compare"] = time.perf_counter() - started
    return SimilarityReport(tuple(pairs), len(students),
                            sum(len(files) for files in students.values()), comparisons,
                            threshold, tuple(skipped), seconds)


def _match(cd: SimpleNamespace, first: list[_File], second: list[_File],
           noise: int) -> tuple[int, dict[int, Any]]:
    """Compare each file of one submission with each of the same language of the other:
    the number of comparisons, and per file (by id) where its code matched, as slices of
    its filtered code. A file's matches with all the other's files are merged, so a
    passage found in two of them counts once: copydetect's measure of a pair of files,
    over two submissions."""
    hits: dict[int, list[Any]] = {}
    compared = 0
    for one in first:
        for other in second:
            if one.language == other.language:
                compared += 1
                mine, theirs = cd.find_fingerprint_overlap(
                    one.fingerprint.hashes, other.fingerprint.hashes,
                    one.fingerprint.hash_idx, other.fingerprint.hash_idx)
                if len(mine):
                    hits.setdefault(id(one), []).append(mine)
                    hits.setdefault(id(other), []).append(theirs)
    return compared, {key: cd.get_copied_slices(cd.np.unique(cd.np.concatenate(found)), noise)
                      for key, found in hits.items()}


def _share(files: list[_File], tokens: dict[int, int]) -> float:
    """The part of a student's fingerprinted code found in the other's."""
    coverage = sum(f.fingerprint.token_coverage for f in files)
    return float(sum(tokens.get(id(f), 0) for f in files) / coverage) if coverage else 0.0


def similarity_csv(report: SimilarityReport) -> str:
    """similarity.csv: one row per listed pair, most similar first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["first", "second", "first_share", "second_share", "shared_tokens",
                     "first_shared_lines", "second_shared_lines", "first_files",
                     "second_files"])
    for pair in report.pairs:
        writer.writerow([csv_text(pair.first), csv_text(pair.second),
                         f"{pair.first_share:.2f}", f"{pair.second_share:.2f}",
                         pair.shared_tokens, pair.first_lines, pair.second_lines,
                         csv_text(" ".join(_files(pair.first_passages))),
                         csv_text(" ".join(_files(pair.second_passages)))])
    return out.getvalue()


def _files(passages: Iterable[Passage]) -> list[str]:
    return list(dict.fromkeys(p.file for p in passages))


def _copydetect() -> SimpleNamespace:
    """copydetect's fingerprinting and matching, and numpy (its dependency)."""
    try:
        import numpy as np
        from copydetect import CodeFingerprint
        from copydetect.utils import find_fingerprint_overlap, get_copied_slices
    except ImportError:
        raise GraderError("finding similar submissions needs copydetect: "
                          "pip install 'socket-grader[term]' (or pip install copydetect)"
                          ) from None
    return SimpleNamespace(np=np, CodeFingerprint=CodeFingerprint,
                           find_fingerprint_overlap=find_fingerprint_overlap,
                           get_copied_slices=get_copied_slices)


def _code_files(root: Path, skipped: list[str],
                label: str = "") -> Iterable[tuple[str, Path, str]]:
    """(name inside root, path, language) of each code file under root, in name order.
    Links are not followed: a submission's link may point anywhere."""
    if root.is_file() and not root.is_symlink():
        language = LANGUAGES.get(root.suffix.lower())
        if language:
            yield root.name, root, language
        return
    if not root.is_dir():
        raise GraderError(f"{root}: no such submission or starter folder")
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        language = LANGUAGES.get(path.suffix.lower())
        if (language is None or path.is_symlink() or not path.is_file()
                or SKIPPED_PARTS & set(relative.parts)
                or any(part.startswith(".") for part in relative.parts)):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            skipped.append(f"{label}{relative}: larger than {MAX_FILE_BYTES // 1024} KiB")
            continue
        yield relative.as_posix(), path, language


def _read(path: Path, skipped: list[str], label: str) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        skipped.append(f"{label}: not readable as UTF-8 text ({exc.__class__.__name__})")
        return None


def _starter_hashes(cd: SimpleNamespace, texts: list[tuple[Path, str, str | None]],
                    noise: int) -> Any:
    """Every fingerprint of the starter code (window 1: all of them, as copydetect does
    for its boilerplate directories)."""
    hashes: set[int] = set()
    for path, language, text in texts:
        if text is not None:
            hashes |= cd.CodeFingerprint(str(path), noise, 1, language=language,
                                         fp=io.StringIO(text)).hashes
    return cd.np.array(sorted(hashes), dtype=cd.np.int64) if hashes else []


def _passages(cd: SimpleNamespace, file: _File, slices: Any) -> list[Passage]:
    """Matched slices (2xN offsets in the filtered code) as whole lines of the file,
    adjacent ones merged."""
    if slices is None or not len(slices[0]):
        return []
    offsets = file.fingerprint.offsets
    raw = cd.np.array(slices)
    if len(offsets) > 0:  # filtered offsets -> offsets in the file, as compare_files does
        raw = raw + offsets[:, 1][cd.np.clip(cd.np.searchsorted(offsets[:, 0], raw), 0,
                                             offsets.shape[0] - 1)]
    if not file.line_starts:
        file.line_starts = [0] + [i + 1 for i, ch in enumerate(file.text) if ch == "\n"]
    merged: list[list[int]] = []
    for begin, end in zip(raw[0], raw[1], strict=True):
        first = bisect.bisect_right(file.line_starts, int(begin))
        last = bisect.bisect_right(file.line_starts, max(int(begin), int(end) - 1))
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    lines = file.text.split("\n")
    return [Passage(file.name, first, last, "\n".join(lines[first - 1:last]))
            for first, last in merged]
