# Echo server, one thread per connection (written for the similarity tests).
import argparse
import logging
import socket
import threading

log = logging.getLogger("echo")


def pump(client, peer):
    """Echo until the peer closes."""
    total = 0
    try:
        while True:
            block = client.recv(2048)
            if block == b"":
                break
            client.sendall(block)
            total += len(block)
    except ConnectionError as problem:
        log.warning("%s dropped: %s", peer, problem)
    finally:
        client.close()
    log.info("%s done after %d bytes", peer, total)


def open_listener(port, backlog=64):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
    sock.listen(backlog)
    return sock


def run(port):
    listener = open_listener(port)
    log.info("echoing on port %d", port)
    workers = []
    while True:
        client, peer = listener.accept()
        worker = threading.Thread(target=pump, args=(client, peer), daemon=True)
        worker.start()
        workers = [w for w in workers if w.is_alive()] + [worker]


if __name__ == "__main__":
    options = argparse.ArgumentParser()
    options.add_argument("port", type=int)
    logging.basicConfig(level=logging.INFO)
    run(options.parse_args().port)
