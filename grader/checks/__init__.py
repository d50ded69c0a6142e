"""The built-in checks, each a small decorated function (see base.py), protocol-neutral:
they drive the student's programs through the assignment's protocol. BUILT_IN lists
them by id; an assignment's own checks live in its folder's checks.py."""

from .base import Check
from .client import client_ephemeral_ports, client_reply_routing
from .lifecycle import server_burst, server_lifecycle, server_restart
from .server import server_concurrency, server_one_port, server_same_ip, server_starts

BUILT_IN: dict[str, Check] = {
    c.id: c
    for c in (server_starts, server_concurrency, server_one_port, server_same_ip,
              server_burst, server_lifecycle, server_restart, client_ephemeral_ports,
              client_reply_routing)
}

__all__ = ["BUILT_IN"]
