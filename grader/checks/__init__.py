"""The checks, each a small decorated function (see base.py); CHECKS lists them by id."""

from .base import (
    Check,
    CheckFunction,
    Failure,
    Outcome,
    check,
    failed,
    inconclusive,
    passed,
    scored,
)
from .client import client_echo, client_ephemeral_ports, client_reply_routing, end_to_end
from .lifecycle import server_burst, server_lifecycle, server_restart
from .server import server_concurrency, server_one_port, server_same_ip, server_starts

CHECKS: dict[str, Check] = {
    c.id: c
    for c in (server_starts, server_concurrency, server_one_port, server_same_ip,
              server_burst, server_lifecycle, server_restart, client_echo,
              client_ephemeral_ports, client_reply_routing, end_to_end)
}

__all__ = ["CHECKS", "Check", "CheckFunction", "Failure", "Outcome", "check", "failed",
           "inconclusive", "passed", "scored"]
