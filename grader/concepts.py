"""The built-in concept catalogue: the ports quiz's questions, in the project's own words.

Checks name the concepts they evidence by id. An assignment grades with this catalogue
unless its folder declares its own concepts (concepts.toml) beside it; every report
carries the catalogue it was graded with, to explain each verdict by the idea behind it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    id: str
    title: str
    question: str
    idea: str

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "question": self.question,
                "idea": self.idea}


BUILT_IN: tuple[Concept, ...] = (
    Concept(
        "Q1",
        "A connection is its four-tuple",
        "How can 500 clients be connected to one server port at the same time?",
        "TCP tells connections apart by the four-tuple (source IP, source port, destination "
        "IP, destination port). Every client connection shares the server's IP and port; the "
        "client's IP and ephemeral port make each four-tuple unique. So one listening socket "
        "serves them all: no new port per client (A), TCP rather than UDP (C), and no IP "
        "address per connection (D) is needed.",
    ),
    Concept(
        "Q2",
        "TIME_WAIT and SO_REUSEADDR",
        "Why does a restarted server fail with 'Address already in use'?",
        "The side that closes a TCP connection first keeps it in TIME_WAIT for up to two "
        "minutes, so stray packets of the old connection die out. A server closes its side "
        "when a client is done (recv() returns 0): the client closed first, so the TIME_WAIT "
        "is the client's. But when a server is stopped, the kernel closes its connections "
        "from the server's side, so its port is left with TIME_WAIT sockets. A new listener "
        "may bind that port only if it sets SO_REUSEADDR between socket() and bind() (and "
        "the listener before it did too).",
    ),
    Concept(
        "Q3",
        "One port serves many connections at once",
        "Can a server port handle only one connection at a time?",
        "No: accept() returns a new socket for each connection while the listening socket "
        "keeps listening on the same port. A server that talks to one client until it is "
        "done before calling accept() again serves one at a time by its own design, not "
        "because of the port: threads, processes or an event loop (select/poll) let it "
        "serve all of them at once.",
    ),
    Concept(
        "Q4",
        "Ephemeral ports route replies",
        "What are ephemeral ports for?",
        "When a client connects, its operating system picks an unused ephemeral source port. "
        "The server's replies are addressed to (client IP, ephemeral port), which is how the "
        "client's kernel hands each reply to the right socket, and so to the right program.",
    ),
    Concept(
        "Q5",
        "Why the client must not fix its source port",
        "What would go wrong if every client connection used the same source port?",
        "Two connections from one machine to the same server with the same source port "
        "would have the same four-tuple: the kernel refuses the second one (it could not "
        "tell their packets apart). Letting the OS choose the port (no bind() in the "
        "client, or bind to port 0) gives every connection its own four-tuple.",
    ),
    Concept(
        "backlog",
        "The listen backlog absorbs a burst (beyond the quiz)",
        "What happens when hundreds of clients connect in the same instant?",
        "Not one of the quiz's questions, but how Q3's many connections arrive: the kernel "
        "completes each handshake on the server's behalf and keeps the connection in the "
        "listening socket's accept queue until the server calls accept(). That queue holds "
        "the backlog passed to listen() (plus one). A burst larger than it is dropped in "
        "part, and those clients retry seconds later. A server can serve every connection "
        "at once (Q3) and still lose some of a burst: listen(fd, SOMAXCONN).",
    ),
)

BY_ID = {concept.id: concept for concept in BUILT_IN}
