/*
 * transport_curl — libcurl's multi socket interface as a transport: it carries every hop
 * the native transport declines (https, proxies, other hosts, URLs curl would rewrite), one
 * easy handle per user, with the thread's loop as curl's event loop (libcurl's ephiperfifo
 * example's shape). See transport.h for the contract.
 *
 *   - curl tells us which sockets to watch (on_socket → epoll_ctl, only when the wanted
 *     events change) and when it next needs a timeout call (on_timer → a loop timer);
 *   - the loop hands their events back (on_fd → curl_multi_socket_action), and finished
 *     transfers are read after every action (drain).
 *
 * curl follows no redirect itself (CURLOPT_FOLLOWLOCATION off): it reports the resolved
 * target (CURLINFO_REDIRECT_URL) and the client decides, as for the native transport.
 *
 * Nor does it keep cookies or decode bodies: the user's jar (cookies.h, one for both
 * transports) gives each hop its Cookie value (CURLOPT_COOKIE) and hears each response's
 * Set-Cookie through the header callback, which also notes Content-Encoding and keeps the
 * headers a step reads (request_on_header); bodies arrive as sent
 * (CURLOPT_HTTP_CONTENT_DECODING off) and are decoded only for a step that reads them. So
 * a hop behaves the same on either transport. `http2` hops are this transport's alone.
 *
 * Nor does it re-send. When a reused connection dies before any byte of the response,
 * libcurl (7.88, lib/transfer.c Curl_retry_request) sends the request again on a fresh
 * connection inside the same transfer, whatever its method, up to 5 times, unseen: a POST
 * reaches the server twice and the failure never shows. Its pre-request callback
 * (CURLOPT_PREREQFUNCTION, called once per connection a transfer sends on, before any byte
 * goes out) sees that: a second call in one transfer is such a retry, and it stops the
 * transfer there. The hop then ends as it would have without the retry ("Server returned
 * nothing", resendable), and the client applies the one re-send rule (client.h) and counts
 * it, as for the native transport. Costs nothing on the normal path (one callback a
 * transfer; no fresh connections forced); a stopped retry has opened a connection the next
 * transfer may reuse.
 *
 * Socket registry. A keep-alive connection's socket is handed back to curl's connection
 * cache after every transfer (curl_multi_remove_handle), and curl then tells us
 * CURL_POLL_REMOVE; the next transfer on it asks for CURL_POLL_IN again. Deleting and
 * re-adding it in epoll would cost two epoll_ctl calls a request, so for sockets we opened
 * ourselves (on_open_socket) a REMOVE only marks the socket unwanted and leaves it
 * registered; the next want of the same events costs nothing. An unwanted socket that
 * becomes ready (the server closed an idle connection) is deleted from epoll then, so it
 * cannot spin the loop; curl finds the connection dead when it next checks it. Knowing when
 * our sockets are opened and closed (on_close_socket) is what makes the stale registration
 * safe: a new socket that gets a closed one's number starts unregistered. Sockets curl opens
 * by itself (a resolver's socketpair) are registered and deleted eagerly, as curl asks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/vec.h"
#include "transport.h"

/* Connections the multi keeps alive. Its default (4 × handles *currently* in the multi)
 * would close the connections of users that are waiting between tasks. */
#define CURL_MAX_CONNECTS 100000L

/* What epoll has for one socket curl uses. */
typedef struct csock {
    uint32_t events;       /* EPOLLIN/EPOLLOUT registered in epoll; 0: not registered */
    bool wanted;           /* curl wants events on it (no CURL_POLL_REMOVE since) */
    bool ours;             /* opened by on_open_socket: we learn when it is closed */
} csock_t;

typedef struct curlt {
    transport_t base;
    CURLM *multi;
    loop_timer_t timer;    /* curl's CURL_SOCKET_TIMEOUT */
    csock_t *socks;        /* indexed by descriptor; owned */
    size_t cap_socks;
    bool h2c_no_reuse;     /* this libcurl cannot reuse an HTTP/2 prior-knowledge connection */
    const tls_opts_t *tls; /* per host slot (borrowed; NULL: defaults) */
    size_t n_hosts;
} curlt_t;

typedef struct curl_conn {
    tconn_t base;
    curlt_t *t;
    CURL *easy;            /* owned; options persist between hops */
    request_t *r;          /* the request of the hop in flight (body sink) */
    unsigned sends;        /* pre-request callbacks in the hop's transfer: 2 = a retry */
    bool retry_stopped;    /* on_prereq stopped curl's own re-send */
    hop_result_t res;
    /* What the handle was last configured with, so a hop sets only what changed
     * (CURLOPT_URL costs curl a copy; the rest is skipped for the same step). */
    buf_t url_set;         /* the URL curl has (copy); empty: set it next time */
    const step_t *set_step; /* step whose method, timeout and headers are set, or NULL */
    struct curl_slist *set_headers;
    const char *set_body;  /* POSTFIELDS pointer and size last set */
    size_t set_body_len;
    buf_t cookie_set;      /* the Cookie value curl has (copy); empty: none set */
    long set_version;      /* CURLOPT_HTTP_VERSION last set; 0: none yet */
} curl_conn_t;

static csock_t *sock_get(curlt_t *t, curl_socket_t s)
{
    if (s < 0 || VEC_RESERVE_ZERO(t->socks, t->cap_socks, (size_t)s + 1) < 0)
        return NULL;
    return &t->socks[s];
}

/* ---- finished transfers ----------------------------------------------------------------- */

static void drain(curlt_t *t)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(t->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        curl_conn_t *c = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
        curl_multi_remove_handle(t->multi, easy);
        if (!c)
            continue;
        curl_off_t total_us = 0;
        long status = 0;
        char *loc = NULL;
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status >= 300 && status < 400)
            curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc);
        /* A stopped retry: the hop failed as it did before curl's re-send. */
        bool stopped = c->retry_stopped && rc == CURLE_ABORTED_BY_CALLBACK;
        c->base.busy = false;
        c->res = (hop_result_t){
            .rc = stopped ? CURLE_GOT_NOTHING : rc,
            .status = stopped ? 0 : status,
            .us = total_us > 0 ? (uint64_t)total_us : 0,
            .bytes = c->r ? c->r->body_bytes : 0,
            .resendable = stopped,
            .location = loc && *loc ? loc : NULL,
        };
        c->base.done(c->base.owner, &c->res); /* may start another hop or free c */
    }
}

/* ---- curl's callbacks ------------------------------------------------------------------- */

static void on_fd(void *arg, int fd, uint32_t events)
{
    curlt_t *t = arg;
    csock_t *s = (size_t)fd < t->cap_socks ? &t->socks[fd] : NULL;
    if (s && s->ours && !s->wanted) {
        /* An idle cached connection became ready (closed by the server): unregister it. */
        epoll_ctl(t->base.loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        s->events = 0;
        return;
    }
    int flags = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(t->multi, fd, flags, &running);
    drain(t);
}

static void on_timeout(void *arg)
{
    curlt_t *t = arg;
    int running;
    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(t);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    curlt_t *t = userp;
    loop_t *l = t->base.loop;
    if (timeout_ms < 0)
        loop_timer_disarm(l, &t->timer);
    else
        loop_timer_arm(l, &t->timer, l->now + (double)timeout_ms / 1000.0);
    return 0;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    curlt_t *t = userp;
    int epfd = t->base.loop->epfd;
    csock_t *r = sock_get(t, s);
    if (!r)
        return -1;
    if (what == CURL_POLL_REMOVE) {
        r->wanted = false;
        if (!r->ours && r->events) {
            epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
            r->events = 0;
            loop_fd_clear(t->base.loop, s);
        }
        return 0;
    }
    uint32_t events =
        ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    r->wanted = true;
    if (r->events == events)
        return 0;
    if (loop_fd_set(t->base.loop, s, on_fd, t) < 0)
        return -1;
    struct epoll_event ev = { .events = events, .data.fd = s };
    int rc = epoll_ctl(epfd, r->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev);
    if (rc < 0 && !r->events && errno == EEXIST)
        rc = epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
    else if (rc < 0 && r->events && errno == ENOENT)
        rc = epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
    r->events = rc == 0 ? events : 0;
    return rc == 0 ? 0 : -1;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    (void)purpose;
    curlt_t *t = clientp;
    int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    csock_t *r = sock_get(t, fd);
    if (!r || loop_fd_set(t->base.loop, fd, on_fd, t) < 0) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    *r = (csock_t){ .ours = true };
    return fd;
}

static int on_close_socket(void *clientp, curl_socket_t s)
{
    curlt_t *t = clientp;
    if (s >= 0 && (size_t)s < t->cap_socks)
        t->socks[s] = (csock_t){ 0 }; /* closing drops it from epoll */
    loop_fd_clear(t->base.loop, s);
    return close(s);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    curl_conn_t *c = arg;
    request_t *r = c->r;
    size_t len = size * n;
    if (!r)
        return len;
    r->body_bytes += len;
    if (r->keep_body && request_keep(r, p, len) < 0)
        return 0; /* out of memory: curl fails the transfer with CURLE_WRITE_ERROR */
    return len;
}

/* Each header line of each response of the hop (1xx, the final one), as received: to the
 * request (request_on_header), which notes encodings, fills the cookie jar and keeps what
 * the step reads, exactly as the native transport's parser does. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    curl_conn_t *c = arg;
    size_t len = size * n, line = len;
    if (!c->r)
        return len;
    while (line && (p[line - 1] == '\n' || p[line - 1] == '\r'))
        line--;
    if (line >= 5 && memcmp(p, "HTTP/", 5) == 0)
        request_on_status(c->r);
    else if (line)
        request_on_header(c->r, p, line);
    return len;
}

/* Before each request the transfer sends on a connection: the second call is libcurl's own
 * re-send after a reused connection died (see the top of this file): stop it. */
static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    curl_conn_t *c = arg;
    if (c->sends++ == 0)
        return CURL_PREREQFUNC_OK;
    c->retry_stopped = true;
    return CURL_PREREQFUNC_ABORT;
}

/* ---- hops ------------------------------------------------------------------------------- */

/* Set the handle up for the rendered request of st, changing only what differs from the
 * previous request on this handle. */
static void setup_first_hop(curl_conn_t *c, request_t *r, const step_t *st)
{
    struct curl_slist *headers = r->headers;
    CURL *h = c->easy;
    if (c->url_set.len == 0 || c->url_set.len != r->url.len ||
        memcmp(c->url_set.data, r->url.data, r->url.len) != 0) {
        curl_easy_setopt(h, CURLOPT_URL, r->url.data);
        buf_reset(&c->url_set);
        if (buf_append(&c->url_set, r->url.data, r->url.len) < 0)
            buf_reset(&c->url_set); /* no copy: set the URL again next time */
    }
    const char *body = r->body.data ? r->body.data : "";
    if (st == c->set_step && headers == c->set_headers) {
        /* Same step as the previous request: method, timeout and headers are in place. */
        if (c->set_body && (body != c->set_body || r->body.len != c->set_body_len)) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            c->set_body = body;
            c->set_body_len = r->body.len;
        }
        return;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    double t = st->timeout_s > 0 ? st->timeout_s : 60.0;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(t * 1000.0 + 0.5));
    /* The handle keeps the previous request's method: set every step's fully. */
    http_method_t m = st->method;
    c->set_body = NULL;
    if (m == HTTP_HEAD) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request_sends_body(st)) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m == HTTP_POST ? NULL : http_method_names[m]);
        c->set_body = body;
        c->set_body_len = r->body.len;
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m == HTTP_GET ? NULL : http_method_names[m]);
    }
    c->set_step = st;
    c->set_headers = headers;
}

/* A redirect's hop: the step's set-up, then the new URL, the method curl would use after
 * the redirect, and the time left. Everything is set again for the next request. */
static void setup_redirect_hop(curl_conn_t *c, request_t *r, const step_t *st, const hop_t *h)
{
    c->set_step = NULL;
    buf_reset(&c->url_set);
    setup_first_hop(c, r, st);
    curl_easy_setopt(c->easy, CURLOPT_URL, h->url);
    buf_reset(&c->url_set);
    if (h->drop_body)
        curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L); /* keeps a custom method's name */
    loop_t *l = c->t->base.loop;
    double left_ms = (h->deadline - l->now) * 1000.0;
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, left_ms > 1 ? (long)left_ms : 1L);
    c->set_step = NULL;
}

/* The hop's session options: the jar's Cookie value for this hop (request_hop_begin), and
 * the HTTP version: `http2` is HTTP/2 over ALPN for https and with prior knowledge for plain
 * http (a server that only speaks HTTP/1.1 there fails the request); otherwise HTTP/1.1,
 * also for https, as the native transports speak it. Set only when changed. */
static void setup_session(curl_conn_t *c, const request_t *r, const step_t *st, const hop_t *h)
{
    CURL *e = c->easy;
    if (r->cookie.len != c->cookie_set.len ||
        (r->cookie.len && memcmp(r->cookie.data, c->cookie_set.data, r->cookie.len) != 0)) {
        buf_reset(&c->cookie_set);
        if (r->cookie.len && buf_append(&c->cookie_set, r->cookie.data, r->cookie.len) < 0)
            buf_reset(&c->cookie_set);
        curl_easy_setopt(e, CURLOPT_COOKIE, c->cookie_set.len ? c->cookie_set.data : NULL);
    }
    long version = CURL_HTTP_VERSION_1_1;
    if (st->http2)
        version = strncasecmp(h->url, "https:", 6) == 0 ? CURL_HTTP_VERSION_2TLS
                                                        : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    if (version != c->set_version) {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, version);
        /* libcurl before 8.0.0 (Debian 12 has 7.88) breaks a reused prior-knowledge
         * connection ("Error in the HTTP2 framing layer": it stacks a second HTTP/2 layer
         * on it, curl issue 10634): such hops take a new connection each. */
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE,
                         version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE && c->t->h2c_no_reuse
                             ? 1L : 0L);
        c->set_version = version;
    }
}

static transport_rc_t start(tconn_t *tc, request_t *r, const step_t *st, const hop_t *h,
                            hop_result_t *res)
{
    curl_conn_t *c = (curl_conn_t *)tc;
    c->r = r;
    c->sends = 0;
    c->retry_stopped = false;
    r->body_bytes = 0;
    r->resp_over = false;
    buf_reset(&r->resp);
    if (h->first)
        setup_first_hop(c, r, st);
    else
        setup_redirect_hop(c, r, st, h);
    setup_session(c, r, st, h);
    if (curl_multi_add_handle(c->t->multi, c->easy) != CURLM_OK) {
        *res = (hop_result_t){ .rc = CURLE_FAILED_INIT };
        return TRANSPORT_DONE;
    }
    c->base.busy = true;
    return TRANSPORT_PENDING;
}

static tconn_t *conn_new(transport_t *tt, size_t host, transport_done_fn done, void *owner)
{
    curlt_t *t = (curlt_t *)tt;
    curl_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = (tconn_t){ .t = tt, .done = done, .owner = owner };
    c->t = t;
    buf_init(&c->url_set);
    buf_init(&c->cookie_set);
    CURL *h = c->easy = curl_easy_init();
    if (!h) {
        free(c);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_USERAGENT, REQUEST_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* the client follows (client.c) */
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq); /* and re-sends */
    curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    /* Bodies come as sent, as on the native transport: counted as received and decoded only
     * when a step reads them (request_check, decode.h). Accept-Encoding is a step header. */
    curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(h, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
    /* Without proxy variables curl would still look them (and no_proxy) up with getenv on
     * every transfer; "" says "no proxy" once. With them, curl keeps honouring them. */
    if (!request_env_proxy(true)) {
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    }
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, t);
    tls_curl_apply(h, t->tls && host < t->n_hosts ? &t->tls[host] : NULL);
    return &c->base;
}

static void conn_free(tconn_t *tc)
{
    curl_conn_t *c = (curl_conn_t *)tc;
    if (!c)
        return;
    if (c->base.busy)
        curl_multi_remove_handle(c->t->multi, c->easy); /* dropped, not reported */
    curl_easy_cleanup(c->easy);
    buf_free(&c->url_set);
    buf_free(&c->cookie_set);
    free(c);
}

static void destroy(transport_t *tt)
{
    curlt_t *t = (curlt_t *)tt;
    if (!t)
        return;
    if (t->multi)
        curl_multi_cleanup(t->multi); /* closes cached connections through on_close_socket */
    loop_timer_release(t->base.loop, &t->timer);
    free(t->socks);
    free(t);
}

static const transport_ops_t curl_ops = {
    .name = "curl",
    .destroy = destroy,
    .conn_new = conn_new,
    .conn_free = conn_free,
    .start = start,
};

transport_t *transport_curl_create(loop_t *loop, const tls_opts_t *tls, size_t n_hosts,
                                   char *err, size_t errlen)
{
    curlt_t *t = calloc(1, sizeof *t);
    if (!t || loop_timer_init(loop, &t->timer, on_timeout, t) < 0) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->base = (transport_t){ .ops = &curl_ops, .loop = loop };
    t->h2c_no_reuse = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
    t->tls = tls;
    t->n_hosts = n_hosts;
    t->multi = curl_multi_init();
    if (!t->multi) {
        destroy(&t->base);
        snprintf(err, errlen, "curl_multi_init failed");
        return NULL;
    }
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, CURL_MAX_CONNECTS);
    /* No HTTP/2 multiplexing of different users' transfers over one connection: each user's
     * request in flight has a connection of its own, as a real client would. */
    curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    return &t->base;
}
