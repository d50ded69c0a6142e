"""An event-loop echo server: selectors, non-blocking sockets, one process."""
import selectors
import socket
import sys


class EchoLoop:
    def __init__(self, port: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.pending: dict[socket.socket, bytearray] = {}
        self.server = socket.create_server(("0.0.0.0", port), backlog=512)
        self.server.setblocking(False)
        self.selector.register(self.server, selectors.EVENT_READ)

    def accept(self) -> None:
        conn, _ = self.server.accept()
        conn.setblocking(False)
        self.pending[conn] = bytearray()
        self.selector.register(conn, selectors.EVENT_READ)

    def readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(conn)
            return
        self.pending[conn] += data
        self.selector.modify(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def writable(self, conn: socket.socket) -> None:
        out = self.pending[conn]
        try:
            sent = conn.send(out)
        except OSError:
            self.drop(conn)
            return
        del out[:sent]
        if not out:
            self.selector.modify(conn, selectors.EVENT_READ)

    def drop(self, conn: socket.socket) -> None:
        self.selector.unregister(conn)
        self.pending.pop(conn, None)
        conn.close()

    def forever(self) -> None:
        while True:
            for key, events in self.selector.select():
                if key.fileobj is self.server:
                    self.accept()
                    continue
                if events & selectors.EVENT_READ:
                    self.readable(key.fileobj)
                if key.fileobj in self.pending and events & selectors.EVENT_WRITE:
                    self.writable(key.fileobj)


if __name__ == "__main__":
    EchoLoop(int(sys.argv[1])).forever()
