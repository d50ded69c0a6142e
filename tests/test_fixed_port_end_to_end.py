"""A client that binds a fixed source port without SO_REUSEADDR cannot run again while
our earlier runs of it sit in TIME_WAIT on that port: end-to-end waits those out, so it
judges the client and the server together every time, and the fixed port is charged once
(client-ephemeral-ports)."""

from __future__ import annotations

import pytest
import trio

from grader import Status, grade, load_assignment, load_submission

from .conftest import compose_reference, docker_backend_or_skip

REUSE_LINE = "        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"


@pytest.mark.slow
@pytest.mark.docker
def test_fixed_port_client_without_reuseaddr_gets_end_to_end_judged(tmp_path):
    # Docker: a pod of its own, so no other grading's TIME_WAIT sits on the port.
    backend = docker_backend_or_skip()
    folder = compose_reference(tmp_path / "submission", "python", "fixed-port-client")
    client = folder / "client.py"
    assert REUSE_LINE in client.read_text()
    client.write_text(client.read_text().replace(REUSE_LINE, ""))
    assignment = load_assignment("echo")
    report = trio.run(grade, load_submission(folder, assignment), assignment, backend)
    not_passed = {c.id: str(c.status) for c in report.checks if c.status is not Status.PASS}
    assert not_passed == {"client-ephemeral-ports": "fail",
                          "client-reply-routing": "inconclusive"}, [
        (c.id, c.summary) for c in report.checks]
    end_to_end = report.check("end-to-end")
    assert "TIME_WAIT" in end_to_end.details[0] and "23456" in end_to_end.details[0]
