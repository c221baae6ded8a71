/*
 * transport — one way of carrying an HTTP request, behind a small table of functions, as
 * wrk's `struct sock` does for plain and TLS sockets. herd has two:
 *   - native (transport_http1.c): plain http:// on the class's own origin, one keep-alive
 *     connection per user, one send and one recv a request (http1.h);
 *   - curl (transport_curl.c): everything else, through libcurl's multi socket interface.
 * A transport carries one *hop*: one request and its response. Following redirects, moving
 * a request from one transport to another, re-sending on a dead keep-alive connection and
 * judging the response happen above, in the client (client.h), the one place for them; the
 * engine sees neither. A new transport (native TLS, HTTP/2 through libcurl) is a new table
 * added in transports_create; nothing else changes.
 *
 * Shapes:
 *   transport_t   one per engine thread and kind: what the kind shares (resolved origins,
 *                 the curl multi handle), on the thread's loop. Implementations embed it
 *                 as their first member.
 *   tconn_t       one per user and kind: the user's connection (a socket, an easy handle).
 *                 Implementations embed it as their first member.
 * A hop ends either at once (start returns TRANSPORT_DONE and fills the result) or later,
 * from the loop, through the conn's done callback. After calling done, a transport touches
 * nothing of the conn: the callback may have started the next hop on it or freed it.
 *
 * Thread: everything here runs on the loop's thread. The request path allocates nothing
 * once buffers have grown.
 */
#ifndef HERD_TRANSPORT_H
#define HERD_TRANSPORT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/scenario.h"
#include "loop.h"
#include "request.h"
#include "tls.h"

/* What one hop is. */
typedef struct hop {
    const char *url;          /* absolute URL, NUL-terminated (the rendered one, or a redirect's) */
    bool first;               /* url is the request's rendered URL (r->url), not a redirect */
    bool drop_body;           /* a 301/302/303 turned the request into a GET (a custom method
                                 keeps its name, as curl does) */
    double deadline;          /* monotonic seconds: the step's timeout, over every hop */
} hop_t;

/* How one hop ended. Valid until the conn starts another hop. */
typedef struct hop_result {
    CURLcode rc;              /* CURLE_OK, or the failure in libcurl's terms (its messages) */
    long status;              /* HTTP status of the response, 0 when none */
    uint64_t us;              /* the hop's time, connect to last byte */
    uint64_t bytes;           /* response body bytes */
    bool resendable;          /* failed on a reused keep-alive connection before any byte of
                                 a response: the server closed it, the request may never have
                                 reached it (the client decides whether to send it again) */
    const char *location;     /* a 3xx's Location resolved to an absolute URL, or NULL */
} hop_result_t;

typedef enum transport_rc {
    TRANSPORT_DECLINED,       /* this transport does not carry that URL: try the next */
    TRANSPORT_PENDING,        /* sent; the result comes through the conn's done callback */
    TRANSPORT_DONE,           /* finished at once; the result is filled in */
} transport_rc_t;

typedef struct transport transport_t;
typedef struct tconn tconn_t;

typedef void (*transport_done_fn)(void *owner, const hop_result_t *res);

typedef struct transport_ops {
    const char *name;         /* "native", "curl": for logs */
    void (*destroy)(transport_t *t);
    /* The user's conn on this transport for host slot `host`; NULL when out of memory. */
    tconn_t *(*conn_new)(transport_t *t, size_t host, transport_done_fn done, void *owner);
    /* Close and free; a hop in flight is dropped, never reported. NULL is fine. */
    void (*conn_free)(tconn_t *c);
    /* Send hop h of the request rendered in r for step st. Body bytes go to r->resp when
     * r->keep_body, and are counted in r->body_bytes. */
    transport_rc_t (*start)(tconn_t *c, request_t *r, const step_t *st, const hop_t *h,
                            hop_result_t *res);
} transport_ops_t;

struct transport {
    const transport_ops_t *ops;
    loop_t *loop;             /* borrowed: the thread's loop */
};

struct tconn {
    transport_t *t;
    transport_done_fn done;
    void *owner;              /* passed to done */
    bool busy;                /* a hop is in flight */
};

#define TRANSPORTS_MAX 4

/* The transports of one thread, in the order they are offered a hop. */
typedef struct transports {
    transport_t *list[TRANSPORTS_MAX];
    size_t n;
    char failure[512];        /* the failure message of the request that just ended on this
                                 thread (client.h): one buffer per thread, not per user */
} transports_t;

/* Create the transports for a loop. hosts[i] is the base URL of host slot i (a user class,
 * or the setup's host), NULL when it has none; tls[i] its TLS options (tls NULL: defaults
 * for every slot), borrowed for the transports' life. The native one is left out when
 * HERD_TRANSPORT=curl or a proxy variable libcurl honours for http is set. -1 with a
 * message on failure. */
int transports_create(transports_t *ts, loop_t *loop, const char *const *hosts,
                      const tls_opts_t *tls, size_t n_hosts, char *err, size_t errlen);
void transports_destroy(transports_t *ts);

/* Implementations (transport_http1.c, transport_curl.c). The native one returns NULL with
 * no error when no host is usable natively. */
transport_t *transport_http1_create(loop_t *loop, const char *const *hosts,
                                    const tls_opts_t *tls, size_t n_hosts);
transport_t *transport_curl_create(loop_t *loop, const tls_opts_t *tls, size_t n_hosts,
                                   char *err, size_t errlen);

#endif
