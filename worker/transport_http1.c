/*
 * transport_http1 — the native transport: http:// and https:// requests on their host
 * slot's own origin, over the user's keep-alive connection (http1.h), registered with the
 * thread's loop. It declines everything else (other hosts, proxies, URLs curl would
 * rewrite), which then goes to libcurl. An https slot gets its own OpenSSL context from the
 * slot's TLS options (tls.h); when that cannot be built (a bad CA or client certificate)
 * the slot is left to libcurl, which fails its requests with its own message.
 * See transport.h for the contract.
 *
 * What must stay true: the loop's handler for a conn's socket is that conn exactly while
 * the socket is open (sync_fd after every http1 call that may open or close it), and the
 * conn's timeout timer is armed exactly while a hop is in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "http1.h"
#include "transport.h"

/* Body bytes nobody keeps are read here, by every conn of the thread (http1.h). */
#define SCRATCH_BYTES (256u * 1024u)

typedef struct native {
    transport_t base;
    size_t n_hosts;
    http1_origin_t **origin;  /* per host slot: resolved origin, NULL: not native; owned
                                 (with its tls_ctx) */
    char *scratch;            /* SCRATCH_BYTES, lent to every conn; owned */
} native_t;

typedef struct native_conn {
    tconn_t base;
    native_t *t;
    const http1_origin_t *origin; /* the host slot's, or NULL: every hop declined */
    request_t *r;             /* the request of the hop in flight (borrowed) */
    http1_conn_t conn;
    int fd;                   /* conn.fd as registered with the loop (-1: none) */
    loop_timer_t timeout;     /* the hop's deadline */
    uint64_t start_ns;        /* when the hop started */
    const char *target;       /* the hop's request target ("/path?q", the end of the hop's
                                 URL, which the client keeps until the hop ends): a
                                 redirect's base */
    buf_t resolved;           /* a 3xx's Location resolved against target */
    buf_t location;           /* the same as an absolute URL */
    hop_result_t res;
} native_conn_t;

static void on_fd(void *arg, int fd, uint32_t events);

/* Response headers go to the hop's request, as libcurl's do (transport_curl.c). */
static void on_header(void *arg, const char *line, size_t len)
{
    if (line)
        request_on_header(arg, line, len);
    else
        request_on_status(arg);
}

/* Keep the loop's handler in step with the connection's socket. */
static void sync_fd(native_conn_t *c)
{
    loop_t *l = c->t->base.loop;
    int fd = c->conn.fd;
    if (fd == c->fd)
        return;
    if (c->fd >= 0) {
        const loop_fd_t *h = loop_fd_get(l, c->fd);
        if (h && h->arg == c)
            loop_fd_clear(l, c->fd);
    }
    c->fd = -1;
    if (fd < 0)
        return;
    if (loop_fd_set(l, fd, on_fd, c) < 0) { /* out of memory: the socket cannot be served */
        http1_close(&c->conn);
        return;
    }
    c->fd = fd;
}

/* The connection finished the hop: fill the result (with the redirect's absolute URL). */
static void result(native_conn_t *c)
{
    http1_conn_t *h = &c->conn;
    uint64_t end = clock_mono_ns();
    loop_timer_disarm(c->t->base.loop, &c->timeout);
    c->base.busy = false;
    c->r->resp_over = h->sink_over;
    c->res = (hop_result_t){
        .rc = h->rc,
        .status = h->rc == CURLE_OK ? h->status : 0,
        .us = end > c->start_ns ? (end - c->start_ns) / 1000u : 0,
        .bytes = h->body_bytes,
        .resendable = h->rc != CURLE_OK && h->resendable,
    };
    if (h->rc != CURLE_OK || h->status < 300 || h->status >= 400 || h->location.len == 0)
        return;
    const http1_origin_t *o = c->origin;
    int where = http1_resolve_location(o, c->target ? c->target : "/",
                                       h->location.data, &c->resolved);
    buf_reset(&c->location);
    if (!c->resolved.data ||
        (where == 0 &&
         buf_printf(&c->location, "%s://%s", o->tls ? "https" : "http", o->host_header) < 0) ||
        buf_append(&c->location, c->resolved.data, c->resolved.len) < 0) {
        c->res.rc = CURLE_OUT_OF_MEMORY;
        return;
    }
    c->res.location = c->location.data;
}

static void on_fd(void *arg, int fd, uint32_t events)
{
    (void)fd;
    native_conn_t *c = arg;
    bool busy = c->base.busy;
    http1_rc_t rc = http1_on_event(&c->conn, events);
    sync_fd(c);
    if (!busy || rc == HTTP1_PENDING)
        return; /* an idle connection the server closed is closed (and forgotten) now */
    result(c);
    c->base.done(c->base.owner, &c->res); /* may reuse or free c: nothing after this */
}

static void on_timeout(void *arg)
{
    native_conn_t *c = arg;
    if (!c->base.busy)
        return;
    http1_close(&c->conn);
    sync_fd(c);
    c->conn.rc = CURLE_OPERATION_TIMEDOUT;
    c->conn.resendable = false;
    result(c);
    c->base.done(c->base.owner, &c->res);
}

static transport_rc_t start(tconn_t *tc, request_t *r, const step_t *st, const hop_t *h,
                            hop_result_t *res)
{
    native_conn_t *c = (native_conn_t *)tc;
    const http1_origin_t *o = c->origin;
    const char *target;
    size_t tl;
    if (!o || st->http2 || http1_url_target(o, h->url, &target, &tl) < 0)
        return TRANSPORT_DECLINED; /* HTTP/2 is libcurl's */
    if (request_wire(r, st, o->host_header, target, tl, h->drop_body) < 0)
        return TRANSPORT_DECLINED; /* out of memory: curl may still manage */
    c->target = target;
    c->base.busy = true;
    c->r = r;
    r->resp_over = false;
    c->conn.header_arg = r;
    loop_timer_arm(c->t->base.loop, &c->timeout, h->deadline);
    c->start_ns = clock_mono_ns();
    http1_rc_t rc = http1_send(&c->conn, o, r->wire.data, r->wire.len, st->method == HTTP_HEAD,
                               r->keep_body ? &r->resp : NULL, r->keep_max);
    sync_fd(c);
    if (rc == HTTP1_PENDING)
        return TRANSPORT_PENDING;
    result(c);
    *res = c->res;
    return TRANSPORT_DONE;
}

static tconn_t *conn_new(transport_t *tt, size_t host, transport_done_fn done, void *owner)
{
    native_t *t = (native_t *)tt;
    native_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (loop_timer_init(tt->loop, &c->timeout, on_timeout, c) < 0) {
        free(c);
        return NULL;
    }
    c->base = (tconn_t){ .t = tt, .done = done, .owner = owner };
    c->t = t;
    c->origin = host < t->n_hosts ? t->origin[host] : NULL;
    c->fd = -1;
    http1_init(&c->conn, tt->loop->epfd, t->scratch, SCRATCH_BYTES);
    c->conn.on_header = on_header;
    buf_init(&c->resolved);
    buf_init(&c->location);
    return &c->base;
}

static void conn_free(tconn_t *tc)
{
    native_conn_t *c = (native_conn_t *)tc;
    if (!c)
        return;
    loop_timer_release(c->t->base.loop, &c->timeout);
    http1_free(&c->conn); /* a hop in flight is dropped */
    sync_fd(c);
    buf_free(&c->resolved);
    buf_free(&c->location);
    free(c);
}

static void destroy(transport_t *tt)
{
    native_t *t = (native_t *)tt;
    if (!t)
        return;
    for (size_t i = 0; i < t->n_hosts; i++) {
        if (t->origin[i])
            tls_ctx_free(t->origin[i]->tls_ctx);
        free(t->origin[i]);
    }
    free(t->origin);
    free(t->scratch);
    free(t);
}

static const transport_ops_t native_ops = {
    .name = "native",
    .destroy = destroy,
    .conn_new = conn_new,
    .conn_free = conn_free,
    .start = start,
};

/* An https origin's context from the slot's options; false when it cannot be built (or
 * https goes through a proxy): the slot is then curl's. */
static bool origin_tls(http1_origin_t *o, const tls_opts_t *tls)
{
    if (!o->tls)
        return true;
    if (request_env_proxy(true))
        return false;
    CURLcode rc;
    char why[300];
    o->tls_ctx = tls_ctx_new(tls, &rc, why, sizeof why);
    return o->tls_ctx != NULL;
}

transport_t *transport_http1_create(loop_t *loop, const char *const *hosts,
                                    const tls_opts_t *tls, size_t n_hosts)
{
    native_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base = (transport_t){ .ops = &native_ops, .loop = loop };
    t->n_hosts = n_hosts;
    t->origin = calloc(n_hosts ? n_hosts : 1, sizeof *t->origin);
    t->scratch = malloc(SCRATCH_BYTES);
    if (!t->origin || !t->scratch) {
        free(t->origin);
        free(t->scratch);
        free(t);
        return NULL;
    }
    size_t usable = 0;
    for (size_t i = 0; i < n_hosts; i++) {
        if (!hosts[i])
            continue;
        char why[300];
        http1_origin_t *o = malloc(sizeof *o);
        /* Not resolvable or not plain http: curl resolves and reports, as before. */
        if (o && http1_origin_resolve(o, hosts[i], why, sizeof why) == 0 &&
            origin_tls(o, tls ? &tls[i] : NULL)) {
            t->origin[i] = o;
            usable++;
        } else {
            free(o);
        }
    }
    if (usable == 0) {
        destroy(&t->base);
        return NULL;
    }
    return &t->base;
}
