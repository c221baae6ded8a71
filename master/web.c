/*
 * web — the web UI's HTTP server (libmicrohttpd, one thread per connection); see web.h.
 *
 * Three kinds of request:
 *   - reads (the page, /api/state, the downloads, /metrics): the document is built holding
 *     src.lock, the lock released, then the bytes written;
 *   - commands (start, edit, stop, reset): the form is parsed and checked (web_form.h; a bad
 *     one is answered 400 and never reaches the loop), then queued for the loop, and the
 *     answer waits for the loop's verdict (web_command_done), WEB_COMMAND_WAIT_S at most;
 *   - Server-Sent Events (/api/events): each connection writes the event the loop published
 *     last (web_publish), the same bytes for every client, and waits for the next one.
 *
 * Before any of them: --web-auth (on all but GET /health, a probe's), then other sites' pages
 * (foreign()). Limits: a bounded number of connections, of them per address, a 64 KiB body;
 * libmicrohttpd refuses a huge request line or header (414, 431).
 *
 * Locks, never nested the other way round: src.lock (the loop's data) may be held while
 * taking events_mu (web_publish); cmd_mu is never held with another.
 */
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/cli.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "report.h"
#include "view.h"
#include "web_api.h"
#include "web_assets.h"
#include "web_form.h"
#include "web_listen.h"

#define WEB_MAX_CONNECTIONS 64
#define WEB_MAX_PER_IP 32
#define WEB_IDLE_TIMEOUT_S 60          /* an idle keep-alive connection is closed then */
#define WEB_MAX_BODY_BYTES (64 * 1024) /* a form is a few hundred bytes */
#define WEB_COMMAND_WAIT_S 10.0        /* for the loop's verdict, then 503 */
#define WEB_SSE_KEEPALIVE_S 15.0       /* a comment line when nothing was published */
#define WEB_STOP_GRACE_S 1.0           /* for event streams to end cleanly at a stop */

/* An event as the clients receive it, shared: freed by whoever drops the last reference. */
typedef struct event {
    size_t refs;                /* under events_mu */
    uint64_t seq;
    size_t len;
    char text[];                /* "event: state\ndata: <one line of JSON>\n\n" */
} event_t;

/* A command and who still holds it: the web thread waiting for it, the queue or the loop. */
typedef struct cmd_slot {
    web_cmd_t cmd;              /* first: web_cmd_t pointers are cmd_slot pointers */
    int refs;                   /* under cmd_mu */
    bool queued;                /* in the queue, not yet taken by the loop */
} cmd_slot_t;

struct web {
    struct MHD_Daemon *daemon;
    web_source_t src;           /* the loop's; read under src.lock */
    char *auth;                 /* --web-auth "user:password"; NULL: none; owned */
    size_t auth_len;
    bool loopback;              /* listening on a loopback address only */
    char *tls_cert, *tls_key;   /* PEM text; owned (libmicrohttpd reads them until stop) */
    view_cache_t cache;         /* under src.lock */

    pthread_mutex_t events_mu;
    pthread_cond_t events_cv;   /* a new event, or stopping */
    event_t *event;             /* the last published; one reference is the server's */
    uint64_t event_seq;         /* of the last published */
    bool events_stopping;       /* web_stop began: streams end */
    size_t n_streams;           /* Server-Sent Events responses alive */

    pthread_mutex_t cmd_mu;
    pthread_cond_t cmd_cv;      /* a command answered, or stopping */
    web_cmd_t *head, *tail;     /* the queue, oldest first (through next); cmd_slot_t's */
    bool cmd_stopping;          /* web_stop began: commands are refused */
};

/* ---- helpers --------------------------------------------------------------------------------- */

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec deadline_in(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = floor(seconds);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void event_release(web_t *w, event_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&w->events_mu);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&w->events_mu);
    if (last)
        free(e);
}

/* ---- responses ------------------------------------------------------------------------------- */

/* What a page may load and run. The page: its own files only. The HTML report: everything
 * is inlined in it (a file that works offline), so inline scripts and styles, nothing from
 * anywhere. Neither may be framed by another site (clickjacking a Start button). */
#define CSP_PAGE "default-src 'self'; img-src 'self' data:; script-src 'self'; " \
                 "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " \
                 "frame-ancestors 'none'; form-action 'self'"
#define CSP_REPORT "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " \
                   "img-src data:; base-uri 'none'; frame-ancestors 'none'"

/* Queue a response with body[0..len) (owned: freed by libmicrohttpd when `owned`). An HTML
 * body is the page (an embedded asset, not owned) or the report (made for this request,
 * owned): each gets its Content-Security-Policy. */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              void *body, size_t len, bool owned, const char *disposition)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (strncmp(type, "text/html", 9) == 0) {
        MHD_add_response_header(r, "Content-Security-Policy", owned ? CSP_REPORT : CSP_PAGE);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    if (disposition)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return MHD_NO;
    return answer(c, status, "text/plain; charset=utf-8", copy, strlen(copy), true, NULL);
}

/* The document as compact JSON; doc is released. */
static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
    if (!doc)
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (!text)
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return answer(c, status, "application/json", text, strlen(text), true, NULL);
}

/* {"success": ..., "message": ...} (message: invalid UTF-8 shown as '?'). */
static enum MHD_Result answer_result(struct MHD_Connection *c, unsigned status, bool success,
                                     const char *message, const char *host)
{
    json_t *j = json_object();
    json_t *m = json_string(message);
    if (!m) {
        char safe[512];
        snprintf(safe, sizeof safe, "%s", message);
        for (char *p = safe; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(safe);
    }
    if (j) {
        json_object_set_new(j, "success", json_boolean(success));
        json_object_set_new(j, "message", m);
        if (host) {
            json_t *hj = json_string(host);
            json_object_set_new(j, "host", hj ? hj : json_null());
        }
    } else {
        json_decref(m);
    }
    return answer_json(c, status, j);
}

/* A stream open_memstream(buf, len) filled: closed, answered (or 500 when writing
 * failed). */
static enum MHD_Result answer_stream(struct MHD_Connection *c, FILE *f, char **buf,
                                     size_t *len, bool ok, const char *type,
                                     const char *disposition)
{
    if (fclose(f) != 0)
        ok = false;
    if (!ok) {
        free(*buf);
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    return answer(c, MHD_HTTP_OK, type, *buf, *len, true, disposition);
}

/* ---- basic authentication -------------------------------------------------------------------- */

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Base64 text into out; its length, or -1 when it is not base64 or does not fit. */
static long b64_decode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value((unsigned char)*in);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    for (; *in == '='; in++)
        ;
    return *in ? -1 : (long)n;
}

/* Whether the request carries --web-auth's credentials. The comparison takes the same time
 * whatever the bytes and lengths given (up to the longer of the two). */
static bool authorized(const web_t *w, struct MHD_Connection *c)
{
    if (!w->auth)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    char given[1024];
    long n = b64_decode(h, given, sizeof given);
    if (n < 0)
        return false;
    size_t len = (size_t)n, max = len > w->auth_len ? len : w->auth_len;
    unsigned char diff = len != w->auth_len;
    for (size_t i = 0; i < max; i++) {
        unsigned char a = i < w->auth_len ? (unsigned char)w->auth[i] : 0;
        unsigned char b = i < len ? (unsigned char)given[i] : 0;
        diff |= a ^ b;
    }
    return diff == 0;
}

static enum MHD_Result answer_unauthorized(struct MHD_Connection *c)
{
    static const char body[] = "{\"success\":false,\"message\":\"authentication required\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_basic_auth_fail_response(c, "herd", r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- other sites ---------------------------------------------------------------------------- */

/* The host of a Host header's host[:port] (an IPv6 address with its brackets), into out. */
static void host_part(const char *s, char *out, size_t len)
{
    const char *end;
    if (*s == '[') {
        end = strchr(s, ']');
        end = end ? end + 1 : s + strlen(s);
    } else {
        end = strchr(s, ':');
        if (!end)
            end = s + strlen(s);
    }
    snprintf(out, len, "%.*s", (int)(end - s), s);
}

/* A name only this machine answers to, or an address (what DNS rebinding cannot fake):
 * localhost, *.localhost, an IPv4 address or a bracketed IPv6 one. */
static bool local_name(const char *host)
{
    size_t n = strlen(host);
    if (strcasecmp(host, "localhost") == 0 ||
        (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
        return true;
    if (host[0] == '[')
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1;
}

/* Why a request from another site's page is refused, or NULL. Any page can make a browser
 * send a form here (a POST needs no permission): a command must come from this page, whose
 * Origin is this server (scripts send no Origin). And while listening on loopback only without
 * --web-auth, a Host header that is neither an address nor localhost is another site's name
 * pointed at 127.0.0.1 (DNS rebinding); behind a proxy that passes its own name, --web-auth
 * lifts that (a page elsewhere cannot know the password). */
static const char *foreign(const web_t *w, struct MHD_Connection *c, const char *method)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char h[256];
    if (w->loopback && !w->auth && host) {
        host_part(host, h, sizeof h);
        if (!local_name(h))
            return "without --web-auth, this server answers to localhost or its address only";
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return NULL;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!origin)
        return NULL;
    /* a proxy in front may pass its own name as X-Forwarded-Host */
    const char *fwd = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Host");
    const char *after = strstr(origin, "://");
    if (after && ((host && strcmp(after + 3, host) == 0) || (fwd && strcmp(after + 3, fwd) == 0)))
        return NULL;
    return "a command from another site's page is refused";
}

/* ---- requests -------------------------------------------------------------------------------- */

typedef enum upload { UPLOAD_NONE, UPLOAD_FORM, UPLOAD_JSON, UPLOAD_OTHER } upload_t;

/* One request's state, from its first call to its end. */
typedef struct request {
    upload_t body;
    struct MHD_PostProcessor *pp;   /* UPLOAD_FORM */
    char *json;                     /* UPLOAD_JSON: the body so far; owned */
    size_t json_len;
    size_t body_bytes;              /* received, whatever the kind */
    bool bad_form;                  /* the post processor refused the body */
    web_form_t form;
} request_t;

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    request_t *q = cls;
    int k = key ? web_form_field(key) : -1;
    if (k >= 0)
        web_form_add(&q->form, k, data ? data : "", data ? size : 0, off == 0);
    return MHD_YES;
}

/* ---- commands -------------------------------------------------------------------------------- */

static void slot_release_locked(cmd_slot_t *s)
{
    if (--s->refs == 0)
        free(s);
}

/* Queue a copy of c for the loop and wait for its verdict: the status (503 when the loop
 * did not answer in time or the server is stopping), message into msg. */
static unsigned run_command(web_t *w, const web_cmd_t *c, char *msg, size_t msglen)
{
    cmd_slot_t *s = malloc(sizeof *s);
    if (!s) {
        snprintf(msg, msglen, "out of memory");
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    s->cmd = *c;
    s->cmd.next = NULL;
    s->cmd.done = false;
    s->cmd.status = 0;
    s->cmd.message[0] = '\0';
    s->refs = 2;   /* this thread's, and the queue's (then the loop's) */
    s->queued = true;

    pthread_mutex_lock(&w->cmd_mu);
    if (w->cmd_stopping) {
        pthread_mutex_unlock(&w->cmd_mu);
        free(s);
        snprintf(msg, msglen, "herd-master is shutting down");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (w->tail)
        w->tail->next = &s->cmd;
    else
        w->head = &s->cmd;
    w->tail = &s->cmd;
    struct timespec until = deadline_in(WEB_COMMAND_WAIT_S);
    int rc = 0;
    while (!s->cmd.done && !w->cmd_stopping && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cmd_cv, &w->cmd_mu, &until);
    unsigned status;
    if (s->cmd.done) {
        status = (unsigned)s->cmd.status;
        snprintf(msg, msglen, "%s", s->cmd.message);
    } else {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(msg, msglen, w->cmd_stopping ? "herd-master is shutting down"
                                          : "herd-master did not answer in time");
        if (s->queued) {   /* still waiting in the queue: take it out */
            web_cmd_t *prev = NULL;
            for (web_cmd_t **pp = &w->head; *pp; prev = *pp, pp = &(*pp)->next) {
                if (*pp == &s->cmd) {
                    *pp = s->cmd.next;
                    if (w->tail == &s->cmd)
                        w->tail = prev;
                    break;
                }
            }
            s->queued = false;
            s->refs--;   /* the queue's */
        }
    }
    slot_release_locked(s);   /* this thread's */
    pthread_mutex_unlock(&w->cmd_mu);
    return status;
}

web_cmd_t *web_next_command(web_t *w)
{
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->cmd_mu);
    web_cmd_t *c = w->head;
    if (c) {
        w->head = c->next;
        if (!w->head)
            w->tail = NULL;
        c->next = NULL;
        ((cmd_slot_t *)c)->queued = false;
    }
    pthread_mutex_unlock(&w->cmd_mu);
    return c;
}

void web_command_done(web_t *w, web_cmd_t *c, int status, const char *message)
{
    cmd_slot_t *s = (cmd_slot_t *)c;
    pthread_mutex_lock(&w->cmd_mu);
    c->status = status;
    if (!message)
        c->message[0] = '\0';
    else if (message != c->message)   /* the loop may answer with the command's own text */
        snprintf(c->message, sizeof c->message, "%s", message);
    c->done = true;
    pthread_cond_broadcast(&w->cmd_cv);
    slot_release_locked(s);
    pthread_mutex_unlock(&w->cmd_mu);
}

/* ---- Server-Sent Events ---------------------------------------------------------------------- */

static event_t *event_make(json_t *doc)
{
    if (!doc)
        return NULL;
    char *json = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!json)
        return NULL;
    static const char head[] = "event: state\ndata: ", tail[] = "\n\n";
    size_t n = strlen(json), len = sizeof head - 1 + n + sizeof tail - 1;
    event_t *e = malloc(sizeof *e + len + 1);
    if (e) {
        e->refs = 1;
        e->seq = 0;   /* numbered when published */
        e->len = len;
        memcpy(e->text, head, sizeof head - 1);
        memcpy(e->text + sizeof head - 1, json, n);
        memcpy(e->text + sizeof head - 1 + n, tail, sizeof tail);
    }
    free(json);
    return e;
}

/* Make e the current event (its reference becomes the server's). events_mu held. */
static void event_set_locked(web_t *w, event_t *e)
{
    event_t *old = w->event;
    e->seq = ++w->event_seq;
    w->event = e;
    pthread_cond_broadcast(&w->events_cv);
    if (old && --old->refs == 0)
        free(old);
}

void web_publish(web_t *w, double now)
{
    if (!w)
        return;
    json_t *doc = view_state(&w->src, &w->cache, VIEW_EVENT, now);
    event_t *e = event_make(doc);
    json_decref(doc);
    if (!e) {
        log_warn("out of memory publishing the web UI's state");
        return;
    }
    pthread_mutex_lock(&w->events_mu);
    event_set_locked(w, e);
    pthread_mutex_unlock(&w->events_mu);
}

/* One client's stream. */
typedef struct sse {
    web_t *w;
    event_t *cur;               /* being written; a reference */
    size_t off;                 /* bytes of cur written */
    uint64_t seq;               /* of the last event taken */
    bool greeted;               /* "retry:" written */
    bool ended;                 /* the end event written */
} sse_t;

static ssize_t sse_copy(char *buf, size_t max, const char *text, size_t len, size_t *off)
{
    size_t n = len - *off < max ? len - *off : max;
    memcpy(buf, text + *off, n);
    *off += n;
    return (ssize_t)n;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_t *c = cls;
    web_t *w = c->w;
    static const char greeting[] = "retry: 3000\n\n", keepalive[] = ":\n\n",
                      bye[] = "event: end\ndata: {}\n\n";
    if (c->cur && c->off < c->cur->len)
        return sse_copy(buf, max, c->cur->text, c->cur->len, &c->off);
    if (c->cur) {
        event_release(w, c->cur);
        c->cur = NULL;
    }
    if (!c->greeted) {
        size_t off = 0;
        c->greeted = true;
        if (max < sizeof greeting - 1)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        return sse_copy(buf, max, greeting, sizeof greeting - 1, &off);
    }
    pthread_mutex_lock(&w->events_mu);
    struct timespec until = deadline_in(WEB_SSE_KEEPALIVE_S);
    int rc = 0;
    while (!w->events_stopping && (!w->event || w->event->seq == c->seq) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->events_cv, &w->events_mu, &until);
    if (w->events_stopping) {
        pthread_mutex_unlock(&w->events_mu);
        if (c->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        c->ended = true;
        size_t off = 0;
        return sse_copy(buf, max, bye, sizeof bye - 1, &off);
    }
    if (!w->event || w->event->seq == c->seq) {
        pthread_mutex_unlock(&w->events_mu);
        size_t off = 0;
        return sse_copy(buf, max, keepalive, sizeof keepalive - 1, &off);
    }
    c->cur = w->event;
    c->cur->refs++;
    c->seq = c->cur->seq;
    c->off = 0;
    pthread_mutex_unlock(&w->events_mu);
    return sse_copy(buf, max, c->cur->text, c->cur->len, &c->off);
}

static void sse_free(void *cls)
{
    sse_t *c = cls;
    web_t *w = c->w;
    event_release(w, c->cur);
    free(c);
    pthread_mutex_lock(&w->events_mu);
    w->n_streams--;
    pthread_cond_broadcast(&w->events_cv);
    pthread_mutex_unlock(&w->events_mu);
}

static enum MHD_Result answer_events(web_t *w, struct MHD_Connection *conn)
{
    /* Before the loop's first publish, the first event is built here, so a client gets one
     * at once. */
    pthread_mutex_lock(&w->events_mu);
    bool have = w->event != NULL;
    pthread_mutex_unlock(&w->events_mu);
    if (!have) {
        pthread_mutex_lock(w->src.lock);
        json_t *doc = view_state(&w->src, &w->cache, VIEW_EVENT, clock_mono_s());
        pthread_mutex_unlock(w->src.lock);
        event_t *e = event_make(doc);
        json_decref(doc);
        if (e) {
            pthread_mutex_lock(&w->events_mu);
            if (!w->event)
                event_set_locked(w, e);
            else
                free(e);
            pthread_mutex_unlock(&w->events_mu);
        }
    }
    sse_t *c = calloc(1, sizeof *c);
    if (!c)
        return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    c->w = w;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, c, sse_free);
    if (!r) {
        free(c);
        return MHD_NO;
    }
    pthread_mutex_lock(&w->events_mu);
    w->n_streams++;   /* sse_free counts it out */
    pthread_mutex_unlock(&w->events_mu);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- routes ---------------------------------------------------------------------------------- */

static const char *arg(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* "attachment;filename=<prefix>_<unix time>.<ext>", as Locust names its downloads. */
static void disposition(char *buf, size_t len, const char *prefix, const char *ext)
{
    snprintf(buf, len, "attachment;filename=%s_%.0f.%s", prefix, clock_wall_s(), ext);
}

typedef enum download {
    DL_STATS, DL_HISTORY, DL_FULL_HISTORY, DL_FAILURES, DL_EXCEPTIONS, DL_HTML, DL_JSON
} download_t;

static enum MHD_Result answer_download(web_t *w, struct MHD_Connection *conn, download_t what,
                                       bool attachment)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    bool ok = true;
    report_run_t facts;
    report_worker_t *workers = NULL;
    json_t *doc = NULL;
    pthread_mutex_lock(w->src.lock);
    double now = clock_mono_s();
    history_t h = view_history(&w->src);
    const stats_table_t *t = &w->src.run->stats;
    switch (what) {
    case DL_STATS:
        ok = view_facts(&w->src, now, &facts, &workers) && report_csv_stats_to(f, t, &facts) == 0;
        break;
    case DL_HISTORY: ok = report_csv_history_to(f, &h, false) == 0; break;
    case DL_FULL_HISTORY: ok = report_csv_history_to(f, &h, true) == 0; break;
    case DL_FAILURES: report_csv_failures_to(f, t); break;
    case DL_EXCEPTIONS: report_csv_exceptions_to(f); break;
    case DL_HTML:
        ok = view_facts(&w->src, now, &facts, &workers) && report_html_to(f, t, &h, &facts) == 0;
        break;
    case DL_JSON:
        ok = view_facts(&w->src, now, &facts, &workers) &&
             (doc = report_json_document(t, &h, &facts)) != NULL;
        break;
    }
    pthread_mutex_unlock(w->src.lock);
    free(workers);
    if (doc) {
        ok = json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) == 0 &&
             fputc('\n', f) != EOF;
        json_decref(doc);
    }
    static const char *const prefix[] = { "requests", "requests_history",
                                          "requests_full_history", "failures", "exceptions",
                                          "report", "report" };
    static const char *const ext[] = { "csv", "csv", "csv", "csv", "csv", "html", "json" };
    const char *type = what == DL_HTML   ? "text/html; charset=utf-8"
                       : what == DL_JSON ? "application/json"
                                         : "text/csv; charset=utf-8";
    char disp[128];
    disposition(disp, sizeof disp, prefix[what], ext[what]);
    return answer_stream(conn, f, &buf, &len, ok, type, attachment ? disp : NULL);
}

static enum MHD_Result answer_state(web_t *w, struct MHD_Connection *conn)
{
    pthread_mutex_lock(w->src.lock);
    json_t *doc = view_state(&w->src, &w->cache, VIEW_STATE, clock_mono_s());
    pthread_mutex_unlock(w->src.lock);
    return answer_json(conn, MHD_HTTP_OK, doc);
}

static bool parse_count(const char *s, size_t *out)
{
    long v;
    if (!s || !*s) {
        *out = 0;
        return true;
    }
    if (cli_parse_long(s, &v) < 0 || v < 0)
        return false;
    *out = (size_t)v;
    return true;
}

static enum MHD_Result answer_history(web_t *w, struct MHD_Connection *conn)
{
    const char *method = arg(conn, "method"), *name = arg(conn, "name");
    size_t from;
    if (!parse_count(arg(conn, "from"), &from))
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false,
                             "from: not a whole number >= 0", NULL);
    if ((method != NULL) != (name != NULL))
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false,
                             "method and name go together (neither: the Aggregated row)", NULL);
    pthread_mutex_lock(w->src.lock);
    history_t h = view_history(&w->src);
    json_t *rows = report_json_history(&h, method, name, from);
    size_t total = h.n;
    pthread_mutex_unlock(w->src.lock);
    json_t *doc = json_object();
    if (doc && rows) {
        json_object_set_new(doc, "history", rows);
        json_object_set_new(doc, "total", json_integer((json_int_t)total));
    } else {
        json_decref(rows);
        json_decref(doc);
        doc = NULL;
    }
    return answer_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result answer_logs(struct MHD_Connection *conn)
{
    size_t after;
    if (!parse_count(arg(conn, "after"), &after))
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false,
                             "after: not a whole number >= 0", NULL);
    json_t *lines = view_log_lines(after, VIEW_STATE_LOG_LINES);
    json_t *doc = json_object();
    if (doc && lines) {
        json_object_set_new(doc, "logs", lines);
    } else {
        json_decref(lines);
        json_decref(doc);
        doc = NULL;
    }
    return answer_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result answer_locust_stats(web_t *w, struct MHD_Connection *conn)
{
    pthread_mutex_lock(w->src.lock);
    json_t *doc = web_api_locust_stats(&w->src, clock_mono_s());
    pthread_mutex_unlock(w->src.lock);
    return answer_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result answer_metrics(web_t *w, struct MHD_Connection *conn)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    pthread_mutex_lock(w->src.lock);
    bool ok = web_api_metrics(f, &w->src, clock_mono_s()) == 0;
    pthread_mutex_unlock(w->src.lock);
    return answer_stream(conn, f, &buf, &len, ok, "text/plain; version=0.0.4; charset=utf-8",
                         NULL);
}

static enum MHD_Result answer_health(web_t *w, struct MHD_Connection *conn)
{
    pthread_mutex_lock(w->src.lock);
    const char *state = run_state_name(w->src.run);
    pthread_mutex_unlock(w->src.lock);
    json_t *doc = json_pack("{ss}", "state", state);
    return answer_json(conn, MHD_HTTP_OK, doc);
}

typedef enum command_route {
    CR_START, CR_EDIT, CR_STOP, CR_RESET, CR_SWARM, CR_LOCUST_STOP, CR_LOCUST_RESET
} command_route_t;

static enum MHD_Result answer_command(web_t *w, struct MHD_Connection *conn, request_t *q,
                                      command_route_t route)
{
    char msg[512] = "";
    if (q && q->body == UPLOAD_OTHER && q->body_bytes)
        return answer_result(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, false,
                             "send a form (application/x-www-form-urlencoded or "
                             "multipart/form-data) or a JSON object", NULL);
    if (q && q->bad_form)
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false, "the form cannot be read",
                             NULL);
    if (q && q->body == UPLOAD_JSON && q->json_len &&
        web_form_from_json(&q->form, q->json, q->json_len, msg, sizeof msg) < 0)
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false, msg, NULL);
    web_form_t empty;
    web_form_t *form = q ? &q->form : (memset(&empty, 0, sizeof empty), &empty);
    if (web_form_check(form, msg, sizeof msg) < 0)
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false, msg, NULL);

    web_cmd_t cmd;
    memset(&cmd, 0, sizeof cmd);
    /* What the form leaves out, and what /swarm means now, from the run. */
    pthread_mutex_lock(w->src.lock);
    const run_t *r = w->src.run;
    bool running = r->phase == RUN_RUNNING;
    long users_now = (long)r->p.users;   /* the command line's before any test */
    double rate_now = r->p.spawn_rate;
    char host[1024];
    const char *h = r->p.host ? r->p.host : w->src.sc->host;
    snprintf(host, sizeof host, "%s", h ? h : "");
    pthread_mutex_unlock(w->src.lock);

    int rc = 0;
    switch (route) {
    case CR_SWARM:
        rc = running ? web_form_edit(form, &cmd, users_now, rate_now, msg, sizeof msg)
                     : web_form_start(form, &cmd, users_now, rate_now, msg, sizeof msg);
        break;
    case CR_START: rc = web_form_start(form, &cmd, users_now, rate_now, msg, sizeof msg); break;
    case CR_EDIT: rc = web_form_edit(form, &cmd, users_now, rate_now, msg, sizeof msg); break;
    case CR_STOP:
    case CR_LOCUST_STOP: cmd.kind = WEB_CMD_STOP; break;
    case CR_RESET:
    case CR_LOCUST_RESET: cmd.kind = WEB_CMD_RESET; break;
    }
    if (rc < 0)
        return answer_result(conn, MHD_HTTP_BAD_REQUEST, false, msg, NULL);

    unsigned status = run_command(w, &cmd, msg, sizeof msg);
    bool ok = status == MHD_HTTP_OK;
    switch (route) {
    case CR_SWARM:
        /* Locust's answer, with the host the test runs against */
        if (ok && cmd.kind == WEB_CMD_START && cmd.host[0])
            snprintf(host, sizeof host, "%s", cmd.host);
        return answer_result(conn, status, ok, ok ? "Swarming started" : msg, host);
    case CR_LOCUST_STOP:
        /* Locust's /stop always succeeds: nothing running is stopped too */
        if (status == MHD_HTTP_CONFLICT)
            return answer_result(conn, MHD_HTTP_OK, true, msg, NULL);
        return answer_result(conn, status, ok, ok ? "Test stopped" : msg, NULL);
    case CR_LOCUST_RESET:
        if (ok || status == MHD_HTTP_CONFLICT)
            return answer(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", (void *)"ok", 2,
                          false, NULL);
        return answer_result(conn, status, false, msg, NULL);
    default:
        return answer_result(conn, status, ok, ok && !msg[0] ? "ok" : msg, NULL);
    }
}

static bool is_post(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_POST) == 0;
}

static bool is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *conn)
{
    return answer_result(conn, MHD_HTTP_METHOD_NOT_ALLOWED, false, "method not allowed", NULL);
}

static enum MHD_Result route(web_t *w, struct MHD_Connection *conn, const char *url,
                             const char *method, request_t *q)
{
    static const struct {
        const char *path;
        command_route_t route;
        bool get;      /* also by GET (Locust's /stop and /stats/reset) */
    } commands[] = {
        { "/api/start", CR_START, false }, { "/api/edit", CR_EDIT, false },
        { "/api/stop", CR_STOP, false },   { "/api/reset", CR_RESET, false },
        { "/swarm", CR_SWARM, false },     { "/stop", CR_LOCUST_STOP, true },
        { "/stats/reset", CR_LOCUST_RESET, true },
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(url, commands[i].path) != 0)
            continue;
        if (!is_post(method) && !(commands[i].get && is_get(method)))
            return method_not_allowed(conn);
        return answer_command(w, conn, q, commands[i].route);
    }

    static const struct {
        const char *path;
        download_t what;
    } downloads[] = {
        { "/stats/requests/csv", DL_STATS },
        { "/stats/history/csv", DL_HISTORY },
        { "/stats/requests_full_history/csv", DL_FULL_HISTORY },
        { "/stats/failures/csv", DL_FAILURES },
        { "/exceptions/csv", DL_EXCEPTIONS },
        { "/stats/report", DL_HTML },
        { "/api/report.json", DL_JSON },
    };
    for (size_t i = 0; i < sizeof downloads / sizeof downloads[0]; i++) {
        if (strcmp(url, downloads[i].path) != 0)
            continue;
        if (!is_get(method))
            return method_not_allowed(conn);
        bool attachment = downloads[i].what == DL_HTML ? arg(conn, "download") != NULL
                                                       : downloads[i].what != DL_JSON;
        return answer_download(w, conn, downloads[i].what, attachment);
    }

    if (!is_get(method))
        return method_not_allowed(conn);
    if (strcmp(url, "/api/state") == 0)
        return answer_state(w, conn);
    if (strcmp(url, "/api/events") == 0)
        return answer_events(w, conn);
    if (strcmp(url, "/api/history") == 0)
        return answer_history(w, conn);
    if (strcmp(url, "/api/logs") == 0)
        return answer_logs(conn);
    if (strcmp(url, "/stats/requests") == 0)
        return answer_locust_stats(w, conn);
    if (strcmp(url, "/metrics") == 0)
        return answer_metrics(w, conn);
    if (strcmp(url, "/health") == 0)
        return answer_health(w, conn);
    const web_asset_t *a = web_asset_find(url);
    if (a)
        return answer(conn, MHD_HTTP_OK, a->content_type, (void *)a->data, a->len, false, NULL);
    return answer_text(conn, MHD_HTTP_NOT_FOUND, "Not found\n");
}

/* A probe's request: GET (or HEAD) /health, answered without --web-auth's credentials. */
static bool is_health(const char *url, const char *method)
{
    return strcmp(url, "/health") == 0 && is_get(method);
}

/* ---- libmicrohttpd's callbacks --------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    web_t *w = cls;
    request_t *q = *con_cls;
    if (!q) {
        /* The headers are in, the body (if any) is not: refuse what can be refused now.
         * GET /health needs no credentials: it tells the state alone, and a probe
         * (Kubernetes', a load balancer's) sends none. */
        if (!authorized(w, conn) && !is_health(url, method))
            return answer_unauthorized(conn);
        const char *why = foreign(w, conn, method);
        if (why)
            return answer_result(conn, MHD_HTTP_FORBIDDEN, false, why, NULL);
        const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (len && strtoull(len, NULL, 10) > WEB_MAX_BODY_BYTES)
            return answer_result(conn, MHD_HTTP_CONTENT_TOO_LARGE, false,
                                 "the body is too large", NULL);
        q = calloc(1, sizeof *q);
        if (!q)
            return MHD_NO;
        *con_cls = q;
        const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!type || !*type) {
            q->body = UPLOAD_NONE;
        } else if (strncasecmp(type, "application/json", 16) == 0) {
            q->body = UPLOAD_JSON;
        } else if (strncasecmp(type, MHD_HTTP_POST_ENCODING_FORM_URLENCODED,
                               strlen(MHD_HTTP_POST_ENCODING_FORM_URLENCODED)) == 0 ||
                   strncasecmp(type, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
                               strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) == 0) {
            q->body = UPLOAD_FORM;
            q->pp = MHD_create_post_processor(conn, 4096, post_field, q);
            if (!q->pp)
                q->bad_form = true;
        } else {
            q->body = UPLOAD_OTHER;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        q->body_bytes += n;
        if (q->body_bytes > WEB_MAX_BODY_BYTES)
            return MHD_NO;   /* a body without Content-Length that goes on: cut it off */
        if (q->body == UPLOAD_FORM && q->pp && !q->bad_form) {
            if (MHD_post_process(q->pp, upload_data, n) != MHD_YES)
                q->bad_form = true;
        } else if (q->body == UPLOAD_JSON) {
            char *grown = realloc(q->json, q->json_len + n + 1);
            if (!grown)
                return MHD_NO;
            q->json = grown;
            memcpy(q->json + q->json_len, upload_data, n);
            q->json_len += n;
            q->json[q->json_len] = '\0';
        }
        return MHD_YES;
    }
    return route(w, conn, url, method, q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    request_t *q = *con_cls;
    if (!q)
        return;
    if (q->pp)
        MHD_destroy_post_processor(q->pp);
    free(q->json);
    free(q);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("web: %s", line);
}

/* ---- start and stop -------------------------------------------------------------------------- */

static void web_free(web_t *w)
{
    if (!w)
        return;
    free(w->auth);
    free(w->tls_cert);
    free(w->tls_key);
    view_cache_free(&w->cache);
    pthread_mutex_destroy(&w->events_mu);
    pthread_cond_destroy(&w->events_cv);
    pthread_mutex_destroy(&w->cmd_mu);
    pthread_cond_destroy(&w->cmd_cv);
    free(w);
}

int web_start(web_t **out, const master_options_t *o, const web_source_t *src, char *err,
              size_t errlen)
{
    *out = NULL;
    if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return -1;
    }
    web_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory starting the web UI");
        return -1;
    }
    w->src = *src;
    pthread_mutex_init(&w->events_mu, NULL);
    cond_init_monotonic(&w->events_cv);
    pthread_mutex_init(&w->cmd_mu, NULL);
    cond_init_monotonic(&w->cmd_cv);
    if (o->web_auth) {
        if (!strchr(o->web_auth, ':')) {
            snprintf(err, errlen, "--web-auth: expected USER:PASSWORD");
            web_free(w);
            return -1;
        }
        w->auth = strdup(o->web_auth);
        w->auth_len = w->auth ? strlen(w->auth) : 0;
    }
    bool tls = o->tls_cert != NULL;
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without TLS");
            web_free(w);
            return -1;
        }
        w->tls_cert = web_read_pem("--tls-cert", o->tls_cert, "CERTIFICATE", err, errlen);
        w->tls_key = w->tls_cert ? web_read_pem("--tls-key", o->tls_key, "PRIVATE KEY", err, errlen)
                                 : NULL;
        if (!w->tls_key) {
            web_free(w);
            return -1;
        }
    }

    web_listener_t l;
    int fd = web_listen(o->web_host, o->web_port, &l, err, errlen);
    if (fd < 0) {
        web_free(w);
        return -1;
    }
    w->loopback = l.loopback;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ERROR_LOG | (l.family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, w->tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, w->tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    w->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, w, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_MAX_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)w,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)w,
        MHD_OPTION_ARRAY, tls ? tls_opts : &tls_opts[2], MHD_OPTION_END);
    if (!w->daemon) {
        close(fd);
        if (tls)
            snprintf(err, errlen, "--tls-cert '%s' / --tls-key '%s': cannot serve HTTPS with "
                                  "them (not a valid certificate and key, or they do not "
                                  "match)", o->tls_cert, o->tls_key);
        else
            snprintf(err, errlen, "--web-port %ld: cannot start the web server", l.port);
        web_free(w);
        return -1;
    }
    const char *scheme = tls ? "https" : "http";
    if (l.all)
        log_info("Web UI at %s://127.0.0.1:%ld (listening on every interface)", scheme, l.port);
    else if (strchr(o->web_host, ':'))   /* an IPv6 address */
        log_info("Web UI at %s://[%s]:%ld", scheme, o->web_host, l.port);
    else
        log_info("Web UI at %s://%s:%ld", scheme, o->web_host, l.port);
    if (!l.loopback && !w->auth)
        log_warn("The web UI is reachable beyond this machine without --web-auth: anyone who "
                 "reaches it can point load at any host");
    *out = w;
    return 0;
}

void web_stop(web_t *w)
{
    if (!w)
        return;
    /* Streams write their end event and end; a client that does not read is not waited
     * for long. */
    pthread_mutex_lock(&w->events_mu);
    w->events_stopping = true;
    pthread_cond_broadcast(&w->events_cv);
    struct timespec until = deadline_in(WEB_STOP_GRACE_S);
    while (w->n_streams && pthread_cond_timedwait(&w->events_cv, &w->events_mu, &until) == 0)
        ;
    pthread_mutex_unlock(&w->events_mu);
    pthread_mutex_lock(&w->cmd_mu);
    w->cmd_stopping = true;
    pthread_cond_broadcast(&w->cmd_cv);
    pthread_mutex_unlock(&w->cmd_mu);
    /* every connection thread ends: SSE streams end above, commands answer 503 */
    MHD_stop_daemon(w->daemon);
    /* commands the loop never took */
    for (web_cmd_t *c = w->head, *next; c; c = next) {
        next = c->next;
        ((cmd_slot_t *)c)->queued = false;
        slot_release_locked((cmd_slot_t *)c);
    }
    w->head = w->tail = NULL;
    if (w->event && --w->event->refs == 0)
        free(w->event);
    w->event = NULL;
    web_free(w);
}
