/*
 * http1 — native HTTP/1.1 client connection. See http1.h for the contract.
 */
#include "http1.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/vec.h"

enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKING, ST_SENDING, ST_RECEIVING };
enum { P_STATUS, P_HEADERS, P_BODY_LEN, P_BODY_EOF, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF,
       P_TRAILERS, P_DONE };

#define IN_INITIAL 2048u
#define IN_MAX (128u * 1024u) /* header section limit (curl's is 100 KB) */
#define BODY_READ_MAX (256u * 1024u) /* a kept body grows by at least this much per read */

/* ---- origins and URLs ------------------------------------------------------------------- */

/* Split "http://authority..." or "https://authority..." into host and port (80 or 443 by
 * default) and whether it is https; *rest points after the authority. -1 when it is
 * neither or has userinfo / a bad port. */
static int split_http_url(const char *url, char *host, size_t host_cap, uint16_t *port,
                          bool *tls, const char **rest)
{
    if (strncasecmp(url, "http://", 7) == 0)
        *tls = false;
    else if (strncasecmp(url, "https://", 8) == 0)
        *tls = true;
    else
        return -1;
    const char *a = url + (*tls ? 8 : 7);
    size_t alen = strcspn(a, "/?#");
    if (alen == 0 || memchr(a, '@', alen))
        return -1;
    const char *hend = a + alen, *colon = NULL;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb)
            return -1;
        if (rb + 1 < hend && rb[1] == ':')
            colon = rb + 1;
        else if (rb + 1 != hend)
            return -1;
    } else {
        colon = memchr(a, ':', alen);
    }
    size_t hlen = (size_t)((colon ? colon : hend) - a);
    if (hlen == 0 || hlen >= host_cap)
        return -1;
    memcpy(host, a, hlen);
    host[hlen] = '\0';
    *port = *tls ? 443 : 80;
    if (colon && colon + 1 < hend) {
        unsigned long p = 0;
        for (const char *s = colon + 1; s < hend; s++) {
            if (*s < '0' || *s > '9')
                return -1;
            p = p * 10 + (unsigned long)(*s - '0');
            if (p > 65535)
                return -1;
        }
        if (p == 0)
            return -1;
        *port = (uint16_t)p;
    }
    *rest = hend;
    return 0;
}

int http1_origin_resolve(http1_origin_t *o, const char *base_url, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    const char *rest;
    if (!base_url ||
        split_http_url(base_url, o->host, sizeof o->host, &o->port, &o->tls, &rest) < 0) {
        snprintf(err, errlen, "not an http or https URL");
        return -1;
    }
    char name[256], service[8];
    size_t hl = strlen(o->host);
    if (o->host[0] == '[') {
        memcpy(name, o->host + 1, hl - 2);
        name[hl - 2] = '\0';
    } else {
        memcpy(name, o->host, hl + 1);
    }
    snprintf(service, sizeof service, "%u", (unsigned)o->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_protocol = IPPROTO_TCP };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(name, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", name, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai && o->n_addrs < HTTP1_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof o->addrs[0])
            continue;
        memcpy(&o->addrs[o->n_addrs], ai->ai_addr, ai->ai_addrlen);
        o->addr_lens[o->n_addrs++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    if (o->n_addrs == 0) {
        snprintf(err, errlen, "%s: no address", name);
        return -1;
    }
    if (o->port == (o->tls ? 443 : 80))
        snprintf(o->host_header, sizeof o->host_header, "%s", o->host);
    else
        snprintf(o->host_header, sizeof o->host_header, "%s:%u", o->host, (unsigned)o->port);
    return 0;
}

/* Path and query curl would send byte for byte: printable ASCII without space, no fragment,
 * no "." or ".." segment (curl removes them). */
static bool target_plain(const char *t, size_t n)
{
    if (n == 0 || t[0] != '/')
        return false;
    size_t path_end = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '#')
            return false;
        if (ch == '?' && path_end == n)
            path_end = i;
    }
    for (size_t i = 0; i < path_end; i++) {
        if (t[i] != '/' || i + 1 >= path_end || t[i + 1] != '.')
            continue;
        size_t j = i + 2;
        if (j < path_end && t[j] == '.')
            j++;
        if (j == path_end || t[j] == '/')
            return false;
    }
    return true;
}

int http1_url_target(const http1_origin_t *o, const char *url, const char **target,
                     size_t *target_len)
{
    char host[256];
    uint16_t port;
    bool tls;
    const char *rest;
    if (split_http_url(url, host, sizeof host, &port, &tls, &rest) < 0 || port != o->port ||
        tls != o->tls || strcasecmp(host, o->host) != 0)
        return -1;
    size_t n = strlen(rest);
    if (n == 0 || rest[0] != '/')
        return -1; /* "http://h" or "http://h?q": curl adds the "/"; leave it to curl */
    if (!target_plain(rest, n))
        return -1;
    *target = rest;
    *target_len = n;
    return 0;
}

/* "scheme:..." (RFC 3986: a letter, then letters, digits, + - .), not a relative path. */
static bool has_scheme(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++) {
        if (*s == ':')
            return true;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '+' || *s == '-' || *s == '.'))
            return false;
    }
    return false;
}

int http1_resolve_location(const http1_origin_t *o, const char *base, const char *loc,
                           buf_t *out)
{
    buf_reset(out);
    while (*loc == ' ' || *loc == '\t')
        loc++;
    size_t n = strlen(loc);
    if (strncmp(loc, "//", 2) == 0) {
        buf_puts(out, o->tls ? "https:" : "http:");
        buf_append(out, loc, n);
    } else if (has_scheme(loc)) {
        buf_append(out, loc, n);
    } else {
        /* Relative: build the target first, then decide. */
        if (loc[0] == '/') {
            buf_append(out, loc, n);
        } else {
            size_t q = strcspn(base, "?");
            size_t dir = q;
            if (loc[0] == '?') {
                buf_append(out, base, q);
            } else {
                while (dir > 0 && base[dir - 1] != '/')
                    dir--;
                buf_append(out, base, dir);
            }
            buf_append(out, loc, n);
        }
        if (out->data && target_plain(out->data, out->len))
            return 0;
        /* curl would rewrite it: hand curl the absolute URL. */
        char abs[600];
        snprintf(abs, sizeof abs, "%s://%s:%u", o->tls ? "https" : "http", o->host,
                 (unsigned)o->port);
        size_t al = strlen(abs);
        if (buf_reserve(out, al) == 0) {
            memmove(out->data + al, out->data, out->len + 1);
            memcpy(out->data, abs, al);
            out->len += al;
        }
        return 1;
    }
    const char *t;
    size_t tl;
    if (out->data && http1_url_target(o, out->data, &t, &tl) == 0) {
        memmove(out->data, t, tl + 1);
        out->len = tl;
        return 0;
    }
    return 1;
}

/* ---- connection ------------------------------------------------------------------------- */

void http1_init(http1_conn_t *c, int epfd, char *scratch, size_t scratch_cap)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->epfd = epfd;
    c->scratch = scratch;
    c->scratch_cap = scratch_cap;
    buf_init(&c->location);
}

void http1_close(http1_conn_t *c)
{
    tls_conn_close(&c->tls); /* the session stays for the next connection */
    if (c->fd >= 0)
        close(c->fd); /* drops it from epoll */
    c->fd = -1;
    c->origin = NULL;
    c->state = ST_IDLE;
    c->served = 0;
    c->want_out = false;
    c->in_len = c->in_off = 0;
}

void http1_free(http1_conn_t *c)
{
    http1_close(c);
    tls_conn_free(&c->tls);
    c->tls_origin = NULL;
    free(c->in);
    c->in = NULL;
    c->in_cap = 0;
    buf_free(&c->location);
}

bool http1_busy(const http1_conn_t *c)
{
    return c->state != ST_IDLE;
}

static http1_rc_t finish(http1_conn_t *c, CURLcode rc)
{
    c->rc = rc;
    if (rc != CURLE_OK || c->close_after || c->in_off != c->in_len) {
        http1_close(c); /* leftovers or errors: this connection cannot be trusted further */
    } else {
        c->state = ST_IDLE;
        c->served++;
        c->in_len = c->in_off = 0;
    }
    return HTTP1_DONE;
}

static int set_events(http1_conn_t *c, bool out)
{
    if (c->want_out == out)
        return 0;
    struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.fd = c->fd };
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return -1;
    c->want_out = out;
    return 0;
}

static http1_rc_t write_request(http1_conn_t *c);
static http1_rc_t handshake(http1_conn_t *c);

/* ---- socket I/O: plain or TLS, with send/recv's results ---------------------------------- */

/* Like send(2): bytes written, or -1 with errno (EAGAIN: wait for the socket, in the
 * direction set_events was given). */
static ssize_t io_send(http1_conn_t *c, const char *p, size_t n)
{
    if (!c->tls.ssl)
        return send(c->fd, p, n, MSG_NOSIGNAL);
    size_t done;
    switch (tls_conn_write(&c->tls, p, n, &done)) {
    case TLS_IO_OK:
        return (ssize_t)done;
    case TLS_IO_WANT_READ: /* a TLS message to read first: EPOLLIN is always registered */
    case TLS_IO_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        errno = ECONNRESET;
        return -1;
    }
}

/* Like recv(2): bytes read, 0 at the end of the stream, or -1 with errno. */
static ssize_t io_recv(http1_conn_t *c, char *p, size_t n)
{
    if (!c->tls.ssl)
        return recv(c->fd, p, n, 0);
    size_t done;
    switch (tls_conn_read(&c->tls, p, n, &done)) {
    case TLS_IO_OK:
        if (c->want_out)
            set_events(c, false);
        return (ssize_t)done;
    case TLS_IO_WANT_READ:
        if (c->want_out)
            set_events(c, false);
        errno = EAGAIN;
        return -1;
    case TLS_IO_WANT_WRITE: /* a TLS message to send first (key update) */
        errno = set_events(c, true) == 0 ? EAGAIN : EIO;
        return -1;
    case TLS_IO_EOF:
        return 0;
    default:
        errno = ECONNRESET;
        return -1;
    }
}

/* A read that did not fill the buffer drained the socket, unless TLS holds more bytes that
 * the socket will not signal again. */
static bool io_drained(const http1_conn_t *c, size_t got, size_t room)
{
    return got < room && !tls_conn_pending(&c->tls);
}

/* The TCP connection is up: handshake (https) or send. */
static http1_rc_t connected(http1_conn_t *c)
{
    const http1_origin_t *o = c->origin;
    if (!o->tls) {
        c->state = ST_SENDING;
        return write_request(c);
    }
    if (c->tls_origin != o) { /* another server's session must not be offered */
        tls_conn_free(&c->tls);
        c->tls_origin = o;
    }
    if (tls_conn_open(&c->tls, o->tls_ctx, c->fd, o->host) < 0)
        return finish(c, CURLE_OUT_OF_MEMORY);
    c->state = ST_HANDSHAKING;
    return handshake(c);
}

static http1_rc_t handshake(http1_conn_t *c)
{
    CURLcode rc = CURLE_OK;
    switch (tls_conn_handshake(&c->tls, &rc)) {
    case TLS_IO_OK:
        c->state = ST_SENDING;
        return write_request(c);
    case TLS_IO_WANT_READ:
        if (set_events(c, false) < 0)
            return finish(c, CURLE_SSL_CONNECT_ERROR);
        return HTTP1_PENDING;
    case TLS_IO_WANT_WRITE:
        if (set_events(c, true) < 0)
            return finish(c, CURLE_SSL_CONNECT_ERROR);
        return HTTP1_PENDING;
    default:
        return finish(c, rc != CURLE_OK ? rc : CURLE_SSL_CONNECT_ERROR);
    }
}

/* Open a connection to c->origin starting at address c->addr_i. */
static http1_rc_t open_conn(http1_conn_t *c)
{
    const http1_origin_t *o = c->origin;
    for (; c->addr_i < o->n_addrs; c->addr_i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&o->addrs[c->addr_i];
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = connect(fd, sa, o->addr_lens[c->addr_i]);
        if (rc < 0 && errno != EINPROGRESS) {
            close(fd);
            continue;
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.fd = fd };
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->want_out = true;
        c->served = 0;
        c->in_len = c->in_off = 0;
        if (rc == 0)
            return connected(c);
        c->state = ST_CONNECTING;
        return HTTP1_PENDING;
    }
    c->fd = -1;
    c->origin = o; /* keep for the message; nothing open */
    c->state = ST_RECEIVING;
    return finish(c, CURLE_COULDNT_CONNECT);
}

static void reset_parser(http1_conn_t *c)
{
    c->pstate = P_STATUS;
    c->got_bytes = false;
    c->status = 0;
    c->chunked = c->close_after = c->keep_alive_10 = c->has_len = false;
    c->remaining = 0;
    buf_reset(&c->location);
}

/* The connection had served a response before and ended before any byte of this one: the
 * server closed it while the request was on its way. Whether to send again is the
 * client's call (client.c); this only says it may be worth it. */
static bool reused_unanswered(const http1_conn_t *c)
{
    return c->served > 0 && !c->got_bytes;
}

http1_rc_t http1_send(http1_conn_t *c, const http1_origin_t *o, const char *req,
                      size_t req_len, bool head, buf_t *sink, uint64_t sink_max)
{
    c->req = req;
    c->req_len = req_len;
    c->req_off = 0;
    c->head = head;
    c->sink = sink;
    c->sink_max = sink && sink_max < sink->len ? sink->len : sink_max;
    c->sink_over = false;
    c->resendable = false;
    c->rc = CURLE_OK;
    c->body_bytes = 0;
    reset_parser(c);
    if (c->fd >= 0 && c->origin != o)
        http1_close(c);
    if (c->fd < 0) {
        c->origin = o;
        c->addr_i = 0;
        return open_conn(c);
    }
    c->state = ST_SENDING;
    return write_request(c);
}

static http1_rc_t write_request(http1_conn_t *c)
{
    while (c->req_off < c->req_len) {
        ssize_t n = io_send(c, c->req + c->req_off, c->req_len - c->req_off);
        if (n > 0) {
            c->req_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (set_events(c, true) < 0)
                return finish(c, CURLE_SEND_ERROR);
            return HTTP1_PENDING;
        }
        c->resendable = c->req_off == 0 && reused_unanswered(c);
        return finish(c, CURLE_SEND_ERROR);
    }
    if (set_events(c, false) < 0)
        return finish(c, CURLE_SEND_ERROR);
    c->state = ST_RECEIVING;
    return HTTP1_PENDING;
}

/* ---- response parser -------------------------------------------------------------------- */

/* The sink keeps body bytes up to sink_max; past it, nothing more (sink_over). */
static bool keeping(const http1_conn_t *c)
{
    return c->sink && !c->sink_over;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value,
                      size_t *vlen)
{
    size_t nl = strlen(name);
    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return false;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return true;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
            (i + tl == n || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == ';'))
            return true;
    }
    return false;
}

/* One line (without its line end). Returns a CURLcode; CURLE_AGAIN means "more lines". */
static CURLcode on_header_line(http1_conn_t *c, const char *line, size_t n)
{
    if (c->pstate == P_STATUS) {
        /* curl: not "HTTP/" is HTTP/0.9, refused; an unreadable version or code is
         * "Unsupported HTTP version/response code": both CURLE_UNSUPPORTED_PROTOCOL. */
        if (n < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' ||
            line[8] != ' ' || line[9] < '0' || line[9] > '9' || line[10] < '0' ||
            line[10] > '9' || line[11] < '0' || line[11] > '9' || (n > 12 && line[12] != ' '))
            return CURLE_UNSUPPORTED_PROTOCOL;
        c->minor = line[7] - '0';
        c->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        c->pstate = P_HEADERS;
        if (c->on_header)
            c->on_header(c->header_arg, NULL, 0);
        return CURLE_AGAIN;
    }
    if (n == 0) { /* end of the header section */
        if (c->status >= 100 && c->status < 200 && c->status != 101) {
            reset_parser(c); /* an interim response: the real one follows */
            c->got_bytes = true;
            return CURLE_AGAIN;
        }
        if (c->minor == 0 && !c->keep_alive_10)
            c->close_after = true;
        if (c->head || c->status == 204 || c->status == 304 || c->status < 200) {
            c->pstate = P_DONE;
        } else if (c->chunked) {
            c->pstate = P_CHUNK_SIZE;
        } else if (c->has_len) {
            c->pstate = c->remaining ? P_BODY_LEN : P_DONE;
            if (c->sink && c->remaining > c->sink_max - c->sink->len)
                c->sink_over = true; /* known too big: nothing is kept, all is counted */
        } else {
            c->pstate = P_BODY_EOF;
            c->close_after = true;
        }
        return CURLE_OK;
    }
    if (c->on_header)
        c->on_header(c->header_arg, line, n);
    const char *v;
    size_t vl;
    if (header_is(line, n, "Content-Length", &v, &vl)) {
        uint64_t x = 0;
        if (vl == 0 || vl > 18)
            return CURLE_WEIRD_SERVER_REPLY;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return CURLE_WEIRD_SERVER_REPLY;
            x = x * 10 + (uint64_t)(v[i] - '0');
        }
        c->has_len = true;
        c->remaining = x;
    } else if (header_is(line, n, "Transfer-Encoding", &v, &vl)) {
        if (has_token(v, vl, "chunked"))
            c->chunked = true;
    } else if (header_is(line, n, "Connection", &v, &vl)) {
        if (has_token(v, vl, "close"))
            c->close_after = true;
        if (has_token(v, vl, "keep-alive"))
            c->keep_alive_10 = true;
    } else if (c->status >= 300 && c->status < 400 && c->location.len == 0 &&
               header_is(line, n, "Location", &v, &vl)) {
        buf_append(&c->location, v, vl);
    }
    return CURLE_AGAIN;
}

static void deliver(http1_conn_t *c, const char *p, size_t n)
{
    c->body_bytes += n;
    if (!c->sink || c->sink_over)
        return;
    if (n > c->sink_max - c->sink->len)
        c->sink_over = true;
    else
        buf_append(c->sink, p, n);
}

/* Find the end of a line in [p, end): pointer to '\n' or NULL. */
static const char *line_end(const char *p, const char *end)
{
    return memchr(p, '\n', (size_t)(end - p));
}

/* Consume what is buffered. CURLE_AGAIN: need more bytes. */
static CURLcode parse(http1_conn_t *c)
{
    for (;;) {
        char *p = c->in + c->in_off, *end = c->in + c->in_len;
        switch (c->pstate) {
        case P_STATUS:
        case P_HEADERS:
        case P_CHUNK_SIZE:
        case P_CHUNK_CRLF:
        case P_TRAILERS: {
            const char *nl = line_end(p, end);
            if (!nl)
                return CURLE_AGAIN;
            size_t n = (size_t)(nl - p);
            if (n && p[n - 1] == '\r')
                n--;
            c->in_off += (size_t)(nl - p) + 1;
            if (c->pstate == P_STATUS || c->pstate == P_HEADERS) {
                CURLcode rc = on_header_line(c, p, n);
                if (rc != CURLE_AGAIN && rc != CURLE_OK)
                    return rc;
            } else if (c->pstate == P_CHUNK_SIZE) {
                uint64_t x = 0;
                size_t i = 0, digits = 0;
                for (; i < n; i++) {
                    char ch = p[i];
                    int d = ch >= '0' && ch <= '9' ? ch - '0'
                          : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                          : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
                    if (d < 0)
                        break;
                    if (++digits > 15)
                        return CURLE_RECV_ERROR;
                    x = x * 16 + (uint64_t)d;
                }
                if (digits == 0 || (i < n && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
                    return CURLE_RECV_ERROR; /* curl: "invalid chunk size" */
                c->remaining = x;
                c->pstate = x ? P_CHUNK_DATA : P_TRAILERS;
            } else if (c->pstate == P_CHUNK_CRLF) {
                if (n != 0)
                    return CURLE_RECV_ERROR;
                c->pstate = P_CHUNK_SIZE;
            } else if (n == 0) { /* P_TRAILERS: the empty line ends the message */
                c->pstate = P_DONE;
            }
            break;
        }
        case P_BODY_LEN:
        case P_CHUNK_DATA:
        case P_BODY_EOF: {
            size_t have = (size_t)(end - p);
            if (have == 0) {
                c->in_len = c->in_off = 0; /* body bytes are not kept here */
                return CURLE_AGAIN;
            }
            size_t take = have;
            if (c->pstate != P_BODY_EOF && take > c->remaining)
                take = (size_t)c->remaining;
            deliver(c, p, take);
            c->in_off += take;
            if (c->pstate != P_BODY_EOF) {
                c->remaining -= take;
                if (c->remaining == 0)
                    c->pstate = c->pstate == P_BODY_LEN ? P_DONE : P_CHUNK_CRLF;
            }
            break;
        }
        case P_DONE:
            return CURLE_OK;
        }
    }
}

/* What ending the stream (EOF) at this point means. */
static http1_rc_t on_eof(http1_conn_t *c)
{
    if (c->pstate == P_BODY_EOF) {
        c->pstate = P_DONE;
        return finish(c, CURLE_OK);
    }
    if (!c->got_bytes) {
        c->resendable = reused_unanswered(c);
        return finish(c, CURLE_GOT_NOTHING);
    }
    if (c->pstate == P_STATUS)
        return finish(c, CURLE_GOT_NOTHING);
    if (c->pstate == P_HEADERS) { /* curl (7.88) takes what came: the status, no body */
        c->close_after = true;
        return finish(c, CURLE_OK);
    }
    return finish(c, CURLE_PARTIAL_FILE); /* "transfer closed with outstanding read data" */
}

/* Nothing is buffered and the rest of a body is more than the input buffer holds (or runs
 * until EOF): read_body takes it. A small rest goes through the input buffer as before, so
 * small responses cost what they did. */
static bool body_direct(const http1_conn_t *c)
{
    if (c->in_off != c->in_len)
        return false;
    if (c->pstate == P_BODY_LEN || c->pstate == P_CHUNK_DATA)
        return c->remaining > c->in_cap;
    return c->pstate == P_BODY_EOF;
}

/* read_body: the parser goes on from the input buffer (a chunk's data ended). */
#define BODY_PARSE (-1)

/* Body bytes straight from the socket, past the input buffer (which then holds nothing):
 * into the sink while it keeps them, else into the scratch buffer to be counted and
 * forgotten, BODY_READ_MAX at a time, so a 50 MB body takes a few hundred reads, not 25 000.
 * Returns the http1_rc_t when the request is done or must wait for the socket, or
 * BODY_PARSE. Out of line (cold): small responses never come here, and the parser's loop
 * keeps its registers. */
__attribute__((cold, noinline)) static int read_body(http1_conn_t *c)
{
    for (;;) {
        uint64_t want = c->pstate == P_BODY_EOF ? UINT64_MAX : c->remaining;
        bool keep = keeping(c) && c->sink->len < c->sink_max;
        size_t room = c->scratch && c->scratch_cap ? c->scratch_cap : c->in_cap;
        char *dst = c->scratch && c->scratch_cap ? c->scratch : c->in;
        if (keep) {
            uint64_t left = c->sink_max - c->sink->len;
            room = BODY_READ_MAX;
            if (c->pstate == P_BODY_LEN && want <= left && want > room)
                room = (size_t)want; /* the whole announced body: one allocation */
            if (room > left)
                room = (size_t)left;
            if (buf_reserve(c->sink, room) < 0)
                return finish(c, CURLE_OUT_OF_MEMORY);
            dst = c->sink->data + c->sink->len;
            room = c->sink->cap - 1 - c->sink->len; /* all it has: fewer reads */
            if (room > left)
                room = (size_t)left;
        }
        if (room > want)
            room = (size_t)want;
        ssize_t n = io_recv(c, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return HTTP1_PENDING;
        if (n < 0)
            return finish(c, CURLE_RECV_ERROR);
        if (n == 0)
            return on_eof(c);
        c->body_bytes += (uint64_t)n;
        if (keep) {
            c->sink->len += (size_t)n;
            c->sink->data[c->sink->len] = '\0';
        } else if (keeping(c)) {
            c->sink_over = true; /* the sink was full and more came */
        }
        if (c->pstate != P_BODY_EOF) {
            c->remaining -= (uint64_t)n;
            if (c->remaining == 0) {
                if (c->pstate == P_BODY_LEN) {
                    c->pstate = P_DONE;
                    return finish(c, CURLE_OK);
                }
                c->pstate = P_CHUNK_CRLF;
                return BODY_PARSE;
            }
        }
        if (io_drained(c, (size_t)n, room)) /* wait rather than read EAGAIN */
            return HTTP1_PENDING;
    }
}

static http1_rc_t read_response(http1_conn_t *c)
{
    for (;;) {
        if (body_direct(c)) {
            c->in_off = c->in_len = 0;
            int rc = read_body(c);
            if (rc != BODY_PARSE)
                return (http1_rc_t)rc;
            continue;
        }
        if (c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
        } else if (c->in_len == c->in_cap && c->in_off > 0) {
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= IN_MAX)
                return finish(c, CURLE_RECV_ERROR); /* header section too large */
            if (VEC_RESERVE(c->in, c->in_cap, c->in_cap ? c->in_cap * 2 : IN_INITIAL) < 0)
                return finish(c, CURLE_OUT_OF_MEMORY);
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = io_recv(c, c->in + c->in_len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return HTTP1_PENDING;
        if (n < 0) {
            c->resendable = reused_unanswered(c);
            return finish(c, CURLE_RECV_ERROR);
        }
        if (n == 0)
            return on_eof(c);
        c->got_bytes = true;
        c->in_len += (size_t)n;
        CURLcode rc = parse(c);
        if (rc == CURLE_OK)
            return finish(c, CURLE_OK);
        if (rc != CURLE_AGAIN)
            return finish(c, rc);
        /* Only read again when the last read filled the buffer: one recv per response. */
        if (io_drained(c, (size_t)n, room))
            return HTTP1_PENDING;
    }
}

http1_rc_t http1_on_event(http1_conn_t *c, uint32_t events)
{
    switch (c->state) {
    case ST_IDLE: {
        /* An idle keep-alive connection became readable: the server closed it (or sent
         * something unasked). Either way it is not reusable. */
        http1_close(c);
        return HTTP1_PENDING;
    }
    case ST_CONNECTING: {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return HTTP1_PENDING;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 &&
            getpeername(c->fd, (struct sockaddr *)&peer, &pl) < 0 && errno == ENOTCONN)
            return HTTP1_PENDING; /* a stale event: still connecting */
        if (soerr != 0) {
            close(c->fd);
            c->fd = -1;
            c->addr_i++;
            return open_conn(c);
        }
        return connected(c);
    }
    case ST_HANDSHAKING:
        return handshake(c);
    case ST_SENDING:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) || (c->tls.ssl && (events & EPOLLIN)))
            return write_request(c);
        return HTTP1_PENDING;
    default:
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP) ||
            (c->tls.ssl && (events & EPOLLOUT)))
            return read_response(c);
        return HTTP1_PENDING;
    }
}
