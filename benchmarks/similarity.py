"""Similar submissions at class scale: how long `find_similar` takes on a generated class,
and whether it finds the copies planted in it.

The class is made in a temporary folder from the reference programs
(reference/echo/python/correct and reference/echo/c/correct), half of the students in each
language. Every student's copy has its own names for the functions and variables the
programs define, its functions in another order, and code of its own (random helper
functions, about as long as the reference), as students who extend a handout have.
A few students copied another student's whole submission and disguised it the same way
(new names, another order, no comments). Two runs:

- handout excluded: the reference programs are passed as starter code. Only the
  planted copies should be listed.
- no starter code given: every pair of the same language shares the handout, the worst
  case for the time the passages take; nearly every such pair is listed.

    python3 benchmarks/similarity.py [--students 300] [--copies 6] [--seed 13]
"""

from __future__ import annotations

import argparse
import ast
import io
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.term.similarity import find_similar  # noqa: E402

REFERENCE = {"python": REPO / "reference" / "echo" / "python" / "correct",
             "c": REPO / "reference" / "echo" / "c" / "correct"}
SUFFIX = {"python": ".py", "c": ".c"}
C_DECLARED = re.compile(r"\b(?:int|char|void|long|size_t|ssize_t|socklen_t|double|unsigned|"
                        r"struct\s+\w+|pthread_t)\s*\**\s*([a-z_]\w*)\s*[\[=;,()]")
C_FUNCTION = re.compile(r"^(?:static\s+)?[\w\s\*]+?\b(\w+)\s*\([^;]*$")
OPERATORS = ["+", "-", "*", "^", "|", "&", "%"]


def python_names(text: str) -> set[str]:
    """Names a Python program defines: functions, parameters, assigned variables."""
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
            names.update(a.arg for a in node.args.args)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if not n.startswith("__") and n not in {"main", "_"}}


def c_names(text: str) -> set[str]:
    return set(C_DECLARED.findall(text)) - {"main", "argc", "argv"}


def rename(text: str, language: str, rng: random.Random) -> str:
    """Every name the program defines gets another one, in code only (the Pygments
    tokens copydetect also reads), never inside strings or comments."""
    from pygments import lexers, token

    names = python_names(text) if language == "python" else c_names(text)
    fresh = {name: f"{rng.choice(['val', 'tmp', 'x', 'item', 'buf', 'n'])}_{rng.randrange(10**6)}"
             for name in names}
    out = io.StringIO()
    lexer = lexers.get_lexer_by_name(language)
    previous = ""
    for kind, value in lexer.get_tokens(text):
        renamed = kind in token.Name and previous != "." and value in fresh
        out.write(fresh[value] if renamed else value)
        if value.strip():
            previous = value
    return out.getvalue()


def top_level_blocks(text: str, language: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The lines, and the (first, end) line ranges of the top-level functions."""
    lines = text.splitlines(keepends=True)
    blocks = []
    if language == "python":
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and node.name != "main":
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
                blocks.append((first, node.end_lineno))
        return lines, blocks
    index = 0
    while index < len(lines):
        match = C_FUNCTION.match(lines[index])
        if match and match.group(1) != "main" and not lines[index].startswith((" ", "\t", "#")):
            end = index
            while end < len(lines) and not lines[end].startswith("}"):
                end += 1
            blocks.append((index, end + 1))
            index = end + 1
        else:
            index += 1
    return lines, blocks


def reorder(text: str, language: str, rng: random.Random) -> str:
    lines, blocks = top_level_blocks(text, language)
    if len(blocks) < 2:
        return text
    chunks = ["".join(lines[a:b]) for a, b in blocks]
    rng.shuffle(chunks)
    out, position = [], 0
    for (first, end), chunk in zip(blocks, chunks, strict=True):
        out.append("".join(lines[position:first]))
        out.append(chunk)
        position = end
    out.append("".join(lines[position:]))
    return "".join(out)


def strip_comments(text: str, language: str) -> str:
    if language == "python":
        return re.sub(r"(?m)^\s*#.*\n", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def own_code(language: str, rng: random.Random, functions: int = 10) -> str:
    """Helper functions with random structure and constants: this student's own code."""
    parts = []
    for _ in range(functions):
        name = f"helper_{rng.randrange(10**6)}"
        body = []
        for _ in range(rng.randint(4, 8)):
            a, b, op = rng.randrange(1000), rng.randrange(1, 1000), rng.choice(OPERATORS)
            kind = rng.randrange(3)
            if language == "python":
                body.append([f"    x = (x {op} {a}) % {b + 1}",
                             f"    if x > {a}:\n        x -= {b}",
                             f"    for i in range({b % 17 + 1}):\n        x = x {op} i"][kind])
            else:
                body.append([f"    x = (x {op} {a}) % {b + 1};",
                             f"    if (x > {a}) x -= {b};",
                             f"    for (int i = 0; i < {b % 17 + 1}; i++) x = x {op} i;"][kind])
        if language == "python":
            parts.append(f"def {name}(x):\n" + "\n".join(body) + "\n    return x\n")
        else:
            parts.append(f"static long {name}(long x) {{\n" + "\n".join(body)
                         + "\n    return x;\n}\n")
    return "\n\n".join(parts) + "\n"


def make_class(root: Path, students: int, copies: int,
               rng: random.Random) -> list[tuple[str, str]]:
    """Write the class under root/submissions; return the planted (original, copy) pairs."""
    folders = {}
    for number in range(students - copies):
        language = "python" if number % 2 == 0 else "c"
        student = f"s{number:03d}-{language}"
        folder = root / "submissions" / student
        folder.mkdir(parents=True)
        for source in sorted(REFERENCE[language].iterdir()):
            text = source.read_text()
            if source.suffix == SUFFIX[language]:
                text = reorder(rename(text, language, rng), language, rng)
                text += "\n\n" + own_code(language, rng)
            (folder / source.name).write_text(text)
        folders[student] = folder
    planted = []
    for number, original in enumerate(rng.sample(sorted(folders), copies)):
        language = original.rsplit("-", 1)[1]
        copy = f"copy{number}-of-{original}"
        folder = root / "submissions" / copy
        folder.mkdir()
        for source in sorted(folders[original].iterdir()):
            text = source.read_text()
            if source.suffix == SUFFIX[language]:
                text = strip_comments(reorder(rename(text, language, rng), language, rng),
                                      language)
            (folder / source.name).write_text(text)
        planted.append(tuple(sorted((original, copy))))
    return planted


def starter_files() -> list[Path]:
    return [p for language, folder in REFERENCE.items()
            for p in sorted(folder.iterdir()) if p.suffix == SUFFIX[language]]


def run(label: str, submissions: dict[str, Path], starter: list[Path],
        planted: list[tuple[str, str]]) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    report = find_similar(submissions, starter)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    listed = {(p.first, p.second) for p in report.pairs}
    found = sum(1 for pair in planted if pair in listed)
    planted_scores = [p.score for p in report.pairs if (p.first, p.second) in set(planted)]
    others = [p.score for p in report.pairs if (p.first, p.second) not in set(planted)]
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    print(f"{label}:")
    print(f"  {report.students} students, {report.files} files, "
          f"{report.comparisons} file comparisons: {total:.1f} s wall, {cpu:.1f} s CPU "
          f"({phases})")
    print(f"  listed pairs: {len(report.pairs)}; planted copies found: {found}/{len(planted)}"
          + (f" (scores {min(planted_scores):.2f}..{max(planted_scores):.2f})"
             if planted_scores else ""))
    if others:
        print(f"  other pairs listed: {len(others)} (scores {min(others):.2f}.."
              f"{max(others):.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--copies", type=int, default=6, help="planted copies")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="similarity-") as temporary:
        root = Path(temporary)
        started = time.perf_counter()
        planted = make_class(root, args.students, args.copies, rng)
        submissions = {p.name: p for p in sorted((root / "submissions").iterdir())}
        print(f"generated {len(submissions)} submissions in "
              f"{time.perf_counter() - started:.1f} s")
        run("handout excluded (the reference programs as starter code)", submissions,
            starter_files(), planted)
        run("no starter code given (worst case: every same-language pair shares the "
            "handout)", submissions, [], planted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
