/*
 * control — herd-worker's control thread. See control.h for the contract; the jobs it must
 * not wait for (a run's preparation, draining engines) are in prep.c.
 */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <curl/curl.h>
#include <zmq.h>

#include "../common/clock.h"
#include "../common/dispatch.h"
#include "../common/log.h"
#include "../common/scenario.h"
#include "../common/stats.h"
#include "../common/stats_wire.h"
#include "../common/vec.h"
#include "../common/wire.h"
#include "datarows.h"
#include "engine.h"
#include "logship.h"
#include "prep.h"

#define REPORT_INTERVAL_S 1.0
#define RESEND_AFTER_S 3.0
#define COLLECT_BUDGET_MS 200   /* a collect round waits this long in all, whatever the
                                   number of engines: the heartbeats must go on */
/* File descriptors a worker needs besides its users' sockets: ZeroMQ's, an epoll set and an
 * eventfd per engine, libcurl's, the log. */
#define FD_RESERVE_BASE 64
#define FD_RESERVE_PER_ENGINE 4
/* Log lines shipped to the master: at most this many a second, in bursts of at most as
 * many (a worker logging in a loop must not flood the master's log or its web page). */
#define LOG_SHIP_PER_S 50

typedef enum run_state {
    RUN_IDLE,       /* no users */
    RUN_SETUP,      /* the prep thread runs the setup steps and creates the engines */
    RUN_SPAWNING,   /* engines started, not all users up yet */
    RUN_RUNNING,    /* all users up */
    RUN_STOPPING,   /* users finishing; then the final report and Stopped */
    RUN_FINISHING,  /* users gone; Stopped goes once every drain has handed its counts over */
} run_state_t;

typedef struct pending {
    uint64_t first_seq, last_seq;
    uint64_t run_id;         /* the run whose users counted it */
    stats_table_t stats;
    double sent_at;          /* monotonic; 0: never sent */
} pending_t;

typedef struct control {
    const worker_options_t *o;
    char id[37];                 /* UUID text: the routing id */
    char hostname[128];
    unsigned threads;
    void *zctx, *sock;
    secure_t secure;             /* CurveZMQ keys and the socket's monitor (o->secure's copy) */
    char endpoint[300];

    /* connection */
    bool welcomed;
    uint64_t session;            /* in every Hello; a new one each time the socket is
                                    reopened, so the master tells a reconnection from the
                                    Hellos one connection attempt queued (herd.proto) */
    double last_from_master;     /* monotonic */
    double unreachable_since;    /* monotonic; when we last had no master */
    double next_hello, next_beat, next_report;
    double interval_s;
    unsigned liveness;
    uint64_t last_acked;

    /* the run */
    run_state_t state;
    uint64_t run_id;
    scenario_t *sc;              /* owned */
    char *scenario_text;         /* owned, to detect a changed scenario */
    char *host;                  /* -H from Spawn, NULL: none; owned */
    json_t **globals;            /* sc->n_globals; owned references */
    datarows_t *rows;            /* the rows of sc's `data:` sets users take; NULL without
                                    data; owned (engines borrow it; a finishing engine gives
                                    nothing back, so a drain may outlive it) */
    engine_t **engines;          /* threads entries; owned */
    uint32_t *target;            /* users per class for this worker; owned */
    double rate;
    double stop_timeout_s;
    double stop_deadline;
    bool stop_when_ready;        /* Stop (or the master lost) while the prep ran */
    prep_t *prep;                /* the run's preparation while it runs; owned until DONE
                                    is taken or it is abandoned */
    struct running_drain {
        drain_t *d;
        uint64_t run_id;         /* the run its engines ran */
    } *drains;                   /* engines being finished, any order; owned */
    size_t n_drains, cap_drains;
    uint64_t fd_limit;           /* RLIMIT_NOFILE; UINT64_MAX: unlimited */
    uint64_t max_users;          /* users this worker can hold: fd_limit less the reserve */

    /* leaving: SIGINT/SIGTERM asked the worker to stop its users and exit */
    bool leaving;
    double leave_deadline;       /* exit then, acknowledged or not */

    /* reports */
    uint64_t next_seq;           /* last seq handed out */
    pending_t *queue;            /* unacknowledged reports, oldest first; owned */
    size_t n_queue, cap_queue;

    double cpu_mark, wall_mark, cpu_percent;

    /* log lines to the master (logship.h) */
    double log_tokens;           /* lines that may go now: LOG_SHIP_PER_S a second, capped */
    double log_mark;             /* monotonic; when log_tokens was last topped up */
    uint64_t log_lost;           /* lines taken but not sent (a failed send), not told yet */
} control_t;

/* ---- sending ------------------------------------------------------------------------- */

static int send_env(control_t *c, Herd__Envelope *env)
{
    char err[256];
    if (wire_send(c->sock, NULL, 0, env, err, sizeof err) < 0) {
        log_debug("%s", err);
        return -1;
    }
    return 0;
}

static void send_hello(control_t *c)
{
    Herd__Hello h = HERD__HELLO__INIT;
    h.worker_id = c->id;
    h.hostname = c->hostname;
    h.threads = c->threads;
    h.pid = (uint32_t)getpid();
    h.last_acked_seq = c->last_acked;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    h.cores = cores > 0 ? (uint32_t)cores : 1;
    h.session = c->session;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_env(c, &env);
}

static uint32_t user_count(const control_t *c)
{
    uint32_t n = 0;
    for (unsigned i = 0; c->engines && i < c->threads; i++)
        n += engine_user_count(c->engines[i]);
    return n;
}

/* Users the engines gave up for want of a unique data row (datarows.h). */
static uint32_t rowless_count(const control_t *c)
{
    uint32_t n = 0;
    for (unsigned i = 0; c->engines && i < c->threads; i++)
        n += engine_rowless_count(c->engines[i]);
    return n;
}

static uint32_t target_total(const control_t *c)
{
    uint32_t n = 0;
    for (size_t k = 0; c->sc && k < c->sc->n_classes; k++)
        n += c->target[k];
    return n;
}

/* The process's resident set size (/proc/self/statm's second field, in pages), 0 if unknown. */
static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return 0;
    unsigned long long size, resident;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

static void send_heartbeat(control_t *c)
{
    static const Herd__WorkerState states[] = {
        HERD__WORKER_STATE__WORKER_STATE_READY, HERD__WORKER_STATE__WORKER_STATE_SPAWNING,
        HERD__WORKER_STATE__WORKER_STATE_SPAWNING, HERD__WORKER_STATE__WORKER_STATE_RUNNING,
        HERD__WORKER_STATE__WORKER_STATE_STOPPING, HERD__WORKER_STATE__WORKER_STATE_STOPPING};
    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    hb.state = states[c->state];
    hb.users = user_count(c);
    hb.cpu_percent = c->cpu_percent;
    for (unsigned i = 0; c->engines && i < c->threads; i++) {
        double b = engine_busy(c->engines[i]);
        if (b > hb.engine_busy)
            hb.engine_busy = b;
    }
    hb.run_id = c->run_id;
    hb.memory_bytes = resident_bytes();
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    send_env(c, &env);
}

static void send_error(control_t *c, const char *msg, bool fatal)
{
    Herd__Error e = HERD__ERROR__INIT;
    e.message = (char *)msg;
    e.fatal = fatal;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_ERROR;
    env.error = &e;
    send_env(c, &env);
}

static void send_report(control_t *c, pending_t *p)
{
    Herd__Report r = HERD__REPORT__INIT;
    if (stats_to_report(&p->stats, &r) < 0) {
        log_error("out of memory building a report; will retry");
        return;
    }
    r.first_seq = p->first_seq;
    r.last_seq = p->last_seq;
    r.run_id = p->run_id;
    r.users = user_count(c);
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_REPORT;
    env.report = &r;
    if (send_env(c, &env) == 0)
        p->sent_at = clock_mono_s();
    stats_report_release(&r);
}

/* Send the log lines queued by logship (warnings and errors from any thread) as one Log
 * message, LOG_SHIP_PER_S a second at most; with one line saying how many were dropped,
 * when some were. Lines wait while there is no master. */
static void ship_logs(control_t *c, double now)
{
    if (now > c->log_mark) {
        c->log_tokens += (now - c->log_mark) * LOG_SHIP_PER_S;
        if (c->log_tokens > LOG_SHIP_PER_S)
            c->log_tokens = LOG_SHIP_PER_S;
        c->log_mark = now;
    }
    if (!c->welcomed || c->log_tokens < 1)
        return;
    logship_line_t lines[LOG_SHIP_PER_S + 1];
    uint64_t dropped = 0;
    size_t n = logship_take(lines, (size_t)c->log_tokens, &dropped);
    dropped += c->log_lost;
    c->log_lost = 0;
    if (dropped) {
        logship_line_t *l = &lines[n++];
        l->level = LOG_WARNING;
        l->unix_s = clock_wall_s();
        snprintf(l->text, sizeof l->text, "%" PRIu64 " log line%s dropped: the worker "
                 "logged faster than its lines could be sent to the master", dropped,
                 dropped == 1 ? "" : "s");
    }
    if (n == 0)
        return;
    Herd__LogLine msgs[LOG_SHIP_PER_S + 1];
    Herd__LogLine *ptrs[LOG_SHIP_PER_S + 1];
    for (size_t i = 0; i < n; i++) {
        herd__log_line__init(&msgs[i]);
        msgs[i].level = (uint32_t)lines[i].level;
        msgs[i].unix_s = lines[i].unix_s;
        msgs[i].text = lines[i].text;
        ptrs[i] = &msgs[i];
    }
    Herd__Log log = HERD__LOG__INIT;
    log.n_lines = n;
    log.lines = ptrs;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_LOG;
    env.log = &log;
    c->log_tokens -= (double)n;
    if (send_env(c, &env) < 0)
        c->log_lost = n - (dropped ? 1 : 0) + dropped;   /* said in the next batch */
}

/* ---- the report queue ---------------------------------------------------------------- */

/* A new report of counts run_id's users made. */
static pending_t *queue_push(control_t *c, uint64_t run_id)
{
    if (VEC_RESERVE(c->queue, c->cap_queue, c->n_queue + 1) < 0)
        return NULL;
    pending_t *p = &c->queue[c->n_queue++];
    memset(p, 0, sizeof *p);
    stats_init(&p->stats);
    p->run_id = run_id;
    return p;
}

/* Drop every report the master has applied (seq <= acked). */
static void queue_ack(control_t *c, uint64_t acked)
{
    if (acked > c->last_acked)
        c->last_acked = acked;
    size_t k = 0;
    while (k < c->n_queue && c->queue[k].last_seq <= acked) {
        stats_free(&c->queue[k].stats);
        k++;
    }
    if (k) {
        memmove(c->queue, c->queue + k, (c->n_queue - k) * sizeof *c->queue);
        c->n_queue -= k;
    }
}

/* p, just pushed and filled, becomes the next report (sent if connected) or, when empty,
 * is dropped again. */
static void queue_commit(control_t *c, pending_t *p)
{
    if (stats_is_empty(&p->stats)) {
        stats_free(&p->stats);
        c->n_queue--;
        return;
    }
    p->first_seq = p->last_seq = ++c->next_seq;
    if (c->welcomed)
        send_report(c, p);
}

/* Take what the engines counted since the last collect and queue it as the next report. */
static void collect_and_send(control_t *c)
{
    if (!c->engines)
        return;
    pending_t *p = queue_push(c, c->run_id);
    if (!p) {
        log_error("out of memory queueing a report; counts stay in the engines");
        return;
    }
    /* Each engine may use an equal share of what is left of the budget: a busy one cannot
     * starve the others of their collect. */
    double deadline = clock_mono_s() + COLLECT_BUDGET_MS / 1000.0;
    for (unsigned i = 0; i < c->threads; i++) {
        int share_ms = (int)((deadline - clock_mono_s()) * 1000 / (c->threads - i));
        if (engine_collect(c->engines[i], &p->stats, share_ms > 0 ? share_ms : 0) < 0)
            log_debug("engine %u busy; its counts come with the next report", i);
    }
    queue_commit(c, p);
}

/* After a (re)welcome: everything the master has not applied goes as one report per run
 * (counts of one run never go as another's: a new master leaves an old run's out), together
 * covering last_applied+1 .. next_seq, so the master's contiguity check holds whatever it
 * lost. */
static void queue_resync(control_t *c, uint64_t last_applied)
{
    queue_ack(c, last_applied);
    if (c->next_seq <= last_applied) {
        c->next_seq = last_applied;   /* a master that saw more than we remember */
        return;
    }
    if (c->n_queue == 0) {
        pending_t *p = queue_push(c, c->run_id);
        if (!p)
            return;
    }
    size_t groups = 0;   /* queue[0 .. groups) are the merged reports */
    size_t k = 0;
    for (; k < c->n_queue; k++) {
        pending_t *g = groups ? &c->queue[groups - 1] : NULL;
        if (g && g->run_id == c->queue[k].run_id) {
            if (stats_merge(&g->stats, &c->queue[k].stats) < 0) {
                log_error("out of memory merging reports");
                break;   /* the rest stays as it is: the seqs still cover everything */
            }
            g->last_seq = c->queue[k].last_seq;
            stats_free(&c->queue[k].stats);
            continue;
        }
        c->queue[groups++] = c->queue[k];
    }
    memmove(c->queue + groups, c->queue + k, (c->n_queue - k) * sizeof *c->queue);
    c->n_queue = groups + (c->n_queue - k);
    c->queue[0].first_seq = last_applied + 1;
    for (size_t j = 1; j < c->n_queue; j++)
        c->queue[j].first_seq = c->queue[j - 1].last_seq + 1;
    c->queue[c->n_queue - 1].last_seq = c->next_seq;
    for (size_t j = 0; j < c->n_queue; j++)
        send_report(c, &c->queue[j]);
}

static void resend_stale(control_t *c, double now)
{
    for (size_t k = 0; k < c->n_queue; k++)
        if (now - c->queue[k].sent_at >= RESEND_AFTER_S)
            send_report(c, &c->queue[k]);
}

/* ---- engines ------------------------------------------------------------------------- */

static void destroy_engines(control_t *c)
{
    if (!c->engines)
        return;
    for (unsigned i = 0; i < c->threads; i++)
        engine_destroy(c->engines[i]);
    free(c->engines);
    c->engines = NULL;
}

/* Take a finished drain's counts as the next report. */
static void collect_drain(control_t *c, drain_t *d, uint64_t run_id)
{
    pending_t *p = queue_push(c, run_id);
    stats_table_t scratch;
    stats_init(&scratch);
    if (drain_take(d, p ? &p->stats : &scratch) < 0 || !p)
        log_error("out of memory: some of the engines' last counts are lost");
    stats_free(&scratch);
    if (p)
        queue_commit(c, p);
}

/* Engines go away (their users aborted) on a drain thread; everything they counted becomes a
 * report when drains_collect finds the drain done. */
static void drain_engines(control_t *c)
{
    if (!c->engines)
        return;
    engine_t **engines = c->engines;
    c->engines = NULL;
    drain_t *d = drain_start(engines, c->threads);
    if (!d)
        return;
    if (VEC_RESERVE(c->drains, c->cap_drains, c->n_drains + 1) < 0) {
        collect_drain(c, d, c->run_id); /* nowhere to keep it: wait for it here */
        return;
    }
    c->drains[c->n_drains++] = (struct running_drain){d, c->run_id};
}

/* Reports from the drains that are done (all of them, waiting, when wait is true). */
static void drains_collect(control_t *c, bool wait)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->n_drains; i++) {
        struct running_drain rd = c->drains[i];
        if (!wait && !drain_done(rd.d))
            c->drains[kept++] = rd;
        else
            collect_drain(c, rd.d, rd.run_id);
    }
    c->n_drains = kept;
}

static void apply_targets(control_t *c)
{
    if (!c->engines)
        return;
    size_t nc = c->sc->n_classes;
    uint32_t *plan = calloc(c->threads * nc, sizeof *plan);
    double *rates = calloc(c->threads, sizeof *rates);
    if (plan && rates) {
        dispatch_plan(c->target, nc, c->threads, plan);
        dispatch_rates(c->rate, plan, nc, c->threads, rates);
        for (unsigned i = 0; i < c->threads; i++)
            engine_set_target(c->engines[i], plan + i * nc, rates[i] > 0 ? rates[i] : c->rate);
    } else {
        log_error("out of memory splitting users over engines");
    }
    free(plan);
    free(rates);
}

/* ---- preparing a run: setup steps and engines, off the control thread (prep.h) ------- */

/* Prepare the run in c on a thread: its setup steps (unless run_setup is false) and its
 * engines. State RUN_SETUP until tick takes the result. */
static int start_prep(control_t *c, bool run_setup, char *err, size_t errlen)
{
    prep_run_t run = { c->sc, c->scenario_text, c->host, c->globals };
    engine_config_t ecfg = { .worker_id = c->id, .stop_timeout_s = c->stop_timeout_s,
                             .rows = c->rows };
    prep_t *p = prep_start(&run, &ecfg, c->threads, run_setup, err, errlen);
    if (!p)
        return -1;
    c->prep = p;
    c->stop_when_ready = false;
    c->state = RUN_SETUP;
    return 0;
}

/* The prep has finished: take its engines (-1 with err when it failed). */
static int take_prep(control_t *c, char *err, size_t errlen)
{
    prep_t *p = c->prep;
    c->prep = NULL;
    return prep_take(p, &c->engines, err, errlen);
}

/* Let go of a prep without waiting for it. If it is still running it keeps the run's
 * scenario, globals and host (c's pointers are cleared) and frees them when it ends; if it
 * has just finished, its engines become c's, to be freed with the run. */
static void abandon_prep(control_t *c)
{
    prep_t *p = c->prep;
    if (!p)
        return;
    c->prep = NULL;
    engine_t **engines;
    if (prep_abandon(p, &engines)) {
        c->sc = NULL;
        c->scenario_text = NULL;
        c->host = NULL;
        c->globals = NULL;
        log_info("The setup still running is abandoned; it ends on its own");
        return;
    }
    c->engines = engines;
}

/* ---- runs ---------------------------------------------------------------------------- */

static void free_run(control_t *c)
{
    abandon_prep(c);
    destroy_engines(c);
    datarows_free(c->rows); /* before the scenario it was made from */
    c->rows = NULL;
    prep_run_t run = { c->sc, c->scenario_text, c->host, c->globals };
    prep_run_free(&run);
    c->sc = NULL;
    c->scenario_text = NULL;
    c->host = NULL;
    c->globals = NULL;
    free(c->target);
    c->target = NULL;
    c->state = RUN_IDLE;
}

/* A new run (or a new scenario): parse it, fill vars, and prepare it (setup, engines) on
 * the prep thread so the heartbeats go on meanwhile. */
static int begin_run(control_t *c, const Herd__Spawn *sp, char *err, size_t errlen)
{
    free_run(c);
    const char *name = sp->scenario_name && *sp->scenario_name ? sp->scenario_name : "scenario";
    const char *text = sp->scenario_text ? sp->scenario_text : "";
    size_t nf = sp->n_files;
    scenario_file_t *files = calloc(nf ? nf : 1, sizeof *files);
    if (!files) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nf; i++) /* borrowed: the loader copies what it takes */
        files[i] = (scenario_file_t){ .name = sp->files[i]->name,
                                      .data = (char *)sp->files[i]->data.data,
                                      .len = sp->files[i]->data.len };
    scenario_source_t src = { .shipped = files, .n_shipped = nf,
                              .tls_ca = sp->tls_ca && *sp->tls_ca ? sp->tls_ca : NULL,
                              .insecure = sp->insecure };
    int rc = scenario_load(text, strlen(text), name, &src, &c->sc, err, errlen);
    free(files);
    if (rc < 0)
        return -1;
    if (scenario_filter_tags(c->sc, sp->tags, sp->n_tags, sp->exclude_tags, sp->n_exclude_tags,
                             err, errlen) < 0)
        return -1;
    c->scenario_text = strdup(text);
    c->host = sp->host && *sp->host ? strdup(sp->host) : NULL;
    c->target = calloc(c->sc->n_classes, sizeof *c->target);
    c->globals = calloc(c->sc->n_globals ? c->sc->n_globals : 1, sizeof *c->globals);
    c->rows = c->sc->n_data ? datarows_new(c->sc) : NULL;
    if (!c->scenario_text || !c->target || !c->globals || (c->sc->n_data && !c->rows)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < c->sc->n_globals; i++)
        if (c->sc->global_init && c->sc->global_init[i])
            c->globals[i] = json_incref(c->sc->global_init[i]);
    c->run_id = sp->run_id;
    c->stop_timeout_s = sp->stop_timeout_s;
    return start_prep(c, true, err, errlen);
}

/* Users this worker cannot hold, as one sentence in err; 0 when it can. Each user needs a
 * socket at least, and a worker past its descriptor limit fails every new connection. */
static int check_capacity(const control_t *c, uint64_t users, char *err, size_t errlen)
{
    if (users <= c->max_users)
        return 0;
    snprintf(err, errlen,
             "%" PRIu64 " users cannot run on this worker: each needs at least one socket, and "
             "its file descriptor limit (RLIMIT_NOFILE, ulimit -n) is %" PRIu64 ", which leaves "
             "room for %" PRIu64 " users. Raise the limit where herd-worker starts (ulimit -n "
             "N, up to the hard limit ulimit -Hn that root, /etc/security/limits.conf or "
             "LimitNOFILE= in a systemd unit set; docker run --ulimit nofile=N), add workers, "
             "or lower -u",
             users, c->fd_limit, c->max_users);
    return -1;
}

static void on_spawn(control_t *c, const Herd__Spawn *sp)
{
    char err[1024];
    bool same_run = c->sc && sp->run_id == c->run_id && c->scenario_text && sp->scenario_text &&
                    strcmp(c->scenario_text, sp->scenario_text) == 0;
    uint64_t asked = 0;
    for (size_t k = 0; k < sp->n_targets; k++)
        asked += sp->targets[k]->users;
    if (check_capacity(c, asked, err, sizeof err) < 0) {
        log_error("%s", err);
        send_error(c, err, true);
        if (!same_run) {
            /* Nothing of this run starts; a Stop for it gets its Stopped at once. */
            drain_engines(c);
            free_run(c);
            c->run_id = sp->run_id;
        }
        return;
    }
    if (!same_run) {
        drain_engines(c);
        if (begin_run(c, sp, err, sizeof err) < 0) {
            log_error("%s", err);
            send_error(c, err, true);
            free_run(c);
            return;
        }
    }
    if (!(sp->spawn_rate > 0) || sp->n_targets != c->sc->n_classes) {
        snprintf(err, sizeof err, "Spawn message with %zu class targets (scenario has %zu) or a "
                 "spawn rate of %g; ignored", sp->n_targets, c->sc->n_classes, sp->spawn_rate);
        log_warn("%s", err);
        send_error(c, err, false);
        return;
    }
    for (size_t k = 0; k < sp->n_targets; k++) {
        const char *nm = sp->targets[k]->name ? sp->targets[k]->name : "";
        if (strcmp(nm, c->sc->classes[k].name) != 0) {
            snprintf(err, sizeof err, "Spawn names class '%s' where the scenario has '%s'", nm,
                     c->sc->classes[k].name);
            send_error(c, err, true);
            return;
        }
        c->target[k] = sp->targets[k]->users;
    }
    for (size_t k = 0; k < sp->n_data_slices; k++) {
        const Herd__DataSlice *ds = sp->data_slices[k];
        if (ds->set >= c->sc->n_data || !c->rows) {
            snprintf(err, sizeof err, "Spawn gives rows of data set %u; the scenario has %zu",
                     ds->set, c->sc->n_data);
            send_error(c, err, true);
            return;
        }
        datarows_own(c->rows, ds->set, ds->first, ds->count);
    }
    c->rate = sp->spawn_rate;
    log_info("Spawning %u users at %.3g/s", target_total(c), c->rate);
    if (c->state == RUN_SETUP) {
        c->stop_when_ready = false;   /* wanted after all (a lost master came back) */
        return;                       /* applied when the prep is done */
    }
    if (!c->engines) {
        /* The same run again after its users were stopped (a lost master came back). */
        if (start_prep(c, false, err, sizeof err) < 0)
            send_error(c, err, true);
        return;
    }
    c->state = RUN_SPAWNING;
    apply_targets(c);
}

/* FINISHING and every drain in: the final report is queued, say Stopped with its seq. */
static void send_stopped_when_drained(control_t *c)
{
    drains_collect(c, false);
    if (c->state != RUN_FINISHING || c->n_drains)
        return;
    Herd__Stopped st = HERD__STOPPED__INIT;
    st.run_id = c->run_id;
    st.final_seq = c->next_seq;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_STOPPED;
    env.stopped = &st;
    send_env(c, &env);
    c->state = RUN_IDLE;
    log_info("Stopped; final report seq %" PRIu64, c->next_seq);
}

/* The users are done (or out of time): the engines go, then Stopped (from tick). */
static void finish_stop(control_t *c)
{
    drain_engines(c);
    c->state = RUN_FINISHING;
    send_stopped_when_drained(c);
}

static void on_stop(control_t *c)
{
    if (c->state == RUN_SETUP) {
        c->stop_when_ready = true;
        return;
    }
    if (!c->engines) {
        finish_stop(c);
        return;
    }
    for (unsigned i = 0; i < c->threads; i++)
        engine_stop(c->engines[i]);
    c->state = RUN_STOPPING;
    c->stop_deadline = clock_mono_s() + c->stop_timeout_s + 2.0;
}

/* The prep thread is done (checked every tick while RUN_SETUP): start the users, or stop. */
static void prep_finished(control_t *c)
{
    char err[512];
    if (take_prep(c, err, sizeof err) < 0) {
        log_error("%s", err);
        send_error(c, err, true);
        c->state = RUN_IDLE;
        if (c->stop_when_ready)
            finish_stop(c);
    } else if (c->stop_when_ready) {
        finish_stop(c);
    } else {
        c->state = RUN_SPAWNING;
        apply_targets(c);
    }
}

/* ---- the connection ------------------------------------------------------------------ */

/* A new session for the Hellos of a new socket: random, never 0, never the last one. */
static void new_session(control_t *c)
{
    uint64_t s = 0;
    while (s == 0 || s == c->session) {
        uuid_t u;
        uuid_generate_random(u);
        memcpy(&s, u, sizeof s);
    }
    c->session = s;
}

/* Connect a new socket (and a new session with it). ZMQ_CONNECT_TIMEOUT: a connection attempt
 * whose packets were lost (a network cut) is given up and made again, not left to TCP's
 * growing SYN retransmission intervals (minutes at worst), so a worker reconnects soon after
 * the network heals. Not ZMQ_IMMEDIATE, though it would keep Hellos from queueing while the
 * connection is being made: with it, ZeroMQ discards the messages not yet read when the peer
 * closes the connection, and a master that sends its last Ack and Quit and exits would leave
 * the worker waiting for them. The master tells those queued Hellos by their session. */
static int open_socket(control_t *c, char *err, size_t errlen)
{
    new_session(c);
    c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
    if (!c->sock) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (wire_socket_setup(c->sock, err, errlen) < 0)
        return -1;
    zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, c->id, strlen(c->id));
    int ivl = 200, connect_timeout_ms = 2000;
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(c->sock, ZMQ_CONNECT_TIMEOUT, &connect_timeout_ms, sizeof connect_timeout_ms);
    if (secure_apply(&c->secure, c->zctx, c->sock, err, errlen) < 0)
        return -1;
    if (zmq_connect(c->sock, c->endpoint) < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static void lost_master(control_t *c, double now)
{
    log_warn("Lost the master (no message for %.0f s); stopping users and reconnecting",
             now - c->last_from_master);
    if (c->state == RUN_SETUP)
        c->stop_when_ready = true;
    drain_engines(c);      /* counts stay queued until a master acknowledges them */
    if (c->state != RUN_SETUP)
        c->state = RUN_IDLE;
    c->welcomed = false;
    c->unreachable_since = now;
    secure_close(&c->secure);
    zmq_close(c->sock);
    char err[256];
    if (open_socket(c, err, sizeof err) < 0)
        log_error("%s", err);
    c->next_hello = now;
}

static void handle(control_t *c, Herd__Envelope *env)
{
    double now = clock_mono_s();
    c->last_from_master = now;
    switch (env->body_case) {
    case HERD__ENVELOPE__BODY_WELCOME: {
        const Herd__Welcome *w = env->welcome;
        if (w->heartbeat_interval_ms >= 100 && w->heartbeat_interval_ms <= 60000)
            c->interval_s = w->heartbeat_interval_ms / 1000.0;
        if (w->heartbeat_liveness >= 1 && w->heartbeat_liveness <= 3600)
            c->liveness = w->heartbeat_liveness;
        if (!c->welcomed)
            log_info("Connected to the master at %s", c->endpoint);
        c->welcomed = true;
        c->unreachable_since = 0;
        queue_resync(c, w->last_applied_seq);
        break;
    }
    case HERD__ENVELOPE__BODY_SPAWN:
        if (c->welcomed && !c->leaving)
            on_spawn(c, env->spawn);
        break;
    case HERD__ENVELOPE__BODY_STOP:
        if (c->welcomed && c->state != RUN_IDLE && c->state != RUN_STOPPING &&
            c->state != RUN_FINISHING)
            on_stop(c);
        else if (c->welcomed && c->state == RUN_IDLE && env->stop->run_id == c->run_id)
            finish_stop(c);   /* already stopped (e.g. after losing the master): say so */
        break;
    case HERD__ENVELOPE__BODY_ACK:
        queue_ack(c, env->ack->seq);
        break;
    case HERD__ENVELOPE__BODY_HEARTBEAT:
        break;
    case HERD__ENVELOPE__BODY_QUIT:
        break;   /* handled by the caller */
    default:
        log_warn("master sent %s, which only workers send; ignored", wire_body_name(env));
    }
}

static void tick(control_t *c, double now)
{
    if (!c->welcomed) {
        if (now >= c->next_hello) {
            send_hello(c);
            c->next_hello = now + c->interval_s;
        }
    } else if (now - c->last_from_master > c->liveness * c->interval_s) {
        lost_master(c, now);
        return;
    }

    if (c->state == RUN_SETUP && c->prep && prep_done(c->prep))
        prep_finished(c);

    uint32_t rowless = c->state == RUN_SPAWNING ? rowless_count(c) : 0;
    if (c->state == RUN_SPAWNING && user_count(c) + rowless >= target_total(c) && c->welcomed) {
        if (rowless)
            log_error("%u of the %u users this worker was given did not start: no unique data "
                      "row was left for them (each logged which data set)", rowless,
                      target_total(c));
        Herd__Spawned sp = HERD__SPAWNED__INIT;
        sp.run_id = c->run_id;
        sp.users = user_count(c);
        Herd__Envelope env = HERD__ENVELOPE__INIT;
        env.body_case = HERD__ENVELOPE__BODY_SPAWNED;
        env.spawned = &sp;
        send_env(c, &env);
        c->state = RUN_RUNNING;
        log_info("All %u users spawned", sp.users);
    }
    /* Before Stopped can go: the lines that say why a run failed reach the master while
     * it still listens to this worker. */
    ship_logs(c, now);
    if (c->state == RUN_STOPPING && (user_count(c) == 0 || now >= c->stop_deadline))
        finish_stop(c);
    send_stopped_when_drained(c);

    /* The heartbeat first: collecting may wait (COLLECT_BUDGET_MS). */
    if (c->welcomed && now >= c->next_beat) {
        double cpu = clock_cpu_s();
        if (c->wall_mark > 0 && now > c->wall_mark)
            c->cpu_percent = 100.0 * (cpu - c->cpu_mark) / (now - c->wall_mark);
        c->cpu_mark = cpu;
        c->wall_mark = now;
        send_heartbeat(c);
        c->next_beat = now + c->interval_s;
    }
    if (now >= c->next_report) {
        collect_and_send(c);
        if (c->welcomed)
            resend_stale(c, now);
        c->next_report = now + REPORT_INTERVAL_S;
    }
}

/* ---- leaving on a signal ------------------------------------------------------------- */

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/* SIGINT/SIGTERM: stop the users as the master's Stop would (--stop-timeout, on_stop), send
 * the final report and Stopped, and exit once the master has acknowledged every report. */
static void begin_leaving(control_t *c, int sig, double now)
{
    c->leaving = true;
    if (!c->welcomed) {
        log_info("%s: no master to report to; exiting", signal_name(sig));
        return;
    }
    log_info("%s: stopping the users (within --stop-timeout %.3g s), sending the final report, "
             "then exiting; %s again exits at once", signal_name(sig), c->stop_timeout_s,
             signal_name(sig));
    char msg[256];
    snprintf(msg, sizeof msg, "got %s: stopping its %u users, sending its final report and "
             "leaving", signal_name(sig), user_count(c));
    send_error(c, msg, false);
    if (c->state == RUN_SETUP) {
        abandon_prep(c);   /* its engines, if it had just finished, are drained below */
        finish_stop(c);
    } else if (c->state == RUN_SPAWNING || c->state == RUN_RUNNING) {
        on_stop(c);
    }
    /* Users get their stop timeout (on_stop adds 2 s), the master a few heartbeats to
     * acknowledge. */
    c->leave_deadline = now + c->stop_timeout_s + 2.0 + c->liveness * c->interval_s;
}

/* Done leaving: users stopped and every report acknowledged, or no master to wait for, or
 * out of time. */
static bool left(control_t *c, double now)
{
    if (!c->leaving)
        return false;
    if (!c->welcomed)
        return true;   /* nobody to report to (any more) */
    bool users_done = c->state == RUN_IDLE;
    if (users_done && c->n_queue == 0)
        return true;
    if (now < c->leave_deadline)
        return false;
    if (!users_done)
        log_warn("Users still stopping at the deadline: aborted");
    return true;
}

/* How many users the file descriptor limit lets this worker hold. main has raised the soft
 * limit to the hard one. */
static void measure_capacity(control_t *c)
{
    struct rlimit rl;
    c->fd_limit = UINT64_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        c->fd_limit = (uint64_t)rl.rlim_cur;
    uint64_t reserve = FD_RESERVE_BASE + (uint64_t)FD_RESERVE_PER_ENGINE * c->threads;
    c->max_users = c->fd_limit > reserve ? c->fd_limit - reserve : 0;
}

int control_run(const worker_options_t *o, const worker_signals_t *signals)
{
    control_t c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.secure = o->secure;
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, c.id);
    gethostname(c.hostname, sizeof c.hostname - 1);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c.threads = (unsigned)(o->threads > 0 ? o->threads : (cores > 0 ? cores : 1));
    c.interval_s = 1.0;
    c.liveness = 3;
    measure_capacity(&c);
    /* The master's host is resolved by ZeroMQ's own I/O thread when it connects (and at
     * every reconnection), never here: a slow DNS delays the connection, not the loop. */
    snprintf(c.endpoint, sizeof c.endpoint, "tcp://%s:%ld", o->master_host, o->master_port);
    char err[512];
    int rc = 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_error("curl_global_init failed");
        return 1;
    }
    c.zctx = zmq_ctx_new();
    if (!c.zctx || open_socket(&c, err, sizeof err) < 0) {
        log_error("%s", err);
        curl_global_cleanup();
        return 1;
    }
    double now = clock_mono_s();
    c.unreachable_since = now;
    c.next_report = now + REPORT_INTERVAL_S;
    log_info("Worker %s (%u engine threads, room for %" PRIu64 " users) connecting to %s", c.id,
             c.threads, c.max_users, c.endpoint);
    c.log_mark = now;
    logship_start();

    int signals_seen = 0;
    for (;;) {
        zmq_pollitem_t items[2] = {{c.sock, 0, ZMQ_POLLIN, 0},
                                   {secure_monitor(&c.secure), 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll(items, items[1].socket ? 2 : 1, 50);
        int poll_errno = n < 0 ? zmq_errno() : 0;   /* before anything else can change it */
        now = clock_mono_s();
        if (n > 0 && items[1].socket && (items[1].revents & ZMQ_POLLIN))
            secure_on_monitor(&c.secure, now);
        n = n > 0 && (items[0].revents & ZMQ_POLLIN);
        if (signals->count > signals_seen) {
            signals_seen = signals->count;
            if (c.leaving) {
                log_warn("%s again: exiting now; %zu report(s) the master has not "
                         "acknowledged are lost", signal_name(signals->last), c.n_queue);
                break;
            }
            begin_leaving(&c, signals->last, now);
        }
        if (n < 0 && poll_errno != EINTR) {
            log_error("zmq_poll: %s", zmq_strerror(poll_errno));
            rc = 1;
            break;
        }
        bool quit = false;
        for (int k = 0; n > 0 && k < 1000; k++) {
            bool again;
            Herd__Envelope *env = wire_recv(c.sock, false, NULL, NULL, &again, err, sizeof err);
            if (!env) {
                if (again)
                    break;
                log_warn("bad message from the master dropped: %s", err);
                continue;
            }
            if (env->body_case == HERD__ENVELOPE__BODY_QUIT)
                quit = true;
            else
                handle(&c, env);
            wire_free(env);
        }
        if (quit) {
            log_info("The master said quit");
            if (c.state == RUN_STOPPING || c.state == RUN_RUNNING || c.state == RUN_SPAWNING)
                finish_stop(&c);
            break;
        }
        now = clock_mono_s();
        if (!c.welcomed && secure_wants_retry(&c.secure, now)) {
            secure_close(&c.secure);   /* refused: ZeroMQ would not try again by itself */
            zmq_close(c.sock);
            if (open_socket(&c, err, sizeof err) < 0)
                log_error("%s", err);
        }
        tick(&c, now);
        if (left(&c, now)) {
            if (c.n_queue)
                log_warn("Exiting with %zu report(s) the master has not acknowledged: its "
                         "summary may miss them", c.n_queue);
            else
                log_info("Final report acknowledged; exiting");
            break;
        }
        if (!c.welcomed && now - c.unreachable_since > o->master_timeout_s) {
            log_error("No master at %s for %.0f s (--master-timeout); exiting", c.endpoint,
                      now - c.unreachable_since);
            rc = 1;
            break;
        }
    }
    logship_stop();
    free_run(&c);
    drains_collect(&c, true);
    free(c.drains);
    queue_ack(&c, UINT64_MAX);
    free(c.queue);
    int linger = 500;
    zmq_setsockopt(c.sock, ZMQ_LINGER, &linger, sizeof linger);
    secure_close(&c.secure);
    zmq_close(c.sock);
    zmq_ctx_term(c.zctx);
    /* An abandoned setup may still be using libcurl: the process exit ends it. */
    if (prep_abandoned_running() == 0)
        curl_global_cleanup();
    return rc;
}
