/*
 * http — libmicrohttpd glue: one daemon per service on a socket bound beforehand, reading
 * bodies (at most HTTP_BODY_LIMIT_BYTES; more is read and thrown away, then answered 400),
 * routing to the service (service.h), the test routes /__stats, /__reset, /__invariants,
 * counting every answer (tally.h), and the trouble tests ask for: injected 500s, dropped
 * connections, added latency (delay.h).
 */
#ifndef HERD_SVC_HTTP_H
#define HERD_SVC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#define HTTP_BODY_LIMIT_BYTES (64 * 1024)

typedef struct http_trouble {
    unsigned delay_ms;         /* added to every service answer */
    unsigned delay_jitter_ms;  /* plus a uniform random 0..jitter */
    double error_rate;         /* share of requests answered 500 without touching state */
    double drop_rate;          /* share of connections closed without an answer */
} http_trouble_t;

typedef struct http_server {
    const svc_service_t *service;
    int service_index;         /* its index for tally_record */
    int fd;                    /* listening socket; owned until http_start hands it to MHD */
    uint16_t port;             /* the bound port (resolves a requested 0) */
    struct MHD_Daemon *daemon;
} http_server_t;

/* Sets the trouble for every server; call before http_start. */
void http_configure(const http_trouble_t *trouble);
/* Binds and listens on host:port: 0, or -1 with err naming the address and the reason. */
int http_listen(http_server_t *s, const char *host, uint16_t port, char *err, size_t errlen);
/* Serves s with a pool of `threads` threads: 0, or -1 with err filled. */
int http_start(http_server_t *s, unsigned threads, char *err, size_t errlen);
void http_stop(http_server_t *s);

#endif
