#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/rng.h"
#include "delay.h"
#include "state.h"
#include "tally.h"

#define CONNECTION_LIMIT 16384     /* per daemon; main raises RLIMIT_NOFILE to match */
#define CONNECTION_TIMEOUT_S 300   /* idle keep-alive connections are closed after this */
#define ROUTE_KEY_BYTES 96
#define CTX_POOL_MAX 4096          /* request contexts kept for reuse */

static http_trouble_t trouble;

/* One request's state across the handler's calls; from the first call until MHD reports the
 * request completed, owned by MHD through *req_cls. */
typedef struct req_ctx {
    struct req_ctx *next;      /* free-list link while pooled */
    int admin;                 /* a /__ route: no trouble, not counted */
    int inject_error;
    int too_large;             /* the body passed HTTP_BODY_LIMIT_BYTES; the rest is skipped */
    int ready;                 /* answer computed, connection suspended for its delay */
    int status;
    char route[ROUTE_KEY_BYTES];
    buf_t body;                /* request body, NUL-terminated */
    buf_t out;                 /* response body */
} req_ctx_t;

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static req_ctx_t *pool;        /* guarded by pool_mutex */
static size_t pool_len;

static req_ctx_t *ctx_get(void)
{
    pthread_mutex_lock(&pool_mutex);
    req_ctx_t *c = pool;
    if (c) {
        pool = c->next;
        pool_len--;
    }
    pthread_mutex_unlock(&pool_mutex);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        buf_init(&c->body);
        buf_init(&c->out);
    }
    buf_t body = c->body, out = c->out;
    memset(c, 0, sizeof *c);
    c->body = body;
    c->out = out;
    buf_reset(&c->body);
    buf_reset(&c->out);
    return c;
}

static void ctx_put(req_ctx_t *c)
{
    pthread_mutex_lock(&pool_mutex);
    /* Oversized buffers (a big GET /players answer) are not worth keeping. */
    if (pool_len < CTX_POOL_MAX && c->body.cap <= 2 * HTTP_BODY_LIMIT_BYTES &&
        c->out.cap <= 64 * 1024) {
        c->next = pool;
        pool = c;
        pool_len++;
        c = NULL;
    }
    pthread_mutex_unlock(&pool_mutex);
    if (c) {
        buf_free(&c->body);
        buf_free(&c->out);
        free(c);
    }
}

void http_configure(const http_trouble_t *t) { trouble = *t; }

/* "METHOD pattern" for the tally; a method that is not a short upper-case word is "OTHER",
 * so clients cannot grow the table without bound. */
static void route_key(char *key, const char *method, const char *pattern)
{
    size_t n = strlen(method);
    int plain = n > 0 && n <= 16;
    for (size_t i = 0; plain && i < n; i++)
        plain = method[i] >= 'A' && method[i] <= 'Z';
    snprintf(key, ROUTE_KEY_BYTES, "%s %s", plain ? method : "OTHER", pattern);
}

static void answer_admin(req_ctx_t *c, const char *method, const char *url)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    buf_reset(&c->out);
    if (strcmp(url, "/__stats") == 0) {
        c->status = get ? (tally_json(&c->out) == 0 ? 200 : svc_error(&c->out, 500, "out of memory"))
                        : svc_error(&c->out, 405, "method not allowed");
    } else if (strcmp(url, "/__reset") == 0) {
        if (post) {
            tally_reset();
            c->status = 200;
            buf_puts(&c->out, "{\"message\": \"stats reset\"}");
        } else {
            c->status = svc_error(&c->out, 405, "method not allowed");
        }
    } else if (strcmp(url, "/__invariants") == 0) {
        if (get) {
            state_lock();
            int rc = state_invariants_json(&c->out);
            state_unlock();
            c->status = rc == 0 ? 200 : svc_error(&c->out, 500, "out of memory");
        } else {
            c->status = svc_error(&c->out, 405, "method not allowed");
        }
    } else {
        c->status = svc_error(&c->out, 404, "not found");
    }
}

static void answer_service(const http_server_t *s, req_ctx_t *c, const char *method,
                           const char *url)
{
    const svc_route_t *route = NULL;
    const char *arg = NULL;
    enum svc_match m = svc_match(s->service, method, url, &route, &arg);
    route_key(c->route, method, m == SVC_NO_ROUTE ? "(unmatched)" : route->pattern);
    buf_reset(&c->out);
    if (c->inject_error)
        c->status = svc_error(&c->out, 500, "injected error");
    else if (c->too_large)
        c->status = svc_error(&c->out, 400, "body too large");
    else if (m == SVC_NO_ROUTE)
        c->status = svc_error(&c->out, 404, "not found");
    else if (m == SVC_WRONG_METHOD)
        c->status = svc_error(&c->out, 405, "method not allowed");
    else {
        svc_request_t rq = {method, arg, c->body.len ? c->body.data : "", c->body.len};
        c->status = route->handler(&rq, &c->out);
    }
}

static enum MHD_Result send_answer(const http_server_t *s, struct MHD_Connection *conn,
                                   req_ctx_t *c)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(c->out.len, c->out.data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)c->status, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES && !c->admin)
        tally_record(s->service_index, c->route, c->status);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    const http_server_t *s = cls;
    req_ctx_t *c = *req_cls;
    if (!c) {
        int admin = strncmp(url, "/__", 3) == 0;
        if (!admin && trouble.drop_rate > 0 && rng_unit(svc_rng()) < trouble.drop_rate) {
            /* MHD closes the connection; nothing is answered, the drop is counted apart */
            const svc_route_t *route = NULL;
            const char *arg = NULL;
            char key[ROUTE_KEY_BYTES];
            enum svc_match m = svc_match(s->service, method, url, &route, &arg);
            route_key(key, method, m == SVC_NO_ROUTE ? "(unmatched)" : route->pattern);
            tally_drop(s->service_index, key);
            return MHD_NO;
        }
        if (!(c = ctx_get()))
            return MHD_NO;
        c->admin = admin;
        c->inject_error =
            !admin && trouble.error_rate > 0 && rng_unit(svc_rng()) < trouble.error_rate;
        *req_cls = c;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!c->too_large && c->body.len + *upload_data_size > HTTP_BODY_LIMIT_BYTES)
            c->too_large = 1;
        if (!c->too_large && buf_append(&c->body, upload_data, *upload_data_size) < 0)
            c->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->ready)
        return send_answer(s, conn, c);  /* resumed after its delay */
    if (c->admin) {
        answer_admin(c, method, url);
        return send_answer(s, conn, c);
    }
    answer_service(s, c, method, url);
    uint64_t delay_us = (uint64_t)trouble.delay_ms * 1000;
    if (trouble.delay_jitter_ms)
        delay_us += rng_below(svc_rng(), trouble.delay_jitter_ms * 1000u + 1);
    if (delay_us && delay_suspend(conn, delay_us) == 0) {
        c->ready = 1;
        return MHD_YES;
    }
    return send_answer(s, conn, c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    if (*req_cls) {
        ctx_put(*req_cls);
        *req_cls = NULL;
    }
}

int http_listen(http_server_t *s, const char *host, uint16_t port, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve --bind %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u for %s: %s", host, port, s->service->name,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    s->fd = fd;
    return 0;
}

int http_start(http_server_t *s, unsigned threads, char *err, size_t errlen)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot start the %s service's HTTP daemon", s->service->name);
        return -1;
    }
    return 0;
}

void http_stop(http_server_t *s)
{
    if (s->daemon) {
        MHD_stop_daemon(s->daemon);  /* closes the listening socket it was given */
        s->daemon = NULL;
    } else if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
}
