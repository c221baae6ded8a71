/*
 * client — one user's HTTP client: it renders a step's request, offers each hop to the
 * thread's transports in turn (transport.h), follows redirects, sends again what a dead
 * keep-alive connection lost, and judges the final response (request.h). The one place
 * where a request may move from one transport to another; the engine only asks for a step
 * to be sent and hears how it ended.
 *
 * Rules, the same whichever transport carries a hop:
 *   - Redirects: a 3xx with a Location is followed, REQUEST_MAX_REDIRS at most (then
 *     "Number of redirects hit maximum amount"); POST, PUT, PATCH or any request with a body
 *     becomes a GET on 301, 302 and 303 (a custom method keeps its name), as curl 7.88 does.
 *     Each hop goes to the first transport that takes it, so a redirect to another origin
 *     leaves the native transport for libcurl. The step's timeout covers every hop.
 *   - Re-sending (client_may_resend), Go's net/http rule: a hop that failed on a reused
 *     keep-alive connection before any byte of a response (the server may have closed it
 *     while the request was on its way) is sent once more on a new connection only when it
 *     is GET, HEAD or OPTIONS without a body; anything else (a POST, PUT, PATCH, DELETE, a
 *     body) may have been acted upon and fails instead. Every re-send is counted
 *     (client_result_t.resends, then the row's re-sends), so a server closing connections
 *     under load shows. libcurl would re-send any method up to 5 times inside a transfer;
 *     the curl transport stops it and reports the hop as resendable (transport_curl.c), so
 *     this rule decides for both transports.
 *   - Cookies: one jar per user (cookies.h), consulted for every hop's URL and fed every
 *     response's Set-Cookie, whichever transport carries the hop, when the step has
 *     `cookies` on. Basic auth and Accept-Encoding are headers of the step (request.c).
 *   - Time: the sum of the hops' times (a re-sent hop's failed attempt included); bytes:
 *     the final response's body.
 *
 * Ownership: a client_t is embedded in its user; it owns its request buffers and its conns
 * (one per transport, made when a hop first goes to that transport). It borrows the transports, the variable slots
 * (vars, globals) and the owner. Thread: the loop's.
 */
#ifndef HERD_CLIENT_H
#define HERD_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/scenario.h"
#include "../common/template.h"
#include "cookies.h"
#include "request.h"
#include "transport.h"

/* How a step's request ended. */
typedef struct client_result {
    uint64_t us;              /* response time over every hop; 0 when nothing was sent */
    uint64_t bytes;           /* body bytes of the final response */
    uint32_t resends;         /* hops sent again (client_may_resend) */
    const char *failure;      /* NULL: passed; else the message, in the thread's
                                 transports_t.failure: read it before the loop runs again */
} client_result_t;

/* A request finished later, from the loop. The client may be sent again or freed from
 * inside the callback. */
typedef void (*client_done_fn)(void *owner, const step_t *st, const client_result_t *res);

typedef struct client_config {
    transports_t *transports; /* the thread's (borrowed) */
    size_t host_slot;         /* index into the hosts the transports were made with */
    const char *host;         /* base URL for relative paths (borrowed), NULL: none */
    json_t **vars;            /* where USER-scope saves go, NULL: not kept (borrowed) */
    json_t **globals;         /* where GLOBAL-scope saves go, NULL: not kept (borrowed) */
    client_done_fn done;
    void *owner;              /* passed to done */
} client_config_t;

typedef struct client {
    client_config_t cfg;
    request_t req;            /* the rendered request and its response */
    cookie_jar_t jar;         /* the user's cookies, for every transport (cookies.h); lives
                                 and dies with the user (client_free) */
    double wall_minus_mono_s; /* wall clock minus monotonic, read once: a hop's wall time
                                 for cookies is the loop's cached now plus this (no clock
                                 read per request) */
    tconn_t *conns[TRANSPORTS_MAX]; /* per transport, same order, made on first use; owned */
    /* the request in flight */
    const step_t *st;         /* NULL: idle */
    size_t via;               /* the transport carrying the current hop */
    hop_t hop;
    buf_t url[2];             /* redirect targets, alternating (hop.url points into one) */
    int url_i;
    uint32_t redirects;       /* followed for the current request */
    bool resent;              /* the current hop was sent again once */
    uint32_t resends;         /* hops of the current request sent again */
    uint64_t us;              /* time of the hops before the current one */
} client_t;

typedef enum client_rc {
    CLIENT_PENDING,           /* in flight: the result comes through cfg.done */
    CLIENT_DONE,              /* finished at once (a template error, a refused connection):
                                 the result is in *res and done is not called */
} client_rc_t;

/* An idle client; it allocates nothing until a hop needs a conn. */
void client_init(client_t *c, const client_config_t *cfg);
/* A request in flight is dropped, never reported. */
void client_free(client_t *c);

/* Render and send st (a STEP_REQUEST) with env. A template error sends nothing and ends at
 * once with the message as its failure (0 ms). */
client_rc_t client_send(client_t *c, const step_t *st, const tmpl_env_t *env,
                        client_result_t *res);

/* The re-send rule (see the top of this file): may the current hop of a request of st,
 * which failed as res did, be sent again? */
bool client_may_resend(const client_t *c, const step_t *st, const hop_result_t *res);

/* The step of the request in flight, or NULL when idle; *resends: its hops sent again so
 * far. For counting a request its user abandons (engine.c). */
const step_t *client_in_flight(const client_t *c, uint32_t *resends);

#endif
