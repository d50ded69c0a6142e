"""The probe as a tar archive: grader.probe (as `sgprobe`) and trio with its pure-Python
dependencies, for a container whose image has nothing but python3; and the command that
runs it, as `sgprobe` too, in a process of this machine."""

from __future__ import annotations

import functools
import importlib
import sys
import tarfile
from pathlib import Path

from ..isolated_python import python_command
from .copying import tar_bytes

BUNDLE_ROOT = "probe"  # unpacked at /opt/probe in the probe's own container
PROBE_MODULE = "sgprobe"
# trio and what it imports at run time; exceptiongroup only before Python 3.11.
DEPENDENCIES = ("trio", "outcome", "sniffio", "sortedcontainers", "attr", "attrs", "idna",
                "exceptiongroup")
LEFT_OUT = {"__pycache__", "tests", "_tests", "testing"}


def _package_dir(name: str) -> Path | None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return Path(module.__file__).parent if module.__file__ else None


def _compiled(source: Path) -> Path | None:
    """This Python's cached bytecode of `source`, if it has one. A container whose Python
    is the same version uses it (the source's size and time go along, and the container
    checks them) instead of compiling trio at every probe start; another one ignores it."""
    cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
    return cached if cached.is_file() else None


def _add_tree(archive: tarfile.TarFile, source: Path, name: str) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if LEFT_OUT & set(relative.parts) or path.suffix == ".pyc" or path.is_symlink():
            continue
        _add_file(archive, path, f"{BUNDLE_ROOT}/{name}/{relative}")
        if path.suffix == ".py" and (cached := _compiled(path)) is not None:
            _add_file(archive, cached,
                      f"{BUNDLE_ROOT}/{name}/{relative.parent / '__pycache__' / cached.name}")


def _add_file(archive: tarfile.TarFile, path: Path, name: str) -> None:
    info = archive.gettarinfo(str(path), name)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if path.is_dir() else 0o644
    if path.is_dir():
        archive.addfile(info)
    else:
        with path.open("rb") as handle:
            archive.addfile(info, handle)


@functools.cache
def probe_bundle() -> bytes:
    def fill(archive: tarfile.TarFile) -> None:
        _add_tree(archive, Path(__file__).resolve().parents[1] / "probe", PROBE_MODULE)
        for name in DEPENDENCIES:
            package = _package_dir(name)
            if package is not None:
                _add_tree(archive, package, name)
    return tar_bytes(fill)


# Loads grader/probe as the package `sgprobe`: the probe then imports nothing of the rest
# of the grader (whose import costs a process start about a tenth of a second).
_LAUNCHER = """import importlib.util, runpy
package = sys.argv.pop(1)
spec = importlib.util.spec_from_file_location(
    "sgprobe", package + "/__init__.py", submodule_search_locations=[package])
sys.modules["sgprobe"] = module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
runpy.run_module("sgprobe", run_name="__main__", alter_sys=True)
"""


def local_probe_command() -> list[str]:
    """The probe as a process of this machine, run exactly as in a container, and
    isolated: whatever folder it runs in, nothing there is imported."""
    return python_command(_LAUNCHER, str(Path(__file__).resolve().parents[1] / "probe"))
