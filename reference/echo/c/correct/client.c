/*
 * Reference TCP echo client (correct), C version.
 *
 * Usage: ./client HOST PORT
 *
 * Connects once to HOST:PORT (the OS picks the ephemeral source port; the
 * client never binds), then runs one poll() loop over stdin and the socket:
 * input read from stdin is sent (a partial send keeps the rest pending, and
 * stdin is not read again until it is sent), and whatever the server echoes
 * is written to stdout as soon as it arrives, however it is split or merged.
 * At end of stdin the client shuts down its write side, keeps reading until
 * the server closes, then exits 0. Cannot connect: message on stderr, exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define BUFSIZE 65536

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "client: cannot connect to %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "client: cannot connect to %s:%s: %s\n", host, port, strerror(err));
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *port = argv[2];
    signal(SIGPIPE, SIG_IGN);

    int sock = connect_to(host, port);
    if (sock < 0)
        return 1;
    int fl = fcntl(sock, F_GETFL, 0);
    if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0) {
        perror("fcntl");
        return 1;
    }

    static char out[BUFSIZE]; /* stdin data not yet sent: out[off..len) */
    static char in[BUFSIZE];
    size_t len = 0, off = 0;
    int stdin_open = 1, wr_shut = 0;

    for (;;) {
        struct pollfd p[2];
        p[0].fd = stdin_open && len == 0 ? STDIN_FILENO : -1;
        p[0].events = POLLIN;
        p[1].fd = sock;
        p[1].events = POLLIN | (len > off ? POLLOUT : 0);
        p[0].revents = p[1].revents = 0;
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }

        if (p[0].revents) {
            ssize_t n = read(STDIN_FILENO, out, sizeof out);
            if (n < 0 && errno != EINTR && errno != EAGAIN) {
                perror("read stdin");
                return 1;
            }
            if (n == 0)
                stdin_open = 0;
            if (n > 0) {
                len = (size_t)n;
                off = 0;
            }
        }

        while (off < len) {
            ssize_t n = send(sock, out + off, len - off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                fprintf(stderr, "client: connection to %s:%s failed: %s\n", host, port,
                        strerror(errno));
                return 1;
            }
            off += (size_t)n;
        }
        if (off == len)
            off = len = 0;

        if (!stdin_open && len == 0 && !wr_shut) {
            shutdown(sock, SHUT_WR); /* the server sees EOF */
            wr_shut = 1;
        }

        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(sock, in, sizeof in, 0);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                    continue;
                fprintf(stderr, "client: connection to %s:%s failed: %s\n", host, port,
                        strerror(errno));
                return 1;
            }
            if (n == 0)
                return 0; /* the server closed the connection */
            if (write_all(STDOUT_FILENO, in, (size_t)n) < 0) {
                perror("write stdout");
                return 1;
            }
        }
    }
}
