/*
 * engine — one load-generating thread. See engine.h for the contract.
 *
 * Shape (libcurl's multi-socket pattern, as in its ephiperfifo example):
 *   - curl tells us which sockets to watch (on_socket → epoll_ctl, only when the wanted
 *     events change) and when it next needs a timeout call (on_timer → curl_at);
 *   - the loop sleeps in epoll_wait until a socket is ready, curl's timeout, or the earliest
 *     timer of our heap (user waits, sleep steps, stop deadlines, the spawn tick);
 *   - the control thread talks to us through a mutex-guarded command queue plus an eventfd
 *     that wakes epoll_wait; the request path never touches that mutex.
 *
 * A virtual user is a state machine: a phase (on_start, task, on_stop), the step sequence
 * of that phase and a program counter. user_run advances it until it has to wait for
 * something (a transfer, a timer) or it is finished.
 *
 * Statistics: the engine thread counts into `counting` (no lock). engine_collect asks for a
 * flush; at its next loop iteration the engine swaps `counting` with the spare table and
 * publishes the filled one; the collector merges it into its own table, resets it and gives
 * it back as the spare. Every record lands in exactly one published table: nothing is lost
 * or counted twice.
 */
#include "engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/rng.h"
#include "http1.h"
#include "request.h"

#define TIMER_IDLE SIZE_MAX
/* Connections the multi keeps alive. Its default (4 × handles *currently* in the multi)
 * would close the connections of users that are waiting between tasks. */
#define ENGINE_MAX_CONNECTS 100000L
#define ENGINE_MAX_EVENTS 512

typedef enum timer_kind { TIMER_WAKE, TIMER_DEADLINE, TIMER_SPAWN, TIMER_XFER } timer_kind_t;

typedef struct etimer {
    double at;             /* monotonic seconds */
    size_t pos;            /* index in the engine's heap; TIMER_IDLE when not armed */
    timer_kind_t kind;
    struct user *user;     /* WAKE, DEADLINE and XFER timers: the owner */
} etimer_t;

typedef enum phase { PHASE_ON_START, PHASE_TASK, PHASE_ON_STOP } phase_t;

typedef struct user {
    size_t slot;           /* index in engine.users */
    uint32_t cls;
    const user_class_t *uc;
    phase_t phase;
    const step_t *steps;   /* the sequence being run: on_start, a task's steps, on_stop */
    size_t n_steps;
    size_t pc;             /* next step of `steps` to run */
    const step_t *current; /* step whose transfer is in flight */
    size_t next_task;      /* sequential classes: the task to run next */
    double task_start;     /* monotonic seconds the current task started */
    double intended;       /* pacing/throughput users: when the schedule wanted the current
                              task to start (<= task_start); 0: not on a schedule */
    double next_intended;  /* the schedule's start for the next task; 0: start a new one */
    bool in_flight;        /* req.easy is in the multi */
    bool native;           /* the current step's request is on `conn` (native transport) */
    bool drop_body;        /* native: a 301/302/303 turned the request into a GET */
    uint32_t redirects;    /* native: redirects followed for the current step */
    uint64_t native_start_ns; /* native: CLOCK_MONOTONIC when the request started */
    uint64_t handoff_us;   /* time the native transport spent before handing a redirect to
                              curl; added to curl's total */
    bool waiting;          /* between tasks: `wake` is the wait */
    bool stopping;         /* no new task; on_stop next, aborted at `deadline` */
    bool did_io;           /* the current task sent a request (else yield before the next) */
    json_t **vars;         /* uc->n_vars slots; owned references */
    etimer_t wake, deadline;
    etimer_t xfer;         /* native: the step's timeout */
    tmpl_env_t env;        /* user_vars points at vars; iteration = tasks started */
    request_t req;
    http1_conn_t conn;     /* native transport: this user's keep-alive connection */
    int conn_fd;           /* conn.fd as registered in engine.fds (-1: none) */
    buf_t target;          /* native: current request target ("/path?q"), redirect base */
    buf_t next_target;     /* native: a redirect's resolved target */
} user_t;

/* What epoll has for one socket of this engine (see on_socket). */
typedef struct fdreg {
    uint32_t events;       /* EPOLLIN/EPOLLOUT registered in epoll; 0: not registered */
    bool wanted;           /* curl wants events on it (no CURL_POLL_REMOVE since) */
    bool ours;             /* opened by on_open_socket: we learn when it is closed */
    struct user *native;   /* a native connection's socket: its user (curl knows nothing) */
} fdreg_t;

typedef enum cmd_kind { CMD_TARGET, CMD_STOP } cmd_kind_t;

typedef struct cmd {
    cmd_kind_t kind;
    double rate;
    struct cmd *next;
    uint32_t targets[];    /* CMD_TARGET: n_classes entries */
} cmd_t;

struct engine {
    engine_config_t cfg;
    const scenario_t *sc;
    size_t n_classes;

    /* ---- engine thread only ---- */
    pthread_t thread;
    bool thread_started;
    int epfd;
    int evfd;              /* eventfd: the control thread's doorbell */
    CURLM *multi;
    double curl_at;        /* when curl wants CURL_SOCKET_TIMEOUT; < 0: never */
    double now;            /* monotonic seconds, refreshed per loop iteration */
    int64_t now_wall_s;    /* unix seconds, refreshed per loop iteration (stats timeline) */
    uint64_t rng;          /* xorshift64* state for templates, task choice, waits */
    bool quit;

    const char **class_host;  /* per class: base URL or NULL (borrowed from sc/cfg) */
    http1_origin_t **origin;  /* per class: resolved http origin for the native transport,
                                 NULL: that class's requests all go through curl; owned */
    double **task_cum;     /* per class: cumulative weights of enabled tasks; owned */
    uint32_t *target;      /* per class: wanted users */
    uint32_t *active;      /* per class: users alive and not stopping */
    double *credit;        /* per class: smooth weighted round-robin for spawning */
    double spawn_rate;     /* users/s; <= 0: all at once */
    double spawn_next;     /* monotonic time of the next spawn */
    etimer_t spawn;
    uint64_t spawned;      /* users ever spawned: k in user id = index + 1 + k * n_engines */

    user_t **users;        /* live users, any order; owned */
    size_t n_users, cap_users;
    fdreg_t *fds;          /* indexed by socket number; owned */
    size_t cap_fds;
    etimer_t **heap;       /* min-heap on at; capacity reserved for 3 timers per user + 1 */
    size_t n_heap, cap_heap;

    stats_table_t tables[2];
    stats_table_t *counting;  /* the table the engine records into */

    /* ---- shared ---- */
    _Atomic uint32_t user_count;
    _Atomic uint64_t idle_us;   /* time spent waiting in epoll_wait, for engine_busy */
    double busy_mark_s;         /* engine_busy's previous call (control thread only) */
    uint64_t busy_mark_idle_us;
    atomic_bool quit_requested; /* engine_destroy: abort everything and leave the loop */
    pthread_mutex_t mu;    /* guards what follows */
    pthread_cond_t cond;   /* flush_done moved */
    cmd_t *cmd_head, *cmd_tail;
    uint64_t flush_req, flush_done;
    stats_table_t *published; /* filled table waiting for the collector, or NULL */
    stats_table_t *spare;     /* empty table the engine may swap in, or NULL */
    pthread_mutex_t collect_mu; /* one engine_collect at a time */
};

static void user_run(engine_t *e, user_t *u);
static fdreg_t *fdreg_get(engine_t *e, curl_socket_t s);
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr);
static int on_close_socket(void *clientp, curl_socket_t s);

/* ---- process-wide setup ------------------------------------------------------------------ */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    /* A peer closing a keep-alive connection must not kill the worker. */
    signal(SIGPIPE, SIG_IGN);
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void refresh_clock(engine_t *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->now_wall_s = (int64_t)ts.tv_sec;
}

/* ---- timer heap ------------------------------------------------------------------------- */

static void heap_set(engine_t *e, size_t i, etimer_t *t)
{
    e->heap[i] = t;
    t->pos = i;
}

static void heap_up(engine_t *e, size_t i)
{
    etimer_t *t = e->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (e->heap[p]->at <= t->at)
            break;
        heap_set(e, i, e->heap[p]);
        i = p;
    }
    heap_set(e, i, t);
}

static void heap_down(engine_t *e, size_t i)
{
    etimer_t *t = e->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->n_heap)
            break;
        if (c + 1 < e->n_heap && e->heap[c + 1]->at < e->heap[c]->at)
            c++;
        if (t->at <= e->heap[c]->at)
            break;
        heap_set(e, i, e->heap[c]);
        i = c;
    }
    heap_set(e, i, t);
}

/* Capacity is reserved when users are created, so arming never allocates or fails. */
static void timer_arm(engine_t *e, etimer_t *t, double at)
{
    t->at = at;
    if (t->pos != TIMER_IDLE) {
        heap_up(e, t->pos);
        heap_down(e, t->pos);
        return;
    }
    heap_set(e, e->n_heap++, t);
    heap_up(e, t->pos);
}

static void timer_disarm(engine_t *e, etimer_t *t)
{
    if (t->pos == TIMER_IDLE)
        return;
    size_t i = t->pos;
    etimer_t *last = e->heap[--e->n_heap];
    t->pos = TIMER_IDLE;
    if (last != t) {
        heap_set(e, i, last);
        heap_up(e, i);
        heap_down(e, last->pos);
    }
}

/* ---- statistics ------------------------------------------------------------------------- */

static void record(engine_t *e, const user_t *u, const step_t *st, uint64_t us,
                   uint64_t bytes, const char *fail)
{
    stats_record(e->counting, st->row, us, bytes, fail != NULL, e->now_wall_s);
    if (fail)
        stats_add_failure(e->counting, st->row, fail);
    /* A user on a schedule was late by (task_start - intended): the request really took
     * that much longer from the schedule's point of view (wrk2's correction). */
    if (u->phase == PHASE_TASK && u->intended > 0)
        stats_record_corrected(e->counting, st->row,
                               us + (uint64_t)((u->task_start - u->intended) * 1e6));
}

static int table_init_rows(stats_table_t *t, const scenario_t *sc, char *err, size_t errlen)
{
    stats_init(t);
    for (size_t i = 0; i < sc->n_rows; i++) {
        long r = stats_row(t, http_method_names[sc->rows[i].method], sc->rows[i].name);
        if (r != (long)i) {
            snprintf(err, errlen, "cannot create stats row %zu (%s %s)", i,
                     http_method_names[sc->rows[i].method], sc->rows[i].name);
            return -1;
        }
    }
    return 0;
}

/* Engine thread: answer a pending flush request (see the file comment). */
static void serve_flush(engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->flush_req > e->flush_done) {
        if (e->spare && !e->published) {
            e->published = e->counting;
            e->counting = e->spare;
            e->spare = NULL;
        }
        /* Without a spare, the previous (timed-out) flush is still published: the collector
         * takes that one, and what we count now comes with the next flush. */
        e->flush_done = e->flush_req;
        pthread_cond_broadcast(&e->cond);
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---- users ------------------------------------------------------------------------------ */

static void user_free(engine_t *e, user_t *u)
{
    timer_disarm(e, &u->wake);
    timer_disarm(e, &u->deadline);
    timer_disarm(e, &u->xfer);
    if (u->in_flight)
        curl_multi_remove_handle(e->multi, u->req.easy);
    if (u->conn_fd >= 0 && (size_t)u->conn_fd < e->cap_fds && e->fds[u->conn_fd].native == u)
        e->fds[u->conn_fd] = (fdreg_t){ 0 };
    http1_free(&u->conn); /* an in-flight native request is dropped, not counted */
    buf_free(&u->target);
    buf_free(&u->next_target);
    request_free(&u->req);
    for (uint32_t i = 0; i < u->uc->n_vars; i++)
        json_decref(u->vars[i]);
    free(u->vars);
    free(u);
}

/* The user is gone: in-flight transfer cancelled (not counted), memory released. */
static void user_exit(engine_t *e, user_t *u)
{
    if (!u->stopping)
        e->active[u->cls]--;
    user_t *last = e->users[--e->n_users];
    e->users[u->slot] = last;
    last->slot = u->slot;
    user_free(e, u);
    atomic_store_explicit(&e->user_count, (uint32_t)e->n_users, memory_order_relaxed);
}

static int user_pick_task(engine_t *e, user_t *u)
{
    const user_class_t *uc = u->uc;
    if (uc->sequential) {
        for (size_t k = 0; k < uc->n_tasks; k++) {
            size_t i = (u->next_task + k) % uc->n_tasks;
            if (uc->tasks[i].enabled) {
                u->next_task = (i + 1) % uc->n_tasks;
                return (int)i;
            }
        }
        return -1;
    }
    const double *cum = e->task_cum[u->cls];
    double total = cum[uc->n_tasks - 1];
    if (total <= 0)
        return -1;
    double x = rng_unit(&e->rng) * total;
    size_t lo = 0, hi = uc->n_tasks - 1;
    while (lo < hi) { /* first i with cum[i] > x */
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    while (lo < uc->n_tasks && !uc->tasks[lo].enabled)
        lo++;
    return lo < uc->n_tasks ? (int)lo : -1;
}

static void user_begin(user_t *u, phase_t phase, const step_t *steps, size_t n)
{
    u->phase = phase;
    u->steps = steps;
    u->n_steps = n;
    u->pc = 0;
}

/* Start the next task, or (no enabled task: a filtered-out class) idle a second. Returns
 * false when the user must wait on its wake timer. */
static bool user_start_task(engine_t *e, user_t *u)
{
    int t = user_pick_task(e, u);
    if (t < 0) {
        user_begin(u, PHASE_TASK, NULL, 0);
        u->waiting = true;
        timer_arm(e, &u->wake, e->now + 1.0);
        return false;
    }
    u->env.iteration++;
    u->task_start = e->now;
    if (u->uc->wait.kind == WAIT_PACING || u->uc->wait.kind == WAIT_THROUGHPUT) {
        /* A fixed schedule: task k is due at the first task's start + k intervals. A user
         * that fell behind runs its tasks back to back until it is on time again. */
        u->intended = u->next_intended > 0 && u->next_intended <= e->now ? u->next_intended
                                                                         : e->now;
        u->next_intended = 0;
    }
    u->did_io = false;
    user_begin(u, PHASE_TASK, u->uc->tasks[t].steps, u->uc->tasks[t].n_steps);
    return true;
}

/* When the next task may start, per the class's wait. */
static double user_next_task_at(engine_t *e, user_t *u)
{
    const wait_spec_t *w = &u->uc->wait;
    switch (w->kind) {
    case WAIT_NONE:
        return e->now;
    case WAIT_CONSTANT:
        return e->now + w->a;
    case WAIT_BETWEEN:
        return e->now + w->a + rng_unit(&e->rng) * (w->b - w->a);
    case WAIT_PACING:
        return u->next_intended = u->intended + w->a;
    case WAIT_THROUGHPUT:
        return u->next_intended = w->a > 0 ? u->intended + 1.0 / w->a : e->now;
    }
    return e->now;
}

/* ---- native transport (http1.h) -------------------------------------------------------- */

/* Plain http requests skip curl unless HERD_TRANSPORT=curl or curl would send them to a
 * proxy. */
static bool native_allowed(void)
{
    const char *t = getenv("HERD_TRANSPORT");
    if (t && strcmp(t, "curl") == 0)
        return false;
    return !request_env_proxy(false);
}

/* Keep engine.fds in step with the user's connection socket, so its events reach it. */
static void native_sync_fd(engine_t *e, user_t *u)
{
    int fd = u->conn.fd;
    if (fd == u->conn_fd)
        return;
    if (u->conn_fd >= 0 && (size_t)u->conn_fd < e->cap_fds && e->fds[u->conn_fd].native == u)
        e->fds[u->conn_fd] = (fdreg_t){ 0 };
    u->conn_fd = -1;
    if (fd < 0)
        return;
    fdreg_t *r = fdreg_get(e, fd);
    if (!r) { /* out of memory: without a registry entry the socket cannot be served */
        http1_close(&u->conn);
        return;
    }
    *r = (fdreg_t){ .native = u };
    u->conn_fd = fd;
}

typedef enum native_result {
    NATIVE_NO,       /* not for the native transport: use curl */
    NATIVE_PENDING,  /* in flight (natively, or handed to curl for a redirect) */
    NATIVE_OK,       /* finished and recorded, passed */
    NATIVE_FAILED,   /* finished and recorded, failed: skip the rest of the task */
} native_result_t;

static native_result_t native_finish(engine_t *e, user_t *u, CURLcode rc)
{
    char msg[512];
    const step_t *st = u->current;
    uint64_t end_ns = mono_ns();
    timer_disarm(e, &u->xfer);
    u->native = false;
    u->current = NULL;
    long status = rc == CURLE_OK ? u->conn.status : 0;
    int ok = request_check(&u->req, st, status, rc, u->vars, NULL, msg, sizeof msg);
    uint64_t us = end_ns > u->native_start_ns ? (end_ns - u->native_start_ns) / 1000u : 0;
    record(e, u, st, us, u->conn.body_bytes, ok < 0 ? msg : NULL);
    return ok < 0 ? NATIVE_FAILED : NATIVE_OK;
}

/* A same-origin redirect goes on natively; another origin is handed to curl, set up as
 * curl would have been for that hop (method, remaining redirects and time). */
static native_result_t native_handoff(engine_t *e, user_t *u, const char *url)
{
    const step_t *st = u->current;
    request_t *r = &u->req;
    request_setup_curl(r, st);
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, REQUEST_MAX_REDIRS - (long)u->redirects);
    if (u->drop_body)
        curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L); /* keeps a custom method's name */
    double left_ms = (u->xfer.at - e->now) * 1000.0;
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, left_ms > 1 ? (long)left_ms : 1L);
    request_forget_curl(r);
    buf_reset(&r->resp);
    r->body_bytes = 0;
    timer_disarm(e, &u->xfer);
    uint64_t now_ns = mono_ns();
    u->handoff_us = now_ns > u->native_start_ns ? (now_ns - u->native_start_ns) / 1000u : 1;
    u->native = false;
    if (curl_multi_add_handle(e->multi, r->easy) != CURLM_OK) {
        u->handoff_us = 0;
        record(e, u, st, 0, 0, "curl_multi_add_handle failed");
        u->current = NULL;
        return NATIVE_FAILED;
    }
    u->in_flight = true;
    return NATIVE_PENDING;
}

/* The connection finished a request (rc HTTP1_DONE): follow a redirect or finish. */
static native_result_t native_advance(engine_t *e, user_t *u)
{
    for (;;) {
        http1_conn_t *c = &u->conn;
        if (c->rc != CURLE_OK || c->status < 300 || c->status >= 400 || c->location.len == 0)
            return native_finish(e, u, c->rc);
        if (u->redirects >= (uint32_t)REQUEST_MAX_REDIRS)
            return native_finish(e, u, CURLE_TOO_MANY_REDIRECTS);
        /* curl (7.88) turns its POST (every step with POSTFIELDS: POST, PUT, PATCH, a
         * body) into a GET on 301, 302 and 303, keeping a custom method's name. */
        const step_t *st = u->current;
        if (request_sends_body(st) &&
            (c->status == 301 || c->status == 302 || c->status == 303))
            u->drop_body = true;
        u->redirects++;
        buf_reset(&u->req.resp);
        int where = http1_resolve_location(c->origin ? c->origin : e->origin[u->cls],
                                           u->target.data ? u->target.data : "/",
                                           c->location.data, &u->next_target);
        if (!u->next_target.data)
            return native_finish(e, u, CURLE_OUT_OF_MEMORY);
        if (where != 0)
            return native_handoff(e, u, u->next_target.data);
        buf_t t = u->target;
        u->target = u->next_target;
        u->next_target = t;
        const http1_origin_t *o = e->origin[u->cls];
        if (request_wire(&u->req, st, o->host_header, u->target.data, u->target.len,
                         u->drop_body) < 0)
            return native_finish(e, u, CURLE_OUT_OF_MEMORY);
        http1_rc_t rc = http1_send(c, o, u->req.wire.data, u->req.wire.len,
                                   st->method == HTTP_HEAD,
                                   u->req.keep_body ? &u->req.resp : NULL);
        native_sync_fd(e, u);
        if (rc == HTTP1_PENDING)
            return NATIVE_PENDING;
    }
}

/* Send st (rendered in u->req) natively if its URL is plain http on the class's origin. */
static native_result_t native_start(engine_t *e, user_t *u, const step_t *st)
{
    const http1_origin_t *o = e->origin[u->cls];
    const char *target;
    size_t tl;
    if (!o || http1_url_target(o, u->req.url.data, &target, &tl) < 0)
        return NATIVE_NO;
    buf_reset(&u->target);
    if (buf_append(&u->target, target, tl) < 0 ||
        request_wire(&u->req, st, o->host_header, target, tl, false) < 0)
        return NATIVE_NO;
    u->current = st;
    u->native = true;
    u->drop_body = false;
    u->redirects = 0;
    double t = st->timeout_s > 0 ? st->timeout_s : 60.0;
    timer_arm(e, &u->xfer, e->now + t);
    u->native_start_ns = mono_ns();
    http1_rc_t rc = http1_send(&u->conn, o, u->req.wire.data, u->req.wire.len,
                               st->method == HTTP_HEAD, u->req.keep_body ? &u->req.resp : NULL);
    native_sync_fd(e, u);
    if (rc == HTTP1_PENDING)
        return NATIVE_PENDING;
    return native_advance(e, u);
}

static void native_event(engine_t *e, user_t *u, uint32_t events)
{
    bool busy = u->native && http1_busy(&u->conn);
    http1_rc_t rc = http1_on_event(&u->conn, events);
    native_sync_fd(e, u);
    if (!busy || rc == HTTP1_PENDING)
        return;
    if (native_advance(e, u) == NATIVE_FAILED)
        u->pc = u->n_steps;
    else if (u->native || u->in_flight)
        return; /* following a redirect */
    user_run(e, u);
}

static void native_timeout(engine_t *e, user_t *u)
{
    if (!u->native)
        return;
    http1_close(&u->conn);
    native_sync_fd(e, u);
    native_finish(e, u, CURLE_OPERATION_TIMEDOUT);
    u->pc = u->n_steps;
    user_run(e, u);
}

/* Advance u until it waits on a transfer or a timer, or is gone (freed: do not touch u
 * after this returns unless you know it still exists). */
static void user_run(engine_t *e, user_t *u)
{
    char msg[512];
    for (;;) {
        if (u->pc < u->n_steps) {
            const step_t *st = &u->steps[u->pc++];
            if (st->kind == STEP_SLEEP) {
                if (st->sleep_s > 0) {
                    timer_arm(e, &u->wake, e->now + st->sleep_s);
                    return;
                }
                continue;
            }
            if (request_render(&u->req, st, e->class_host[u->cls], &u->env, msg,
                               sizeof msg) < 0) {
                /* Nothing was sent: a request and a failure, 0 ms, on the step's row. */
                record(e, u, st, 0, 0, msg);
                u->pc = u->n_steps;
                continue;
            }
            native_result_t nr = native_start(e, u, st);
            if (nr == NATIVE_PENDING) {
                u->did_io = true;
                return;
            }
            if (nr == NATIVE_FAILED) {
                u->pc = u->n_steps; /* finished at once (connection refused): skip the rest */
                continue;
            }
            if (nr == NATIVE_OK)
                continue;
            request_setup_curl(&u->req, st);
            if (curl_multi_add_handle(e->multi, u->req.easy) != CURLM_OK) {
                record(e, u, st, 0, 0, "curl_multi_add_handle failed");
                u->pc = u->n_steps;
                continue;
            }
            u->current = st;
            u->in_flight = true;
            u->did_io = true;
            return;
        }
        /* The sequence is over. */
        if (u->phase == PHASE_ON_STOP) {
            user_exit(e, u);
            return;
        }
        if (u->stopping) {
            user_begin(u, PHASE_ON_STOP, u->uc->on_stop, u->uc->n_on_stop);
            continue;
        }
        if (u->phase == PHASE_TASK) {
            double at = user_next_task_at(e, u);
            /* A task that sent nothing (template errors) yields to the loop once, so a
             * user failing without I/O cannot starve the others. */
            if (at > e->now || !u->did_io) {
                u->waiting = true;
                timer_arm(e, &u->wake, at > e->now ? at : e->now);
                return;
            }
        }
        if (!user_start_task(e, u))
            return;
    }
}

static void user_wake(engine_t *e, user_t *u)
{
    if (u->waiting) {
        u->waiting = false;
        if (!user_start_task(e, u))
            return;
    }
    user_run(e, u);
}

static void user_transfer_done(engine_t *e, user_t *u, CURLcode rc)
{
    char msg[512];
    request_result_t res;
    const step_t *st = u->current;
    curl_multi_remove_handle(e->multi, u->req.easy);
    u->in_flight = false;
    u->current = NULL;
    int ok = request_judge(&u->req, st, rc, u->vars, NULL, &res, msg, sizeof msg);
    if (u->handoff_us) { /* a redirect the native transport handed over: one request */
        res.response_us += u->handoff_us;
        u->handoff_us = 0;
        request_forget_curl(&u->req);
    }
    record(e, u, st, res.response_us, res.bytes, ok < 0 ? msg : NULL);
    if (ok < 0)
        u->pc = u->n_steps; /* skip the rest of the task */
    user_run(e, u);
}

/* Stop u: at once when timeout_s <= 0, else after its task and on_stop, aborted at the
 * deadline. May free u. */
static void user_stop(engine_t *e, user_t *u, double timeout_s)
{
    if (!u->stopping) {
        u->stopping = true;
        e->active[u->cls]--;
    } else if (timeout_s > 0) {
        return; /* already stopping gracefully: keep its deadline */
    }
    if (timeout_s <= 0) {
        user_exit(e, u);
        return;
    }
    timer_arm(e, &u->deadline, e->now + timeout_s);
    if (u->waiting) {
        timer_disarm(e, &u->wake);
        u->waiting = false;
        user_begin(u, PHASE_ON_STOP, u->uc->on_stop, u->uc->n_on_stop);
        user_run(e, u);
    }
}

static int engine_reserve_user(engine_t *e)
{
    if (e->n_users == e->cap_users) {
        size_t cap = e->cap_users ? e->cap_users * 2 : 64;
        user_t **p = realloc(e->users, cap * sizeof *p);
        if (!p)
            return -1;
        e->users = p;
        e->cap_users = cap;
    }
    size_t need = 3 * e->cap_users + 1;
    if (e->cap_heap < need) {
        etimer_t **h = realloc(e->heap, need * sizeof *h);
        if (!h)
            return -1;
        e->heap = h;
        e->cap_heap = need;
    }
    return 0;
}

static int user_spawn(engine_t *e, uint32_t cls)
{
    char msg[256];
    if (engine_reserve_user(e) < 0)
        return -1;
    const user_class_t *uc = &e->sc->classes[cls];
    user_t *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    u->vars = calloc(uc->n_vars ? uc->n_vars : 1, sizeof *u->vars);
    if (!u->vars || request_init(&u->req, u, msg, sizeof msg) < 0) {
        request_free(&u->req);
        free(u->vars);
        free(u);
        return -1;
    }
    curl_easy_setopt(u->req.easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(u->req.easy, CURLOPT_OPENSOCKETDATA, e);
    curl_easy_setopt(u->req.easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(u->req.easy, CURLOPT_CLOSESOCKETDATA, e);
    u->cls = cls;
    u->uc = uc;
    u->wake = (etimer_t){ .pos = TIMER_IDLE, .kind = TIMER_WAKE, .user = u };
    u->deadline = (etimer_t){ .pos = TIMER_IDLE, .kind = TIMER_DEADLINE, .user = u };
    u->xfer = (etimer_t){ .pos = TIMER_IDLE, .kind = TIMER_XFER, .user = u };
    http1_init(&u->conn, e->epfd);
    u->conn_fd = -1;
    buf_init(&u->target);
    buf_init(&u->next_target);
    u->env = (tmpl_env_t){
        .globals = e->cfg.globals,
        .user_vars = u->vars,
        .user_id = e->cfg.index + 1 + e->spawned * e->cfg.n_engines,
        .worker_id = e->cfg.worker_id,
        .iteration = 0,
        .rng = &e->rng,
    };
    e->spawned++;
    u->slot = e->n_users;
    e->users[e->n_users++] = u;
    e->active[cls]++;
    atomic_store_explicit(&e->user_count, (uint32_t)e->n_users, memory_order_relaxed);
    user_begin(u, PHASE_ON_START, uc->on_start, uc->n_on_start);
    user_run(e, u);
    return 0;
}

/* ---- spawning --------------------------------------------------------------------------- */

static uint64_t missing_users(const engine_t *e)
{
    uint64_t n = 0;
    for (size_t c = 0; c < e->n_classes; c++)
        if (e->target[c] > e->active[c])
            n += e->target[c] - e->active[c];
    return n;
}

/* Smooth weighted round-robin over the missing counts: classes interleave in proportion. */
static int spawn_pick_class(engine_t *e)
{
    double total = 0;
    int best = -1;
    for (size_t c = 0; c < e->n_classes; c++) {
        if (e->target[c] <= e->active[c])
            continue;
        double miss = (double)(e->target[c] - e->active[c]);
        total += miss;
        e->credit[c] += miss;
        if (best < 0 || e->credit[c] > e->credit[best])
            best = (int)c;
    }
    if (best >= 0)
        e->credit[best] -= total;
    return best;
}

static void spawn_tick(engine_t *e)
{
    double interval = e->spawn_rate > 0 ? 1.0 / e->spawn_rate : 0;
    while (missing_users(e) > 0 && e->spawn_next <= e->now) {
        int c = spawn_pick_class(e);
        if (c < 0 || user_spawn(e, (uint32_t)c) < 0) {
            e->spawn_next = e->now + 1.0; /* out of memory: retry later */
            break;
        }
        e->spawn_next += interval;
    }
    if (missing_users(e) > 0)
        timer_arm(e, &e->spawn, e->spawn_next);
    else
        timer_disarm(e, &e->spawn);
}

static void apply_target(engine_t *e, const uint32_t *targets, double rate)
{
    memcpy(e->target, targets, e->n_classes * sizeof *e->target);
    e->spawn_rate = rate;
    /* Surplus users: the most recently spawned first (the array is roughly spawn order). */
    for (size_t c = 0; c < e->n_classes; c++) {
        for (size_t i = e->n_users; i-- > 0 && e->active[c] > e->target[c];) {
            if (i >= e->n_users)
                continue;
            user_t *u = e->users[i];
            if (u->cls == c && !u->stopping)
                user_stop(e, u, e->cfg.stop_timeout_s);
        }
    }
    if (missing_users(e) == 0) {
        timer_disarm(e, &e->spawn);
        return;
    }
    if (e->spawn.pos == TIMER_IDLE) {
        memset(e->credit, 0, e->n_classes * sizeof *e->credit);
        e->spawn_next = e->now; /* the first user at once */
        spawn_tick(e);
    } else {
        /* Already spawning: a faster rate takes effect now, not after the old interval. */
        double next = rate > 0 ? e->now + 1.0 / rate : e->now;
        if (next < e->spawn_next) {
            e->spawn_next = next;
            timer_arm(e, &e->spawn, next);
        }
    }
}

static void stop_all(engine_t *e, double timeout_s)
{
    memset(e->target, 0, e->n_classes * sizeof *e->target);
    timer_disarm(e, &e->spawn);
    /* From the end: a user that exits is replaced by the last one, already visited. */
    for (size_t i = e->n_users; i-- > 0;) {
        if (i >= e->n_users)
            continue;
        user_stop(e, e->users[i], timeout_s);
    }
}

/* ---- commands --------------------------------------------------------------------------- */

static void post_cmd(engine_t *e, cmd_t *c)
{
    pthread_mutex_lock(&e->mu);
    if (e->cmd_tail)
        e->cmd_tail->next = c;
    else
        e->cmd_head = c;
    e->cmd_tail = c;
    pthread_mutex_unlock(&e->mu);
    uint64_t one = 1;
    ssize_t n = write(e->evfd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is already non-zero, the engine will wake anyway */
}

static void process_commands(engine_t *e)
{
    uint64_t v;
    ssize_t n = read(e->evfd, &v, sizeof v);
    (void)n;
    pthread_mutex_lock(&e->mu);
    cmd_t *c = e->cmd_head;
    e->cmd_head = e->cmd_tail = NULL;
    pthread_mutex_unlock(&e->mu);
    while (c) {
        cmd_t *next = c->next;
        switch (c->kind) {
        case CMD_TARGET:
            apply_target(e, c->targets, c->rate);
            break;
        case CMD_STOP:
            stop_all(e, e->cfg.stop_timeout_s);
            break;
        }
        free(c);
        c = next;
    }
    serve_flush(e);
    if (atomic_load(&e->quit_requested))
        e->quit = true;
}

/* ---- curl multi-socket glue ------------------------------------------------------------- */

/* Socket registry. A keep-alive connection's socket is handed back to curl's connection cache
 * after every transfer (curl_multi_remove_handle), and curl then tells us CURL_POLL_REMOVE;
 * the next transfer on it asks for CURL_POLL_IN again. Deleting and re-adding it in epoll
 * would cost two epoll_ctl calls a request, so for sockets we opened ourselves
 * (on_open_socket) a REMOVE only marks the socket unwanted and leaves it registered; the next
 * want of the same events costs nothing. An unwanted socket that becomes ready (the server
 * closed an idle connection) is deleted from epoll then, so it cannot spin the loop; curl
 * finds the connection dead when it next checks it. Knowing when our sockets are opened and
 * closed (on_close_socket) is what makes the stale registration safe: a new socket that gets
 * a closed one's number starts unregistered. Sockets curl opens by itself (a resolver's
 * socketpair) are registered and deleted eagerly, as curl asks. */
static fdreg_t *fdreg_get(engine_t *e, curl_socket_t s)
{
    if (s < 0)
        return NULL;
    size_t i = (size_t)s;
    if (i >= e->cap_fds) {
        size_t cap = e->cap_fds ? e->cap_fds : 256;
        while (cap <= i)
            cap *= 2;
        fdreg_t *p = realloc(e->fds, cap * sizeof *p);
        if (!p)
            return NULL;
        memset(p + e->cap_fds, 0, (cap - e->cap_fds) * sizeof *p);
        e->fds = p;
        e->cap_fds = cap;
    }
    return &e->fds[i];
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    (void)purpose;
    engine_t *e = clientp;
    int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    fdreg_t *r = fdreg_get(e, fd);
    if (!r) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    *r = (fdreg_t){ .ours = true };
    return fd;
}

static int on_close_socket(void *clientp, curl_socket_t s)
{
    engine_t *e = clientp;
    if (s >= 0 && (size_t)s < e->cap_fds)
        e->fds[s] = (fdreg_t){ 0 }; /* closing drops it from epoll */
    return close(s);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    engine_t *e = userp;
    fdreg_t *r = fdreg_get(e, s);
    if (!r)
        return -1;
    if (what == CURL_POLL_REMOVE) {
        r->wanted = false;
        if (!r->ours && r->events) {
            epoll_ctl(e->epfd, EPOLL_CTL_DEL, s, NULL);
            r->events = 0;
        }
        return 0;
    }
    uint32_t events =
        ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    r->wanted = true;
    if (r->events == events)
        return 0;
    struct epoll_event ev = { .events = events, .data.fd = s };
    int rc = epoll_ctl(e->epfd, r->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev);
    if (rc < 0 && !r->events && errno == EEXIST)
        rc = epoll_ctl(e->epfd, EPOLL_CTL_MOD, s, &ev);
    else if (rc < 0 && r->events && errno == ENOENT)
        rc = epoll_ctl(e->epfd, EPOLL_CTL_ADD, s, &ev);
    r->events = rc == 0 ? events : 0;
    return rc == 0 ? 0 : -1;
}

/* An event on a socket curl does not want (an idle cached connection): unregister it. */
static bool socket_unwanted(engine_t *e, int fd)
{
    if (fd < 0 || (size_t)fd >= e->cap_fds || e->fds[fd].wanted || !e->fds[fd].ours)
        return false;
    epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    e->fds[fd].events = 0;
    return true;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    engine_t *e = userp;
    e->curl_at = timeout_ms < 0 ? -1.0 : e->now + (double)timeout_ms / 1000.0;
    return 0;
}

static void drain_done(engine_t *e)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(e->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        user_t *u = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&u);
        if (u)
            user_transfer_done(e, u, rc);
        else
            curl_multi_remove_handle(e->multi, easy);
    }
}

static void run_timers(engine_t *e)
{
    /* Only timers due now and present at the start: one re-armed at `now` waits for the next
     * iteration, so sockets and commands are served in between. */
    size_t budget = e->n_heap;
    while (budget-- > 0 && e->n_heap > 0 && e->heap[0]->at <= e->now) {
        etimer_t *t = e->heap[0];
        timer_disarm(e, t);
        switch (t->kind) {
        case TIMER_SPAWN:
            spawn_tick(e);
            break;
        case TIMER_WAKE:
            user_wake(e, t->user);
            break;
        case TIMER_DEADLINE:
            user_exit(e, t->user); /* stop timeout reached: abort, in-flight not counted */
            break;
        case TIMER_XFER:
            native_timeout(e, t->user);
            break;
        }
    }
}

static int loop_timeout_ms(engine_t *e)
{
    double next = e->curl_at;
    if (e->n_heap > 0 && (next < 0 || e->heap[0]->at < next))
        next = e->heap[0]->at;
    if (next < 0)
        return 1000;
    double d = (next - mono_now()) * 1000.0;
    if (d <= 0)
        return 0;
    if (d > 1000)
        return 1000;
    return (int)ceil(d);
}

static void *engine_main(void *arg)
{
    engine_t *e = arg;
    struct epoll_event evs[ENGINE_MAX_EVENTS];
    int running;
    refresh_clock(e);
    while (!e->quit) {
        int timeout = loop_timeout_ms(e);
        /* A saturated loop never waits (timeout 0): it pays nothing for this accounting. */
        double before = timeout ? mono_now() : 0;
        int n = epoll_wait(e->epfd, evs, ENGINE_MAX_EVENTS, timeout);
        refresh_clock(e);
        if (timeout)
            atomic_fetch_add_explicit(&e->idle_us, (uint64_t)((e->now - before) * 1e6),
                                      memory_order_relaxed);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == e->evfd) {
                process_commands(e);
                continue;
            }
            int fd = evs[i].data.fd;
            if (fd >= 0 && (size_t)fd < e->cap_fds && e->fds[fd].native) {
                native_event(e, e->fds[fd].native, evs[i].events);
                continue;
            }
            if (socket_unwanted(e, fd))
                continue;
            int flags = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & EPOLLERR)
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(e->multi, evs[i].data.fd, flags, &running);
        }
        if (e->curl_at >= 0 && e->curl_at <= e->now) {
            e->curl_at = -1;
            curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        drain_done(e);
        run_timers(e);
    }
    stop_all(e, 0);
    return NULL;
}

/* ---- public ----------------------------------------------------------------------------- */

static void engine_free(engine_t *e)
{
    if (!e)
        return;
    for (size_t i = e->n_users; i-- > 0;)
        user_free(e, e->users[i]);
    free(e->users);
    free(e->heap);
    if (e->multi)
        curl_multi_cleanup(e->multi); /* closes cached connections through on_close_socket */
    free(e->fds);
    if (e->epfd >= 0)
        close(e->epfd);
    if (e->evfd >= 0)
        close(e->evfd);
    for (cmd_t *c = e->cmd_head; c;) {
        cmd_t *next = c->next;
        free(c);
        c = next;
    }
    if (e->task_cum)
        for (size_t c = 0; c < e->n_classes; c++)
            free(e->task_cum[c]);
    free(e->task_cum);
    free(e->class_host);
    if (e->origin)
        for (size_t c = 0; c < e->n_classes; c++)
            free(e->origin[c]);
    free(e->origin);
    free(e->target);
    free(e->active);
    free(e->credit);
    stats_free(&e->tables[0]);
    stats_free(&e->tables[1]);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->collect_mu);
    pthread_cond_destroy(&e->cond);
    free(e);
}

int engine_create(const engine_config_t *cfg, engine_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->sc || cfg->sc->n_classes == 0 || cfg->n_engines == 0) {
        snprintf(err, errlen, "engine: invalid configuration");
        return -1;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(global_rc));
        return -1;
    }
    engine_t *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->cfg = *cfg;
    e->sc = cfg->sc;
    e->n_classes = cfg->sc->n_classes;
    e->epfd = e->evfd = -1;
    e->curl_at = -1;
    e->spawn = (etimer_t){ .pos = TIMER_IDLE, .kind = TIMER_SPAWN };
    e->rng = rng_seed((uintptr_t)e ^ (cfg->index + 1));
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->collect_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);

    size_t nc = e->n_classes;
    e->class_host = calloc(nc, sizeof *e->class_host);
    e->task_cum = calloc(nc, sizeof *e->task_cum);
    e->target = calloc(nc, sizeof *e->target);
    e->active = calloc(nc, sizeof *e->active);
    e->credit = calloc(nc, sizeof *e->credit);
    e->origin = calloc(nc, sizeof *e->origin);
    if (!e->class_host || !e->task_cum || !e->target || !e->active || !e->credit ||
        !e->origin)
        goto oom;
    bool native = native_allowed();
    for (size_t c = 0; c < nc; c++) {
        const user_class_t *uc = &e->sc->classes[c];
        e->class_host[c] = scenario_class_host(e->sc, uc, cfg->host_override);
        if (native && e->class_host[c]) {
            char why[300];
            http1_origin_t *o = malloc(sizeof *o);
            if (o && http1_origin_resolve(o, e->class_host[c], why, sizeof why) == 0)
                e->origin[c] = o; /* else: curl resolves and reports, as before */
            else
                free(o);
        }
        e->task_cum[c] = calloc(uc->n_tasks ? uc->n_tasks : 1, sizeof(double));
        if (!e->task_cum[c])
            goto oom;
        double sum = 0;
        for (size_t t = 0; t < uc->n_tasks; t++) {
            if (uc->tasks[t].enabled && uc->tasks[t].weight > 0)
                sum += uc->tasks[t].weight;
            e->task_cum[c][t] = sum;
        }
    }
    if (table_init_rows(&e->tables[0], e->sc, err, errlen) < 0 ||
        table_init_rows(&e->tables[1], e->sc, err, errlen) < 0) {
        engine_free(e);
        return -1;
    }
    e->counting = &e->tables[0];
    e->spare = &e->tables[1];

    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->epfd < 0 || e->evfd < 0) {
        snprintf(err, errlen, "engine: epoll/eventfd: %s", strerror(errno));
        engine_free(e);
        return -1;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = e->evfd };
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev) < 0) {
        snprintf(err, errlen, "engine: epoll_ctl: %s", strerror(errno));
        engine_free(e);
        return -1;
    }
    e->multi = curl_multi_init();
    if (!e->multi)
        goto oom;
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, ENGINE_MAX_CONNECTS);

    int rc = pthread_create(&e->thread, NULL, engine_main, e);
    if (rc != 0) {
        snprintf(err, errlen, "engine: pthread_create: %s", strerror(rc));
        engine_free(e);
        return -1;
    }
    e->thread_started = true;
    *out = e;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    engine_free(e);
    return -1;
}

void engine_destroy(engine_t *e)
{
    engine_finish(e, NULL);
}

int engine_finish(engine_t *e, stats_table_t *dst)
{
    if (!e)
        return 0;
    if (e->thread_started) {
        atomic_store(&e->quit_requested, true);
        uint64_t one = 1;
        ssize_t n = write(e->evfd, &one, sizeof one);
        (void)n;
        pthread_join(e->thread, NULL);
        e->thread_started = false;
    }
    /* The thread is gone: whatever it counted and nobody collected is ours to hand over. */
    int rc = 0;
    if (dst && e->published && stats_merge(dst, e->published) < 0)
        rc = -1;
    if (dst && e->counting && e->counting != e->published && stats_merge(dst, e->counting) < 0)
        rc = -1;
    engine_free(e);
    return rc;
}

void engine_set_target(engine_t *e, const uint32_t *users_per_class, double spawn_rate)
{
    cmd_t *c = calloc(1, sizeof *c + e->n_classes * sizeof(uint32_t));
    if (!c)
        return;
    c->kind = CMD_TARGET;
    c->rate = isfinite(spawn_rate) ? spawn_rate : 0;
    memcpy(c->targets, users_per_class, e->n_classes * sizeof(uint32_t));
    post_cmd(e, c);
}

void engine_stop(engine_t *e)
{
    cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->kind = CMD_STOP;
    post_cmd(e, c);
}

double engine_busy(engine_t *e)
{
    double now = mono_now();
    uint64_t idle = atomic_load_explicit(&e->idle_us, memory_order_relaxed);
    double busy = -1;
    if (e->busy_mark_s > 0 && now > e->busy_mark_s) {
        double idle_s = (double)(idle - e->busy_mark_idle_us) / 1e6;
        busy = 1.0 - idle_s / (now - e->busy_mark_s);
        busy = busy < 0 ? 0 : busy > 1 ? 1 : busy;
    }
    e->busy_mark_s = now;
    e->busy_mark_idle_us = idle;
    return busy;
}

uint32_t engine_user_count(const engine_t *e)
{
    return atomic_load_explicit(&((engine_t *)e)->user_count, memory_order_relaxed);
}

int engine_collect(engine_t *e, stats_table_t *dst, int timeout_ms)
{
    pthread_mutex_lock(&e->collect_mu);
    pthread_mutex_lock(&e->mu);
    uint64_t want = ++e->flush_req;
    pthread_mutex_unlock(&e->mu);
    uint64_t one = 1;
    ssize_t w = write(e->evfd, &one, sizeof one);
    (void)w;

    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms < 0)
        timeout_ms = 0;
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    stats_table_t *t = NULL;
    pthread_mutex_lock(&e->mu);
    while (e->flush_done < want) {
        if (pthread_cond_timedwait(&e->cond, &e->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (e->flush_done >= want) {
        t = e->published;
        e->published = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    if (!t) {
        pthread_mutex_unlock(&e->collect_mu);
        return -1;
    }
    int rc = stats_merge(dst, t);
    pthread_mutex_lock(&e->mu);
    if (rc == 0) {
        stats_reset(t);
        e->spare = t;
    } else {
        e->published = t; /* merge failed (out of memory): hand it over again next time */
    }
    pthread_mutex_unlock(&e->mu);
    pthread_mutex_unlock(&e->collect_mu);
    return rc == 0 ? 0 : -1;
}

int engine_run_setup(const engine_config_t *cfg, json_t **globals, char *err, size_t errlen)
{
    const scenario_t *sc = cfg->sc;
    if (sc->n_setup == 0)
        return 0;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(global_rc));
        return -1;
    }
    request_t r;
    char msg[512];
    if (request_init(&r, NULL, msg, sizeof msg) < 0) {
        snprintf(err, errlen, "setup: %s", msg);
        request_free(&r);
        return -1;
    }
    const char *host = scenario_class_host(sc, NULL, cfg->host_override);
    uint64_t rng = rng_seed((uintptr_t)&r);
    tmpl_env_t env = {
        .globals = globals,
        .user_vars = NULL,
        .user_id = 0,
        .worker_id = cfg->worker_id,
        .iteration = 0,
        .rng = &rng,
    };
    int ret = 0;
    for (size_t i = 0; i < sc->n_setup; i++) {
        const step_t *st = &sc->setup[i];
        if (st->kind == STEP_SLEEP) {
            struct timespec ts = { (time_t)st->sleep_s,
                                   (long)((st->sleep_s - floor(st->sleep_s)) * 1e9) };
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
            continue;
        }
        request_result_t res;
        if (request_prepare(&r, st, host, &env, msg, sizeof msg) < 0 ||
            request_judge(&r, st, curl_easy_perform(r.easy), NULL, globals, &res, msg,
                          sizeof msg) < 0) {
            snprintf(err, errlen, "setup step %s %s failed: %s", http_method_names[st->method],
                     st->name, msg);
            ret = -1;
            break;
        }
    }
    request_free(&r);
    return ret;
}
