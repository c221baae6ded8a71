/*
 * fuzz_http1 — the native HTTP/1.1 client's response parser, fed as it is in a run: from a
 * socket. A listener on 127.0.0.1 accepts the client's connection and writes the input to
 * it in pieces (the first byte picks the piece size, whether the request is a HEAD and
 * whether the body is kept), the client's events are handled after each piece, then the
 * server closes. Whatever the bytes, the request ends (HTTP1_DONE) with a result.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/buf.h"
#include "../../worker/http1.h"

static int lfd = -1, epfd = -1;
static http1_origin_t origin;
static char scratch[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 16) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("fuzz_http1: listener");
        _exit(1);
    }
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(a.sin_port));
    if (http1_origin_resolve(&origin, url, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_http1: %s\n", err);
        _exit(1);
    }
    epfd = epoll_create1(0);
    return 0;
}

/* Hand the client its events until it waits for more bytes (or is done). */
static http1_rc_t pump(http1_conn_t *c)
{
    struct epoll_event ev[4];
    for (int round = 0; round < 64; round++) {
        int n = epoll_wait(epfd, ev, 4, round == 0 ? 50 : 0);
        if (n <= 0)
            return HTTP1_PENDING;
        for (int i = 0; i < n; i++)
            if (http1_on_event(c, ev[i].events) == HTTP1_DONE)
                return HTTP1_DONE;
    }
    return HTTP1_PENDING;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t how = data[0];
    data++;
    size--;
    size_t piece = (size_t)(how >> 3) * 7 + 1;   /* 1..218 bytes at a time */
    bool head = how & 1;
    bool keep = how & 2;
    bool whole = how & 4;                          /* all at once */

    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    http1_conn_t c;
    http1_init(&c, epfd, scratch, sizeof scratch);
    buf_t body;
    buf_init(&body);
    http1_rc_t rc = http1_send(&c, &origin, req, sizeof req - 1, head, keep ? &body : NULL, 100);
    int sfd = rc == HTTP1_DONE ? -1 : accept(lfd, NULL, NULL);
    if (sfd >= 0) {
        char in[512];
        rc = pump(&c);                              /* connected, the request written */
        (void)!recv(sfd, in, sizeof in, MSG_DONTWAIT);
        for (size_t off = 0; rc != HTTP1_DONE && off < size;) {
            size_t n = whole ? size : (size - off < piece ? size - off : piece);
            if (send(sfd, data + off, n, MSG_NOSIGNAL) < 0)
                break;
            off += n;
            rc = pump(&c);
        }
        close(sfd);
        for (int i = 0; rc != HTTP1_DONE && i < 100; i++)
            rc = pump(&c);
        if (rc != HTTP1_DONE) {
            fprintf(stderr, "fuzz_http1: the request never ended after the server closed\n");
            __builtin_trap();
        }
    }
    http1_free(&c);
    buf_free(&body);
    return 0;
}
