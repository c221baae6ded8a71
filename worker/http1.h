/*
 * http1 — a native HTTP/1.1 keep-alive client connection for http:// and https:// requests,
 * the way wrk does it: the request's bytes are written straight to a non-blocking socket
 * (through OpenSSL for https, tls.h) and the
 * response is parsed by a small state machine (status line, headers, Content-Length,
 * chunked, Connection: close, HTTP/1.0, bodiless responses, 1xx skipped). It exists because
 * libcurl's per-transfer work (request built with printf, URL parsing, connection checks) is
 * most of the CPU a load generator spends; everything else (proxies, other hosts, HTTP/2)
 * stays with libcurl.
 *
 * https: after the TCP connect, a non-blocking handshake (SNI, ALPN http/1.1, the
 * certificate checked against the origin's context), then the same request path through
 * SSL_write / SSL_read. A reconnect offers the connection's last TLS session, so it
 * resumes. Handshake failures are curl's CURLcodes (tls.h).
 *
 * One http1_conn_t belongs to one virtual user and carries at most one request at a time.
 * The caller owns the epoll set: the connection adds its socket once when it is opened
 * (data.fd = the socket), changes the events only around connect and partial writes, and
 * closing the socket drops it. Errors are libcurl's CURLcode for the same situation, so both
 * transports fail with the same messages (curl_easy_strerror).
 *
 * A request on a reused connection that the server had closed (EOF or reset before any
 * response byte) fails with `resendable` set; whether it is sent again is the client's
 * decision (client.h), not this connection's.
 *
 * Bodies: what the caller keeps goes to its sink, up to sink_max bytes (past it nothing more
 * is kept, sink_over is set, and the rest is still read and counted). A body bigger than the
 * input buffer is read straight from the socket, into the sink or into a scratch buffer the
 * caller lends (one per thread: bytes there are counted and forgotten at once), so a large
 * body costs a few hundred reads of up to 256 KiB rather than one per 2 KiB of input
 * buffer; small responses take one recv as before.
 *
 * Thread: a connection is used by one thread. The request path allocates nothing once the
 * input buffer has grown to the largest header section seen (and the sink to the largest
 * body kept); over https, OpenSSL's objects (the SSL, its buffers, the session the server
 * gives) are made when a connection opens, not per request.
 */
#ifndef HERD_HTTP1_H
#define HERD_HTTP1_H

#include <curl/curl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/buf.h"
#include "tls.h"

#define HTTP1_MAX_ADDRS 4

/* Where the requests of one base URL go: resolved once, read-only afterwards. */
typedef struct http1_origin {
    char host[256];        /* host as written in the URL (IPv6 with brackets), for matching */
    uint16_t port;
    bool tls;              /* https */
    SSL_CTX *tls_ctx;      /* https: the context connections are made with (the owner's,
                              set after http1_origin_resolve) */
    char host_header[280]; /* "host[:port]" as curl sends it (port omitted when the
                              scheme's default) */
    struct sockaddr_storage addrs[HTTP1_MAX_ADDRS]; /* tried in order on connect */
    socklen_t addr_lens[HTTP1_MAX_ADDRS];
    size_t n_addrs;
} http1_origin_t;

/* Resolve base_url's host (getaddrinfo, IPv4 and IPv6). -1 with a message when base_url is
 * not an http or https URL usable natively (user:password@, bad port) or the name does
 * not resolve: the caller then leaves those requests to curl. An https origin needs its
 * tls_ctx set before use. */
int http1_origin_resolve(http1_origin_t *o, const char *base_url, char *err, size_t errlen);

/* If url is a URL on origin o (same scheme, host and port) whose path and query curl would send unchanged
 * (printable ASCII, no fragment, no dot segments), point *target at "/path?query" inside url
 * and return 0; else -1. */
int http1_url_target(const http1_origin_t *o, const char *url, const char **target,
                     size_t *target_len);

/* Resolve a Location header value against the request target `base` ("/dir/x?q") on o:
 * a same-origin result is written to out as a target ("/..."), returning 0; anything else
 * (other host, scheme or port; characters curl would rewrite) is written to out as an
 * absolute URL, returning 1. */
int http1_resolve_location(const http1_origin_t *o, const char *base, const char *loc,
                           buf_t *out);

typedef enum http1_rc { HTTP1_PENDING, HTTP1_DONE } http1_rc_t;

typedef struct http1_conn {
    int fd;                /* -1: no connection */
    int epfd;              /* the owner's epoll set (borrowed) */
    const http1_origin_t *origin; /* what fd is connected to (borrowed) */
    size_t addr_i;         /* address being connected */
    int state;             /* see http1.c */
    tls_conn_t tls;        /* https: the socket's TLS and the session to resume; owned */
    const http1_origin_t *tls_origin; /* the origin tls.session belongs to */
    uint32_t served;       /* responses completed on fd: > 0 means a reused connection */
    bool resendable;       /* the current request failed on a reused connection before any
                              byte of a response (valid after HTTP1_DONE) */
    bool head;             /* the current request is HEAD: no response body */
    bool want_out;         /* EPOLLOUT is registered */
    /* current request (borrowed bytes, valid until HTTP1_DONE) */
    const char *req;
    size_t req_len, req_off;
    buf_t *sink;           /* body bytes are appended here when not NULL */
    uint64_t sink_max;     /* ... up to this length */
    bool sink_over;        /* the body was longer than sink_max (valid after HTTP1_DONE) */
    /* input */
    char *in;              /* owned; grows to the largest header section seen */
    size_t in_cap, in_len, in_off;
    char *scratch;         /* where body bytes not kept are read (borrowed; NULL: in) */
    size_t scratch_cap;
    bool got_bytes;        /* any byte of the response arrived */
    /* parser */
    int pstate;
    int minor;             /* HTTP/1.minor of the response */
    bool chunked, close_after, keep_alive_10, has_len;
    uint64_t remaining;    /* body or chunk bytes still expected */
    /* result, valid after HTTP1_DONE */
    CURLcode rc;
    long status;
    uint64_t body_bytes;   /* body bytes of the final response */
    buf_t location;        /* Location of a 3xx response, empty otherwise */
    /* Response headers for the owner: on_header(header_arg, line, len) for each header line
     * of each response (no line end), and with line NULL when a status line starts a
     * response (a 1xx's headers are not the final ones). NULL: not told. */
    void (*on_header)(void *header_arg, const char *line, size_t len);
    void *header_arg;
} http1_conn_t;

/* scratch (scratch_cap bytes, may be NULL) is borrowed for reading bodies that are not kept;
 * the connections of one thread may share it. */
void http1_init(http1_conn_t *c, int epfd, char *scratch, size_t scratch_cap);
/* Close the connection (an in-flight request is dropped) and free the buffers. */
void http1_free(http1_conn_t *c);
/* Close the connection; an in-flight request is dropped (abort, timeout). */
void http1_close(http1_conn_t *c);

/* Send req (req_len bytes, kept by the caller until HTTP1_DONE) to o, reusing the open
 * connection when it goes to o. head: the response has no body. sink: where the body goes
 * (NULL: counted only), sink_max bytes at most (then c->sink_over). Returns HTTP1_PENDING
 * (wait for events on c->fd) or HTTP1_DONE (c->rc says how it ended). */
http1_rc_t http1_send(http1_conn_t *c, const http1_origin_t *o, const char *req,
                      size_t req_len, bool head, buf_t *sink, uint64_t sink_max);

/* Epoll said `events` for c->fd. Returns HTTP1_DONE when the current request finished;
 * HTTP1_PENDING otherwise (also for an idle connection, which is closed when the server
 * closed it). */
http1_rc_t http1_on_event(http1_conn_t *c, uint32_t events);

/* True while a request is in flight. */
bool http1_busy(const http1_conn_t *c);

#endif
