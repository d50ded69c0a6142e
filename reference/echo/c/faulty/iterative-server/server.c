/*
 * FAULTY (iterative-server): the classic tutorial echo server. It accepts one
 * connection, does ONE read() and ONE write(), closes the connection, and only
 * then accepts the next one. Quiz idea it gets wrong: a server port serves many
 * clients at once (each accepted connection is its own socket, served
 * concurrently); here clients wait in the listen queue one at a time, and
 * anything a client sends after its first read() chunk is never echoed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
    if (listen(lfd, 65535) < 0) {
        perror("listen");
        return 1;
    }
    fprintf(stderr, "listening on 0.0.0.0:%ld\n", port);

    for (;;) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0) {
            if (errno != EINTR)
                perror("accept");
            continue;
        }
        char buf[4096];
        ssize_t n = read(cfd, buf, sizeof buf);
        if (n > 0 && write(cfd, buf, (size_t)n) < 0)
            perror("write");
        close(cfd);
    }
}
