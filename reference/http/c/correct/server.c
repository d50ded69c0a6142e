/*
 * Reference static HTTP/1.1 server (correct), C version.
 *
 * Usage: ./server PORT DOCROOT
 *
 * One process, one thread, one poll() loop (no fork). Listens on 0.0.0.0:PORT
 * and answers GET and HEAD with the files under DOCROOT. Every connection has
 * its own input buffer (the request header, however many recv() calls it
 * takes) and its own output buffer (the response being sent); all sockets are
 * non-blocking, so a client that sent half a request, or reads its response
 * slowly, never holds up the others. While a response is being sent the server
 * reads nothing more from that connection; then it answers the next request
 * already buffered (pipelining), in order. Connections stay open until the
 * client closes its side or sends `Connection: close`. A malformed request gets
 * 400 and a close; a method other than GET or HEAD gets 405 and a close (a body
 * it may carry is never read). Paths are percent-decoded, resolved with
 * realpath() (`..`, symlinks) and answered 404 unless the real path is a
 * regular file inside DOCROOT. SO_REUSEADDR is set before bind so the server
 * can be restarted at once while old connections are in TIME_WAIT; the
 * RLIMIT_NOFILE soft limit is raised to the hard limit.
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEAD 16384 /* bytes of one request's line and headers */

static const char TCHAR[] = "!#$%&'*+-.^_`|~0123456789"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct conn {
    char *in;    /* received, not yet answered: in[0..inlen) */
    size_t inlen;
    char *out;   /* the response being sent: out[off..len) */
    size_t len;
    size_t off;
    int eof;     /* the client has closed its side */
    int closing; /* close once the response is sent */
};

static struct pollfd *pfds; /* pfds[0] is the listener */
static struct conn *conns;  /* conns[i] belongs to pfds[i], i >= 1 */
static nfds_t nfds;
static nfds_t maxfds;
static char docroot[PATH_MAX];

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

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Request Header Fields Too Large";
    }
}

static const char *content_type(const char *path)
{
    static const char *types[][2] = {
        { ".html", "text/html" }, { ".htm", "text/html" }, { ".txt", "text/plain" },
        { ".css", "text/css" }, { ".js", "text/javascript" }, { ".json", "application/json" },
        { ".png", "image/png" }, { ".jpg", "image/jpeg" }, { ".gif", "image/gif" },
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Put a response header for a body of blen bytes into c->out, with room for the
 * body unless head_only. Returns where the body goes, or NULL if out of memory. */
static char *start_response(struct conn *c, int status, const char *ctype, size_t blen,
                            int head_only, int close_after, const char *extra)
{
    char head[512];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: %s\r\n%s%s\r\n",
                        status, reason(status), blen, ctype, extra,
                        close_after ? "Connection: close\r\n" : "");
    c->len = (size_t)hlen + (head_only ? 0 : blen);
    c->off = 0;
    c->closing = close_after;
    c->out = malloc(c->len ? c->len : 1);
    if (c->out == NULL)
        return NULL;
    memcpy(c->out, head, (size_t)hlen);
    return c->out + hlen;
}

static int error_response(struct conn *c, int status, int head_only, int close_after,
                          const char *extra)
{
    char body[64];
    int blen = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
    char *p = start_response(c, status, "text/plain; charset=utf-8", (size_t)blen, head_only,
                             close_after, extra);
    if (p == NULL)
        return -1;
    if (!head_only)
        memcpy(p, body, (size_t)blen);
    return 0;
}

/* Percent-decode the path of target (up to a '?') into out. -1: a bad escape or %00. */
static int decode_path(const char *t, char *out, size_t cap)
{
    size_t n = 0;
    for (; *t != '\0' && *t != '?'; t++) {
        int ch = (unsigned char)*t;
        if (ch == '%') {
            if (!isxdigit((unsigned char)t[1]) || !isxdigit((unsigned char)t[2]))
                return -1;
            char hex[3] = { t[1], t[2], '\0' };
            ch = (int)strtol(hex, NULL, 16);
            t += 2;
            if (ch == 0)
                return -1;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return 0;
}

/* Open the regular file under DOCROOT that target names: an fd, or -1. */
static int open_target(const char *target, char *real)
{
    char rel[PATH_MAX], full[2 * PATH_MAX];
    if (decode_path(target, rel, sizeof rel) < 0)
        return -1;
    snprintf(full, sizeof full, "%s/%s", docroot, rel + strspn(rel, "/"));
    if (realpath(full, real) == NULL)
        return -1;
    size_t dl = strlen(docroot);
    if (strncmp(real, docroot, dl) != 0 || (real[dl] != '/' && real[dl] != '\0'))
        return -1; /* outside DOCROOT: .., %2e%2e, a symlink */
    int fd = open(real, O_RDONLY);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Parse the NUL-terminated request header in head. -1 if it is malformed. */
static int parse(char *head, char **method, char **target, int *keep_alive)
{
    char *p = head, *next;
    size_t n = strspn(p, TCHAR);
    if (n == 0 || p[n] != ' ')
        return -1;
    p[n] = '\0';
    *method = p;
    p += n + 1;
    n = strcspn(p, " \t\r\n");
    if (p[0] != '/' || p[n] != ' ')
        return -1;
    p[n] = '\0';
    *target = p;
    p += n + 1;
    if (strncmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[7]) ||
        (p[8] != '\0' && strncmp(p + 8, "\r\n", 2) != 0))
        return -1;
    int minor = p[7] - '0', close_tok = 0, keep_tok = 0;

    for (p = p[8] ? p + 10 : NULL; p != NULL; p = next) { /* header lines */
        next = strstr(p, "\r\n");
        if (next != NULL) {
            *next = '\0';
            next += 2;
        }
        n = strspn(p, TCHAR);
        if (n == 0 || p[n] != ':')
            return -1;
        p[n] = '\0';
        if (strcasecmp(p, "Connection") != 0)
            continue;
        for (char *tok = strtok(p + n + 1, ","); tok != NULL; tok = strtok(NULL, ",")) {
            tok += strspn(tok, " \t");
            size_t len = strcspn(tok, " \t");
            close_tok |= len == 5 && strncasecmp(tok, "close", 5) == 0;
            keep_tok |= len == 10 && strncasecmp(tok, "keep-alive", 10) == 0;
        }
    }
    *keep_alive = minor == 0 ? keep_tok : !close_tok;
    return 0;
}

/* Put the response to the request header head[0..hlen) into c->out. */
static int answer(struct conn *c, char *head, size_t hlen)
{
    char *method, *target, real[PATH_MAX];
    int keep_alive;
    if (memchr(head, '\0', hlen) != NULL || parse(head, &method, &target, &keep_alive) < 0)
        return error_response(c, 400, 0, 1, "");
    int head_only = strcmp(method, "HEAD") == 0;
    if (!head_only && strcmp(method, "GET") != 0)
        return error_response(c, 405, 0, 1, "Allow: GET, HEAD\r\n");
    int fd = open_target(target, real);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return error_response(c, 404, head_only, !keep_alive, "");
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *p = start_response(c, 200, content_type(real), size, head_only, !keep_alive, "");
    while (p != NULL && !head_only && got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r <= 0) { /* the file shrank or failed: the body is short, so close after it */
            c->len -= size - got;
            c->closing = 1;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    return p == NULL ? -1 : 0;
}

/* Answer the next request if all of its header is buffered. Returns 1 if a
 * response was queued, 0 if more input is needed, -1 if out of memory. */
static int next_request(struct conn *c)
{
    size_t skip = 0; /* empty lines before a request are allowed */
    while (skip < c->inlen && (c->in[skip] == '\r' || c->in[skip] == '\n'))
        skip++;
    memmove(c->in, c->in + skip, c->inlen - skip);
    c->inlen -= skip;

    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->inlen < MAX_HEAD)
            return 0;
        return error_response(c, 431, 0, 1, "") < 0 ? -1 : 1;
    }
    size_t hlen = (size_t)(end - c->in);
    *end = '\0';
    if (answer(c, c->in, hlen) < 0)
        return -1;
    c->inlen -= hlen + 4;
    memmove(c->in, end + 4, c->inlen);
    return 1;
}

/* Send pending output. Returns -1 if the connection is dead. */
static int flush_out(nfds_t i)
{
    struct conn *c = &conns[i];
    while (c->off < c->len) {
        ssize_t n = send(pfds[i].fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->off = c->len = 0;
    return 0;
}

static void drop(nfds_t i)
{
    if (conns[i].closing) {
        /* Closing first: read what the client already sent, so that the kernel
         * does not answer unread data with a reset that could destroy the reply. */
        char junk[4096];
        for (int k = 0; k < 16 && recv(pfds[i].fd, junk, sizeof junk, 0) > 0; k++)
            ;
    }
    close(pfds[i].fd);
    free(conns[i].in);
    free(conns[i].out);
    nfds--;
    if (i != nfds) {
        pfds[i] = pfds[nfds];
        conns[i] = conns[nfds];
    }
}

/* Handle events on connection i. Returns -1 if it must be dropped. */
static int service(nfds_t i)
{
    struct conn *c = &conns[i];
    short re = pfds[i].revents;

    if (c->len == 0 && (re & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(pfds[i].fd, c->in + c->inlen, MAX_HEAD - c->inlen, 0);
        if (n == 0)
            c->eof = 1;
        else if (n > 0)
            c->inlen += (size_t)n;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
    }
    for (;;) {
        if (flush_out(i) < 0)
            return -1;
        if (c->len > 0 || c->closing)
            break;
        int r = next_request(c);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
    }
    if (c->len > 0) {
        if ((re & (POLLERR | POLLHUP)) && !(re & POLLOUT))
            return -1;
        pfds[i].events = POLLOUT; /* read nothing more until the response is sent */
        return 0;
    }
    if (c->closing || c->eof)
        return -1; /* done, or the client closed its side: close ours */
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
        char *in = malloc(MAX_HEAD);
        if (nfds >= maxfds || in == NULL || set_nonblocking(fd) < 0) {
            free(in);
            close(fd);
            pfds[0].events = 0;
            return;
        }
        pfds[nfds] = (struct pollfd){ .fd = fd, .events = POLLIN };
        conns[nfds] = (struct conn){ .in = in };
        nfds++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT DOCROOT\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "server: bad port '%s'\n", argv[1]);
        return 2;
    }
    struct stat st;
    if (realpath(argv[2], docroot) == NULL || stat(docroot, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "server: '%s' is not a directory\n", argv[2]);
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
    if (listen(lfd, SOMAXCONN) < 0) {
        perror("listen");
        return 1;
    }
    if (set_nonblocking(lfd) < 0) {
        perror("fcntl");
        return 1;
    }
    fprintf(stderr, "listening on 0.0.0.0:%ld\n", port);

    pfds[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
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
