/*
 * Reference HTTP/1.1 fetching client (correct), C version.
 *
 * Usage: ./client HOST PORT PATH
 *
 * Connects once to HOST:PORT (the OS picks the ephemeral source port; the
 * client never binds), sends `GET PATH HTTP/1.1` with a Host header and
 * `Connection: close`, reads the response header (however it is split across
 * recv() calls), then exactly Content-Length bytes of body (without a
 * Content-Length: everything until the server closes), written to stdout
 * unchanged as they arrive. Exit status 0 for `200 OK`; another status is named
 * on stderr (the body is not printed) and the exit status is 1, as it is when
 * the server cannot be reached or the response is cut short or malformed.
 */
#define _GNU_SOURCE /* memmem, asprintf */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_HEAD 65536

static const char *host, *port, *path;

static int fail(const char *what)
{
    fprintf(stderr, "client: GET %s from %s:%s: %s\n", path, host, port, what);
    return 1;
}

static int connect_to(void)
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

/* The value of header `name` in the NUL-terminated header lines, or NULL. */
static const char *header(char *lines, const char *name)
{
    size_t n = strlen(name);
    for (char *p = lines; p != NULL; p = strstr(p, "\r\n")) {
        p += p[0] == '\r' ? 2 : 0;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return p + n + 1 + strspn(p + n + 1, " \t");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT PATH\n", argv[0]);
        return 2;
    }
    host = argv[1], port = argv[2], path = argv[3];
    signal(SIGPIPE, SIG_IGN);

    int sock = connect_to();
    if (sock < 0)
        return 1;
    char *req;
    int rlen = asprintf(&req, "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nConnection: close\r\n\r\n",
                        path, host, strcmp(port, "80") ? ":" : "", strcmp(port, "80") ? port : "");
    if (rlen < 0 || write_all(sock, req, (size_t)rlen) < 0)
        return fail(rlen < 0 ? "out of memory" : strerror(errno));
    free(req);

    static char buf[MAX_HEAD + 1];
    size_t have = 0;
    char *end;
    while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
        if (have == MAX_HEAD)
            return fail("response header too long");
        ssize_t n = recv(sock, buf + have, MAX_HEAD - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(strerror(errno));
        if (n == 0)
            return fail("the server closed the connection before the end of the header");
        have += (size_t)n;
    }
    *end = '\0';
    char *body = end + 4;
    size_t got = have - (size_t)(body - buf);

    int status;
    if (sscanf(buf, "HTTP/1.%*d %3d", &status) != 1)
        return fail("not an HTTP response");
    if (status != 200) {
        char *eol = strstr(buf, "\r\n");
        if (eol != NULL)
            *eol = '\0';
        return fail(buf); /* the status line */
    }
    char *lines = strstr(buf, "\r\n");
    if (lines != NULL && header(lines, "Transfer-Encoding") != NULL)
        return fail("Transfer-Encoding is not supported");
    const char *cl = lines != NULL ? header(lines, "Content-Length") : NULL;
    long long length = -1; /* -1: until the server closes */
    if (cl != NULL) {
        char *stop;
        errno = 0;
        length = strtoll(cl, &stop, 10);
        int tail_ok = *stop == '\0' || strchr(" \t\r", *stop) != NULL; /* end of the line */
        if (stop == cl || length < 0 || errno != 0 || !tail_ok)
            return fail("bad Content-Length");
    }

    for (;;) {
        if (length >= 0 && (long long)got > length)
            got = (size_t)length;
        if (write_all(STDOUT_FILENO, body, got) < 0) {
            perror("client: write stdout");
            return 1;
        }
        if (length >= 0 && (length -= (long long)got) == 0)
            return 0;
        ssize_t n = recv(sock, buf, MAX_HEAD, 0);
        if (n < 0 && errno == EINTR) {
            got = 0;
            continue;
        }
        if (n < 0)
            return fail(strerror(errno));
        if (n == 0)
            return length < 0 ? 0 : fail("body cut short");
        body = buf;
        got = (size_t)n;
    }
}
