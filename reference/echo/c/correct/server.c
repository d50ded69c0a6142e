/*
 * Reference TCP echo server (correct), C version.
 *
 * Usage: ./server PORT
 *
 * One process, one thread, one poll() loop (no fork). Listens on
 * 0.0.0.0:PORT and echoes every byte back on the connection it came from
 * until the client closes its side, then closes the connection. All sockets
 * are non-blocking; each connection has its own pending-output buffer so a
 * partial write never blocks the other clients (while a connection has
 * unsent output the server stops reading from it until the output drains).
 * SO_REUSEADDR is set before bind so the server can be restarted at once
 * while old connections are in TIME_WAIT. At start the RLIMIT_NOFILE soft
 * limit is raised to the hard limit so that 10,000 clients fit.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 65535
#define BUFSIZE 4096

struct conn {
    char *buf;   /* pending output: buf[off..len) not yet written */
    size_t len;
    size_t off;
    int eof;     /* the client has closed its side */
};

static struct pollfd *pfds; /* pfds[0] is the listener */
static struct conn *conns;  /* conns[i] belongs to pfds[i], i >= 1 */
static nfds_t nfds;
static nfds_t maxfds;

static rlim_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > (1 << 20))
        want = 1 << 20;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? want : rl.rlim_cur;
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void drop(nfds_t i)
{
    close(pfds[i].fd);
    free(conns[i].buf);
    nfds--;
    if (i != nfds) {
        pfds[i] = pfds[nfds];
        conns[i] = conns[nfds];
    }
}

/* Write pending output. Returns -1 if the connection is dead. */
static int flush_out(nfds_t i)
{
    struct conn *c = &conns[i];
    while (c->off < c->len) {
        ssize_t n = send(pfds[i].fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        c->off += (size_t)n;
    }
    if (c->off == c->len)
        c->off = c->len = 0;
    return 0;
}

/* Handle events on connection i. Returns -1 if it must be dropped. */
static int service(nfds_t i)
{
    struct conn *c = &conns[i];
    short re = pfds[i].revents;

    if (c->len > 0) {
        /* Output pending: only try to write it (POLLOUT, or an error/hangup
         * that the write will report). */
        if (flush_out(i) < 0)
            return -1;
        if (c->len > 0 && (re & (POLLERR | POLLHUP)) && !(re & POLLOUT))
            return -1;
    } else if (re & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(pfds[i].fd, c->buf, BUFSIZE, 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
        } else if (n == 0) {
            c->eof = 1;
        } else {
            c->len = (size_t)n;
            c->off = 0;
            if (flush_out(i) < 0)
                return -1;
        }
    }
    if (c->len > 0) {
        pfds[i].events = POLLOUT; /* stop reading until the output drains */
        return 0;
    }
    if (c->eof)
        return -1; /* everything echoed and the client is done: close */
    pfds[i].events = POLLIN;
    return 0;
}

static void accept_all(void)
{
    for (;;) {
        int fd = accept(pfds[0].fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting until a client leaves. */
                pfds[0].events = 0;
            }
            return;
        }
        char *buf = malloc(BUFSIZE);
        if (nfds >= maxfds || buf == NULL || set_nonblocking(fd) < 0) {
            free(buf);
            close(fd);
            pfds[0].events = 0;
            return;
        }
        pfds[nfds].fd = fd;
        pfds[nfds].events = POLLIN;
        pfds[nfds].revents = 0;
        conns[nfds] = (struct conn){ .buf = buf };
        nfds++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "server: bad port '%s'\n", argv[1]);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    maxfds = (nfds_t)raise_fd_limit();
    pfds = calloc(maxfds, sizeof *pfds);
    conns = calloc(maxfds, sizeof *conns);
    if (pfds == NULL || conns == NULL) {
        perror("calloc");
        return 1;
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        perror("setsockopt");
        return 1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons((unsigned short)port);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    if (listen(lfd, BACKLOG) < 0) {
        perror("listen");
        return 1;
    }
    if (set_nonblocking(lfd) < 0) {
        perror("fcntl");
        return 1;
    }
    fprintf(stderr, "listening on 0.0.0.0:%ld\n", port);

    pfds[0].fd = lfd;
    pfds[0].events = POLLIN;
    nfds = 1;

    for (;;) {
        int ready = poll(pfds, nfds, -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        /* Walk the connections from the end so that drop(), which moves the
         * last entry into the freed slot, never skips an unvisited one. */
        nfds_t before = nfds;
        for (nfds_t i = nfds - 1; i >= 1; i--) {
            if (pfds[i].revents != 0 && service(i) < 0)
                drop(i);
        }
        if (nfds < before)
            pfds[0].events = POLLIN; /* room again: resume accepting */
        if (pfds[0].revents & POLLIN)
            accept_all();
    }
}
