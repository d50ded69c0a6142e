/*
 * FAULTY (small-backlog-server): the textbook thread-per-client C server:
 * SO_REUSEADDR, bind, listen(fd, 5), then for each accept() a detached
 * pthread that echoes until the client closes its side, then closes. Quiz
 * idea it gets wrong: one listening port serves hundreds of clients at once
 * only if the kernel can queue their handshakes until accept(): a burst of
 * hundreds of connections overflows a listen backlog of 5, and some clients
 * reach the server seconds late (SYN retransmits) or not in time.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *arg)
{
    int cfd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(cfd, buf, sizeof buf)) > 0) {
        char *p = buf;
        while (n > 0) {
            ssize_t w = write(cfd, p, (size_t)n);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                goto done;
            }
            p += w;
            n -= w;
        }
    }
done:
    close(cfd);
    return NULL;
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
    if (listen(lfd, 5) < 0) {
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
        pthread_t tid;
        int rc = pthread_create(&tid, NULL, serve, (void *)(intptr_t)cfd);
        if (rc != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(rc));
            close(cfd);
            continue;
        }
        pthread_detach(tid);
    }
}
