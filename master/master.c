/*
 * master — herd-master's event loop: the ROUTER socket, the local worker processes, and the
 * loop that decodes each message and hands it to the run (master/run.h), ticks it, and at
 * the end hands it to the results (master/results.h). The run decides; this file only
 * carries messages and time in and out.
 */
#include "master.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/runplan.h"
#include "../common/wire.h"
#include "command.h"
#include "auth.h"
#include "local.h"
#include "results.h"
#include "run.h"
#include "web.h"

#define LOCAL_CONNECT_WAIT_S 15.0   /* local workers that have not said hello by then: error */
#define POLL_MS 100                 /* the run is ticked at least this often */
#define BAD_LOG_INTERVAL_S 10.0     /* at most one line per peer this often about bad messages */
#define BAD_LOG_PEERS 16            /* peers tracked at once; the rest share one entry */
#define BAD_LOG_ID_BYTES 64         /* of a peer's id shown in a line */

/* Bad messages of one peer (or, in the last slot, of every peer not tracked): its first is
 * logged at once; the ones that follow within BAD_LOG_INTERVAL_S are counted and logged as
 * one line when the interval ends, so a flood costs a line per interval, not per message. */
typedef struct bad_peer {
    char id[WIRE_MAX_ID_BYTES + 1];
    size_t id_len;
    bool used;
    double since;          /* start of the current interval */
    uint64_t dropped;      /* bad messages in it not logged yet */
    char last_why[256];    /* the reason of the last of them */
} bad_peer_t;

typedef struct master {
    const master_options_t *o;
    void *zctx, *sock;
    auth_t *auth;             /* --curve-key: CurveZMQ and the refusals' log; NULL: none */
    bad_peer_t bad[BAD_LOG_PEERS + 1]; /* the last one: peers beyond BAD_LOG_PEERS */
    local_workers_t local;    /* started in local mode (no --expect-workers) */
    stage_t *cli_stages;      /* parsed --stages; owned */
    const stage_t *stages;    /* the command line's or the file's; NULL: none */
    size_t n_stages;
    const scenario_t *sc;
    const char *scenario_text;
    run_t run;
    results_t results;
    /* The web UI (without --headless): its threads read run and results holding lock,
     * which the loop holds whenever it is not waiting on the socket. */
    pthread_mutex_t lock;
    web_t *web;
    uint32_t tests_finished;  /* tests whose results are written */
    double next_publish;      /* the next second's event for the page */
    double quit_at;           /* --autoquit with the web UI: quit then (0: not set) */
} master_t;

/* ---- the run's seams ----------------------------------------------------------------- */

static void send_to_worker(void *ctx, const worker_t *w, Herd__Envelope *env)
{
    master_t *m = ctx;
    char err[256];
    if (wire_send(m->sock, w->id, w->id_len, env, err, sizeof err) < 0)
        log_debug("to worker %s: %s", worker_short_id(w), err);
}

static void record_second(void *ctx, run_t *r, int64_t unix_second, double now)
{
    master_t *m = ctx;
    results_second(&m->results, r, unix_second, now);
}

static void print_live_table(void *ctx, run_t *r, double now)
{
    (void)ctx;
    results_live_table(r, now);
}

/* ---- the socket ---------------------------------------------------------------------- */

static int bind_socket(master_t *m, char *err, size_t errlen)
{
    if (m->o->curve_key &&
        !(m->auth = auth_new(m->o->curve_key, m->o->curve_authorized, err, errlen)))
        return -1;
    m->zctx = m->auth ? auth_context(m->auth) : zmq_ctx_new();
    m->sock = m->zctx ? zmq_socket(m->zctx, ZMQ_ROUTER) : NULL;
    if (!m->sock) {
        snprintf(err, errlen, "cannot create the ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (wire_socket_setup(m->sock, err, errlen) < 0)
        return -1;
    if (m->auth && auth_apply(m->auth, m->sock, err, errlen) < 0)
        return -1;
    int one = 1;
    zmq_setsockopt(m->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    char ep[512];
    bool local = m->o->expect_workers == 0;
    if (local && !m->o->bind_port_given)
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:*");
    else
        snprintf(ep, sizeof ep, "tcp://%s:%ld", m->o->bind_host, m->o->bind_port);
    if (!m->auth && !local && !master_bind_is_loopback(m->o->bind_host))
        log_warn("The workers' port %s is open beyond this host without --curve-key: %s", ep,
                 MASTER_INSECURE_WHY);
    if (zmq_bind(m->sock, ep) < 0) {
        int e = zmq_errno();
        if (e == EADDRINUSE)
            snprintf(err, errlen, "--master-bind-port %ld: address already in use (%s)",
                     m->o->bind_port, ep);
        else
            snprintf(err, errlen, "cannot listen on %s: %s", ep, zmq_strerror(e));
        return -1;
    }
    return 0;
}

static int bound_port(master_t *m)
{
    char ep[512];
    size_t len = sizeof ep;
    if (zmq_getsockopt(m->sock, ZMQ_LAST_ENDPOINT, ep, &len) < 0)
        return -1;
    const char *colon = strrchr(ep, ':');
    return colon ? atoi(colon + 1) : -1;
}

/* ---- bad messages -------------------------------------------------------------------- */

static const char *bad_peer_name(const char *id, size_t id_len, char *buf, size_t len)
{
    return id_len ? wire_show_id(id, id_len, BAD_LOG_ID_BYTES, buf, len) : "?";
}

/* End the intervals that are over: one line for what each one counted. */
static void bad_flush(master_t *m, double now, bool all)
{
    char name[4 * BAD_LOG_ID_BYTES + 8];
    for (size_t i = 0; i <= BAD_LOG_PEERS; i++) {
        bad_peer_t *b = &m->bad[i];
        if (!b->used || (!all && now - b->since < BAD_LOG_INTERVAL_S))
            continue;
        if (b->dropped) {
            log_warn("%" PRIu64 " more bad message%s from %s%s%s dropped in the last %.0f s "
                     "(the last: %s)", b->dropped, b->dropped == 1 ? "" : "s",
                     i == BAD_LOG_PEERS ? "other peers (the last from " : "",
                     bad_peer_name(b->id, b->id_len, name, sizeof name), i == BAD_LOG_PEERS ? ")" : "",
                     now - b->since, b->last_why);
            b->dropped = 0;
            b->since = now; /* still bad: the next ones wait for the next interval */
        } else {
            b->used = false; /* quiet for an interval: its next bad message is logged again */
        }
    }
}

static void bad_message(master_t *m, const char *id, size_t id_len, const char *why, double now)
{
    bad_peer_t *b = NULL, *free_slot = NULL;
    for (size_t i = 0; i < BAD_LOG_PEERS && !b; i++) {
        bad_peer_t *p = &m->bad[i];
        if (p->used && p->id_len == id_len && memcmp(p->id, id, id_len) == 0)
            b = p;
        else if (!p->used && !free_slot)
            free_slot = p;
    }
    if (!b && !(b = free_slot))
        b = &m->bad[BAD_LOG_PEERS];
    if (b->used) {
        b->dropped++;
        if (b == &m->bad[BAD_LOG_PEERS]) {
            memcpy(b->id, id, id_len);
            b->id_len = id_len;
        }
        snprintf(b->last_why, sizeof b->last_why, "%s", why);
        return;
    }
    *b = (bad_peer_t){.used = true, .since = now, .id_len = id_len};
    memcpy(b->id, id, id_len);
    char name[4 * BAD_LOG_ID_BYTES + 8];
    log_warn("bad message from %s%s dropped: %s (more from it within %.0f s are counted, "
             "not logged one by one)", b == &m->bad[BAD_LOG_PEERS] ? "another peer, " : "",
             bad_peer_name(id, id_len, name, sizeof name),
             why, BAD_LOG_INTERVAL_S);
}

/* Wait up to POLL_MS for messages and hand each one to the run. -1 with err if polling
 * failed (the run cannot go on). */
static int receive(master_t *m, char *err, size_t errlen)
{
    zmq_pollitem_t items[2] = {{m->sock, 0, ZMQ_POLLIN, 0},
                               {m->auth ? auth_monitor(m->auth) : NULL, 0, ZMQ_POLLIN, 0}};
    pthread_mutex_unlock(&m->lock);
    int n = zmq_poll(items, m->auth ? 2 : 1, POLL_MS);
    pthread_mutex_lock(&m->lock);
    if (n < 0 && zmq_errno() != EINTR) {
        snprintf(err, errlen, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (m->auth)
        auth_on_monitor(m->auth, clock_mono_s());
    n = n > 0 && (items[0].revents & ZMQ_POLLIN);
    for (int i = 0; n > 0 && i < 10000; i++) {
        char id[WIRE_MAX_ID_BYTES + 1];
        size_t id_len = 0;
        bool again;
        char why[256];
        Herd__Envelope *env = wire_recv(m->sock, true, id, &id_len, &again, why, sizeof why);
        if (!env) {
            if (again)
                break;
            bad_message(m, id, id_len, why, clock_mono_s());
            continue;
        }
        run_message(&m->run, id, id_len, env, clock_mono_s());
        wire_free(env);
    }
    bad_flush(m, clock_mono_s(), false);
    return 0;
}

/* ---- local workers ------------------------------------------------------------------- */

/* A local worker that exits before the run starts (or, with the web UI, between tests)
 * will not run the next test: the master fails. */
static void watch_local_workers(master_t *m, double now)
{
    int st;
    if (!m->local.n || (m->run.phase != RUN_WAITING && m->run.phase != RUN_IDLE) ||
        local_workers_poll(&m->local, &st) == 0)
        return;
    char why[256];
    snprintf(why, sizeof why, "a local herd-worker exited (%s %d) before connecting",
             WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    run_fail(&m->run, now, why);
}

/* ---- setup and teardown -------------------------------------------------------------- */

/* The load shape: --stages, else the file's stages:, else none. -1 with err on a bad spec. */
static int choose_stages(master_t *m, const scenario_t *sc, const stage_t **stages,
                         size_t *n, char *err, size_t errlen)
{
    *stages = NULL;
    *n = 0;
    if (m->o->stages) {
        if (stages_parse(m->o->stages, &m->cli_stages, n, err, errlen) < 0)
            return -1;
        *stages = m->cli_stages;
    } else if (sc->n_stages) {
        *stages = sc->stages;
        *n = sc->n_stages;
    }
    return 0;
}

/* Everything before the loop. Returns 0, or the exit code with err: 2 for bad usage
 * (thresholds, stages), 1 when the run cannot happen (socket, workers, memory). */
static int master_open(master_t *m, const master_options_t *o, scenario_t *sc,
                       const char *scenario_text, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->o = o;
    pthread_mutex_init(&m->lock, NULL);
    if (results_init(&m->results, o, sc, err, errlen) < 0)
        return 2;
    run_config_t cfg = {
        .o = o,
        .sc = sc,
        .scenario_text = scenario_text,
        .web = !o->headless,
    };
    run_params_t p = {
        .users = (uint32_t)o->users,
        .spawn_rate = o->spawn_rate,
        .run_time_s = o->run_time_s,
        .host = o->host,
        .tags = o->tags.items,
        .n_tags = o->tags.n,
        .exclude_tags = o->exclude_tags.items,
        .n_exclude_tags = o->exclude_tags.n,
    };
    if (choose_stages(m, sc, &p.stages, &p.n_stages, err, errlen) < 0)
        return 2;
    m->stages = p.stages;
    m->n_stages = p.n_stages;
    m->sc = sc;
    m->scenario_text = scenario_text;
    if (bind_socket(m, err, errlen) < 0)
        return 1;
    if (o->expect_workers > 0) {
        cfg.expect_workers = (size_t)o->expect_workers;
        cfg.connect_wait_s = o->expect_workers_max_wait_s;
        cfg.connect_wait_what = "--expect-workers-max-wait";
        log_info("Waiting for %zu worker(s) on port %d", cfg.expect_workers, bound_port(m));
    } else {
        cfg.expect_workers = (size_t)o->local_workers;
        cfg.connect_wait_s = LOCAL_CONNECT_WAIT_S;
        cfg.connect_wait_what = "local workers";
        if (local_workers_start(&m->local, cfg.expect_workers, bound_port(m), o->worker_threads,
                                o->loglevel, err, errlen) < 0)
            return 1;
    }
    run_io_t io = {
        .ctx = m,
        .send = send_to_worker,
        .each_second = record_second,
        /* With the web UI the page is the live view, as with Locust. */
        .live_table = o->only_summary || !o->headless ? NULL : print_live_table,
    };
    cfg.idle_start = !o->headless && !o->autostart;
    if (run_init(&m->run, &cfg, &io, &p, clock_mono_s(), clock_wall_s(), err, errlen) < 0)
        return 1;
    if (!o->headless) {
        web_source_t src = {.lock = &m->lock, .run = &m->run, .results = &m->results, .o = o,
                            .sc = sc};
        if (web_start(&m->web, o, &src, err, errlen) < 0)
            return 1;
    }
    return 0;
}

static void master_close(master_t *m)
{
    if (m->web)
        web_stop(m->web);   /* before what its threads read goes */
    bad_flush(m, clock_mono_s(), true);
    if (m->local.n)
        local_workers_finish(&m->local, 5.0);
    else if (m->local.pids)
        local_workers_finish(&m->local, 0);
    if (m->sock) {
        int linger = 1000;   /* let Quit reach external workers */
        zmq_setsockopt(m->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(m->sock);
    }
    if (m->auth)
        auth_free(m->auth);   /* ends czmq's context, which the socket was in */
    else if (m->zctx)
        zmq_ctx_term(m->zctx);
    run_free(&m->run);
    results_free(&m->results);
    free(m->cli_stages);
    pthread_mutex_destroy(&m->lock);
}

/* ---- the web UI and the end of each test ------------------------------------------------ */

/* The page's commands, applied in the order they came; the page hears at once. */
static void take_commands(master_t *m, double now)
{
    if (!m->web)
        return;
    command_ctx_t ctx = {.run = &m->run, .results = &m->results, .o = m->o,
                         .scenario_text = m->scenario_text, .stages = m->stages,
                         .n_stages = m->n_stages};
    bool any = false;
    for (web_cmd_t *c; (c = web_next_command(m->web));) {
        command_apply(&ctx, c, now);
        if (c->kind == WEB_CMD_START && c->status == 200)
            m->quit_at = 0;   /* a new test: --autoquit counts from its end */
        web_command_done(m->web, c, c->status, c->message);
        any = true;
    }
    if (any) {
        web_publish(m->web, now);
        m->next_publish = now + 1.0;
    }
}

/* A test ended: its exit code, summary and files, now (with the web UI the master stays for
 * the next test). */
static void finish_tests(master_t *m, double now)
{
    if (m->run.tests_ended == m->tests_finished)
        return;
    m->tests_finished = m->run.tests_ended;
    results_exit_code(&m->results, &m->run);
    results_finish(&m->results, &m->run, now);
    if (m->web && m->o->autoquit_s > 0 && m->run.phase == RUN_IDLE) {
        m->quit_at = now + m->o->autoquit_s;
        log_info("The test is over; exiting in %g s (--autoquit)", m->o->autoquit_s);
    }
    if (m->web)
        web_publish(m->web, now);
}

int master_run(const master_options_t *o, scenario_t *sc, const char *scenario_text,
               volatile sig_atomic_t *interrupted, char *err, size_t errlen)
{
    master_t m;
    int rc = master_open(&m, o, sc, scenario_text, err, errlen);
    if (rc != 0)
        goto out;
    pthread_mutex_lock(&m.lock);
    int signals_seen = 0;
    while (m.run.phase != RUN_DONE) {
        if (receive(&m, err, errlen) < 0) {
            rc = 1;
            break;
        }
        double now = clock_mono_s();
        if (*interrupted > signals_seen) {
            signals_seen = *interrupted;
            run_interrupt(&m.run, now);
        }
        take_commands(&m, now);
        watch_local_workers(&m, now);
        run_tick(&m.run, now);
        finish_tests(&m, now);
        if (m.quit_at > 0 && now >= m.quit_at && m.run.phase == RUN_IDLE)
            run_quit(&m.run, now);
        if (m.web && now >= m.next_publish) {
            web_publish(m.web, now);
            m.next_publish = now + 1.0;
        }
    }
    if (rc == 0) {
        if (m.run.tests_ended == m.tests_finished && !m.run.started)
            results_exit_code(&m.results, &m.run);   /* no test ran: failed or nothing */
        rc = m.results.exit_code;
        if (m.run.failed)
            snprintf(err, errlen, "%s", m.run.err);
    }
    pthread_mutex_unlock(&m.lock);
out:
    master_close(&m);
    return rc;
}
