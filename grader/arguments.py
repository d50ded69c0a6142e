"""Argument types shared by the command line's parsers."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

STDOUT = "-"  # a report option's value meaning standard output (`./-` names a file)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if math.isnan(value) or not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be within 0..100, not {text}")
    return value


def unwritable_reason(target: str) -> str | None:
    """Why a report cannot be written to `target` ("-" is stdout), or None. Missing folders
    are made when the report is written (as pytest's --junitxml does): what must hold now
    is that the nearest folder that exists can take them."""
    if target == STDOUT:
        return None
    path = Path(target)
    if path.is_dir():
        return "it is a folder"
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {existing}"
    return None


def add_engine_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine-url", metavar="URL",
                        help="the container engine's API address, e.g. "
                        "unix:///run/podman/podman.sock (default: $DOCKER_HOST or "
                        "/var/run/docker.sock for docker; $CONTAINER_HOST, or "
                        "/run/podman/podman.sock for root and "
                        "$XDG_RUNTIME_DIR/podman/podman.sock for others, for podman)")
