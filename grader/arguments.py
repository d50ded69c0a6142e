"""Argument types shared by the command line's parsers."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_engine_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine-url", metavar="URL",
                        help="the container engine's API address, e.g. "
                        "unix:///run/podman/podman.sock (default: $DOCKER_HOST or "
                        "/var/run/docker.sock for docker; $CONTAINER_HOST, or "
                        "/run/podman/podman.sock for root and "
                        "$XDG_RUNTIME_DIR/podman/podman.sock for others, for podman)")
