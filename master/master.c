#include "master.h"

#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/stats.h"
#include "../common/stats_wire.h"
#include "../common/wire.h"
#include "console.h"
#include "../common/dispatch.h"
#include "local.h"
#include "outputs.h"
#include "registry.h"
#include "window.h"

#define HEARTBEAT_INTERVAL_S 1.0
#define TABLE_INTERVAL_S 2.0
#define LOCAL_CONNECT_WAIT_S 15.0   /* local workers that have not said hello by then: error */
#define FINAL_REPORT_GRACE_S 10.0   /* beyond --stop-timeout, for final reports to arrive */

typedef enum phase {
    PHASE_WAITING,   /* for workers to connect */
    PHASE_RUNNING,   /* users spawning or running */
    PHASE_STOPPING,  /* Stop sent, collecting final reports */
    PHASE_DONE,
} phase_t;

typedef struct master {
    const master_options_t *o;
    scenario_t *sc;
    const char *scenario_text;
    size_t scenario_len;
    void *zctx, *sock;
    registry_t reg;
    local_workers_t local;
    size_t expect;            /* workers to wait for before starting */
    phase_t phase;
    uint64_t run_id;
    double wait_started, run_started, stop_started, stop_deadline;
    int64_t run_started_unix;
    double run_started_wall, run_ended_wall;
    double run_ended;
    uint32_t *class_users;    /* dispatch_class_counts of -u; owned */
    bool all_spawned_logged;
    stats_table_t stats;      /* the run's merged statistics */
    window_t window;          /* the last seconds, per second, for current figures */
    stats_table_t current;    /* window_sum of the last complete seconds (scratch) */
    stats_table_t corrected;  /* stats_corrected_view of stats, at the end */
    bool has_corrected;       /* the run had users on a schedule */
    double current_s;         /* seconds current covers */
    outputs_t out;            /* history, thresholds, report files */
    double next_snapshot;     /* monotonic: next history row (and CSV rewrite) */
    uint32_t peak_users;
    uint32_t users_at_stop;   /* for the last history row, taken after the stop */
    bool reset_done;          /* --reset-stats applied */
    double rate;              /* spawn rate in force (-r, or the stage's) */
    const stage_t *stages;    /* load shape (--stages or the file's), NULL: none */
    size_t n_stages;
    stage_t *cli_stages;      /* parsed --stages; owned */
    size_t stage_idx;         /* the stage in force */
    double stage_started;     /* monotonic */
    double next_heartbeat, next_table;
    int exit_code;            /* the process's, once decided (for the reports) */
    bool failed;              /* a fatal error ended the run */
    char err[512];
} master_t;

/* ---- sending ------------------------------------------------------------------------- */

static void send_to(master_t *m, worker_t *w, Herd__Envelope *env)
{
    char err[256];
    if (wire_send(m->sock, w->id, w->id_len, env, err, sizeof err) < 0)
        log_debug("to worker %s: %s", worker_short_id(w), err);
}

static void send_welcome(master_t *m, worker_t *w)
{
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Welcome wel = HERD__WELCOME__INIT;
    wel.heartbeat_interval_ms = (uint32_t)(HEARTBEAT_INTERVAL_S * 1000);
    wel.heartbeat_liveness = (uint32_t)m->o->heartbeat_liveness;
    wel.last_applied_seq = w->last_applied;
    env.body_case = HERD__ENVELOPE__BODY_WELCOME;
    env.welcome = &wel;
    send_to(m, w, &env);
}

static void send_simple(master_t *m, worker_t *w, Herd__Envelope__BodyCase which)
{
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Stop stop = HERD__STOP__INIT;
    Herd__Quit quit = HERD__QUIT__INIT;
    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    env.body_case = which;
    switch (which) {
    case HERD__ENVELOPE__BODY_STOP: stop.run_id = m->run_id; env.stop = &stop; break;
    case HERD__ENVELOPE__BODY_QUIT: env.quit = &quit; break;
    case HERD__ENVELOPE__BODY_HEARTBEAT: hb.run_id = m->run_id; env.heartbeat = &hb; break;
    default: return;
    }
    send_to(m, w, &env);
}

static void send_ack(master_t *m, worker_t *w)
{
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Ack ack = HERD__ACK__INIT;
    ack.seq = w->last_applied;
    env.body_case = HERD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    send_to(m, w, &env);
}

static void send_spawn(master_t *m, worker_t *w)
{
    size_t nc = m->sc->n_classes;
    Herd__ClassTarget targets[nc];
    Herd__ClassTarget *tp[nc];
    for (size_t c = 0; c < nc; c++) {
        herd__class_target__init(&targets[c]);
        targets[c].name = m->sc->classes[c].name;
        targets[c].users = w->target[c];
        tp[c] = &targets[c];
    }
    Herd__Spawn sp = HERD__SPAWN__INIT;
    sp.run_id = m->run_id;
    sp.n_targets = nc;
    sp.targets = tp;
    sp.spawn_rate = w->rate;
    sp.host = (char *)(m->o->host ? m->o->host : "");
    sp.scenario_text = (char *)m->scenario_text;
    sp.scenario_name = (char *)m->o->file;
    sp.n_tags = m->o->tags.n;
    sp.tags = m->o->tags.items;
    sp.n_exclude_tags = m->o->exclude_tags.n;
    sp.exclude_tags = m->o->exclude_tags.items;
    sp.stop_timeout_s = m->o->stop_timeout_s;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_SPAWN;
    env.spawn = &sp;
    send_to(m, w, &env);
}

/* ---- the run ------------------------------------------------------------------------- */

static uint32_t worker_target_total(const master_t *m, const worker_t *w)
{
    uint32_t n = 0;
    for (size_t c = 0; c < m->reg.n_classes; c++)
        n += w->target[c];
    return n;
}

/* Hand -u over the active workers; send Spawn to each whose share changed (or all). */
static void rebalance(master_t *m, bool force)
{
    size_t nc = m->sc->n_classes;
    size_t active = registry_count_active(&m->reg);
    if (active == 0) {
        log_warn("no worker left to run the users; waiting for one to connect");
        return;
    }
    uint32_t *plan = calloc(active * nc, sizeof *plan);
    double *rates = calloc(active, sizeof *rates);
    if (!plan || !rates) {
        free(plan);
        free(rates);
        log_error("out of memory dispatching users");
        return;
    }
    dispatch_plan(m->class_users, nc, active, plan);
    dispatch_rates(m->rate, plan, nc, active, rates);
    size_t k = 0;
    for (size_t i = 0; i < m->reg.n; i++) {
        worker_t *w = &m->reg.workers[i];
        if (!worker_is_active(w))
            continue;
        bool changed = force || w->state == WORKER_READY;
        for (size_t c = 0; c < nc; c++) {
            changed |= w->target[c] != plan[k * nc + c];
            w->target[c] = plan[k * nc + c];
        }
        if (rates[k] > 0)
            w->rate = rates[k];
        else if (w->rate <= 0)
            w->rate = m->rate;
        k++;
        if (changed) {
            w->state = WORKER_SPAWNING;
            w->stopped = false;
            send_spawn(m, w);
            log_debug("worker %s: %u users at %.3g/s", worker_short_id(w),
                      worker_target_total(m, w), w->rate);
        }
    }
    m->all_spawned_logged = false;
    free(plan);
    free(rates);
}

/* Make stage i the one in force: its users, its rate. */
static void enter_stage(master_t *m, size_t i, double now)
{
    const stage_t *st = &m->stages[i];
    m->stage_idx = i;
    m->stage_started = now;
    m->rate = st->spawn_rate > 0 ? st->spawn_rate : m->o->spawn_rate;
    dispatch_class_counts(m->sc, st->users, m->class_users);
    log_info("Stage %zu/%zu: %u users at %.2f per second for %.0f s", i + 1, m->n_stages,
             st->users, m->rate, st->duration_s);
}

static void start_run(master_t *m)
{
    m->phase = PHASE_RUNNING;
    m->run_id = (uint64_t)clock_wall_s() * 1000 + 1;
    m->run_started = clock_mono_s();
    m->run_started_unix = (int64_t)clock_wall_s();
    m->run_started_wall = clock_wall_s();
    m->next_table = m->run_started + TABLE_INTERVAL_S;
    m->next_snapshot = m->run_started + 1.0;
    if (m->n_stages) {
        enter_stage(m, 0, m->run_started);
    } else {
        m->rate = m->o->spawn_rate;
        log_info("Ramping to %ld users at a rate of %.2f per second", m->o->users, m->rate);
    }
    rebalance(m, true);
    if (m->o->run_time_s > 0)
        log_info("Run time limit set to %.0f seconds", m->o->run_time_s);
}

static uint32_t running_users(const master_t *m)
{
    uint32_t n = 0;
    for (size_t i = 0; i < m->reg.n; i++)
        if (worker_is_active(&m->reg.workers[i]))
            n += m->reg.workers[i].users;
    return n;
}

static void stop_run(master_t *m, const char *why)
{
    if (m->phase != PHASE_RUNNING && m->phase != PHASE_WAITING) {
        return;
    }
    if (why)
        log_info("%s", why);
    if (m->phase == PHASE_WAITING) {
        m->phase = PHASE_DONE;
        return;
    }
    m->phase = PHASE_STOPPING;
    m->stop_started = clock_mono_s();
    m->users_at_stop = running_users(m);
    m->stop_deadline = m->stop_started + m->o->stop_timeout_s + FINAL_REPORT_GRACE_S;
    for (size_t i = 0; i < m->reg.n; i++) {
        worker_t *w = &m->reg.workers[i];
        if (!worker_is_active(w))
            continue;
        w->state = WORKER_STOPPING;
        w->stopped = false;
        send_simple(m, w, HERD__ENVELOPE__BODY_STOP);
    }
}

static void log_all_spawned(master_t *m)
{
    if (m->all_spawned_logged || m->phase != PHASE_RUNNING)
        return;
    for (size_t i = 0; i < m->reg.n; i++) {
        worker_t *w = &m->reg.workers[i];
        if (worker_is_active(w) && w->state != WORKER_RUNNING)
            return;
    }
    char line[1024];
    size_t off = 0;
    uint64_t total = 0;
    off += (size_t)snprintf(line + off, sizeof line - off, "{");
    for (size_t c = 0; c < m->sc->n_classes && off < sizeof line; c++) {
        off += (size_t)snprintf(line + off, sizeof line - off, "%s\"%s\": %u", c ? ", " : "",
                                m->sc->classes[c].name, m->class_users[c]);
        total += m->class_users[c];
    }
    if (off < sizeof line)
        snprintf(line + off, sizeof line - off, "}");
    log_info("All users spawned: %s (%" PRIu64 " total users)", line, total);
    m->all_spawned_logged = true;
    if (m->o->reset_stats && !m->reset_done) {
        /* As Locust: the ramp-up is not what the run is measuring. */
        log_info("Resetting stats");
        stats_clear(&m->stats);
        window_clear(&m->window);
        for (size_t i = 0; i < m->reg.n; i++)
            m->reg.workers[i].requests = m->reg.workers[i].failures = 0;
        m->reset_done = true;
    }
}

/* ---- receiving ----------------------------------------------------------------------- */

static void on_hello(master_t *m, worker_t *w, const char *id, size_t id_len,
                     const Herd__Hello *h)
{
    bool known = w != NULL;
    if (!w) {
        w = registry_add(&m->reg, id, id_len);
        if (!w) {
            log_error("cannot register worker: out of memory");
            return;
        }
    }
    bool was_missing = known && w->state == WORKER_MISSING;
    snprintf(w->hostname, sizeof w->hostname, "%s", h->hostname ? h->hostname : "");
    w->pid = h->pid;
    w->threads = h->threads;
    w->cores = h->cores ? h->cores : 1;
    w->last_seen = clock_mono_s();
    w->state = WORKER_READY;
    w->stopped = false;
    memset(w->target, 0, m->reg.n_classes * sizeof *w->target);
    if (!known)
        log_info("Worker %s (%s, pid %u, %u threads) connected; %zu worker(s) connected",
                 worker_short_id(w), w->hostname, w->pid, w->threads,
                 registry_count_active(&m->reg));
    else
        log_info("Worker %s %s", worker_short_id(w),
                 was_missing ? "is back after being missing" : "reconnected");
    send_welcome(m, w);
    if (m->phase == PHASE_RUNNING)
        rebalance(m, false);
}

static void on_report(master_t *m, worker_t *w, const Herd__Report *r)
{
    if (r->last_seq < r->first_seq || r->first_seq == 0) {
        log_warn("worker %s: report with bad sequence %" PRIu64 "..%" PRIu64 " dropped",
                 worker_short_id(w), r->first_seq, r->last_seq);
        return;
    }
    if (r->last_seq <= w->last_applied) {
        send_ack(m, w);   /* a resend of what we have: acknowledge again */
        return;
    }
    if (r->first_seq != w->last_applied + 1) {
        log_debug("worker %s: report %" PRIu64 " out of order (have %" PRIu64 "), waiting for resend",
                  worker_short_id(w), r->first_seq, w->last_applied);
        send_ack(m, w);
        return;
    }
    char err[256];
    uint64_t before_req = stats_total_requests(&m->stats);
    uint64_t before_fail = stats_total_failures(&m->stats);
    if (stats_merge_report(&m->stats, r, err, sizeof err) < 0) {
        log_warn("worker %s: invalid report dropped: %s", worker_short_id(w), err);
        /* Acknowledge so the worker does not resend it forever: it was read and refused. */
        w->last_applied = r->last_seq;
        send_ack(m, w);
        return;
    }
    if (window_add_report(&m->window, (int64_t)clock_wall_s(), r, err, sizeof err) < 0)
        log_warn("current figures miss a report: %s", err);
    w->requests += stats_total_requests(&m->stats) - before_req;
    w->failures += stats_total_failures(&m->stats) - before_fail;
    w->last_applied = r->last_seq;
    w->users = r->users;
    send_ack(m, w);
}

static void handle_message(master_t *m, const char *id, size_t id_len, Herd__Envelope *env)
{
    worker_t *w = registry_find(&m->reg, id, id_len);
    if (env->body_case == HERD__ENVELOPE__BODY_HELLO) {
        on_hello(m, w, id, id_len, env->hello);
        return;
    }
    if (!w) {
        log_debug("%s from unknown worker %.8s ignored", wire_body_name(env), id);
        return;
    }
    double now = clock_mono_s();
    if (w->state == WORKER_MISSING) {
        /* It was silent, not gone. Take it back and give it a share again. */
        w->last_seen = now;
        w->state = WORKER_READY;
        memset(w->target, 0, m->reg.n_classes * sizeof *w->target);
        log_info("Worker %s is back after being missing", worker_short_id(w));
        if (m->phase == PHASE_RUNNING)
            rebalance(m, false);
        else if (m->phase == PHASE_STOPPING)
            send_simple(m, w, HERD__ENVELOPE__BODY_STOP);
    }
    w->last_seen = now;
    switch (env->body_case) {
    case HERD__ENVELOPE__BODY_HEARTBEAT:
        w->users = env->heartbeat->users;
        w->cpu_percent = env->heartbeat->cpu_percent;
        /* As Locust: a generator short of CPU measures its own queueing, not the server.
         * It can use at most one core per engine thread; and an engine loop that never
         * waits is saturated even when it shares its core with something else. */
        uint32_t usable = w->threads && w->threads < w->cores ? w->threads : w->cores;
        if (!w->cpu_warned && usable && w->cpu_percent > 90.0 * usable) {
            log_warn("Worker %s is using %.0f %% of the %u core(s) it can use: its requests per "
                     "second and response times are unreliable; add workers or lower the load",
                     worker_short_id(w), w->cpu_percent / usable, usable);
            w->cpu_warned = true;
        } else if (!w->cpu_warned && env->heartbeat->engine_busy > 0.9) {
            log_warn("Worker %s has an engine thread busy %.0f %% of the time: its requests per "
                     "second and response times are unreliable; add workers or lower the load",
                     worker_short_id(w), 100 * env->heartbeat->engine_busy);
            w->cpu_warned = true;
        }
        break;
    case HERD__ENVELOPE__BODY_REPORT:
        on_report(m, w, env->report);
        break;
    case HERD__ENVELOPE__BODY_SPAWNED:
        if (env->spawned->run_id == m->run_id && w->state == WORKER_SPAWNING) {
            w->state = WORKER_RUNNING;
            log_all_spawned(m);
        }
        break;
    case HERD__ENVELOPE__BODY_STOPPED:
        if (env->stopped->run_id == m->run_id) {
            w->stopped = true;
            w->final_seq = env->stopped->final_seq;
            w->state = WORKER_STOPPED;
        }
        break;
    case HERD__ENVELOPE__BODY_ERROR: {
        const char *msg = env->error->message ? env->error->message : "(no message)";
        if (env->error->fatal) {
            snprintf(m->err, sizeof m->err, "worker %s: %s", worker_short_id(w), msg);
            log_error("%s", m->err);
            m->failed = true;
            if (m->phase == PHASE_RUNNING)
                stop_run(m, "Stopping: the run cannot go on");
            else if (m->phase == PHASE_WAITING)
                m->phase = PHASE_DONE;
        } else {
            log_warn("worker %s: %s", worker_short_id(w), msg);
        }
        break;
    }
    default:
        log_warn("worker %s sent %s, which only the master sends; ignored", worker_short_id(w),
                 wire_body_name(env));
    }
}

static void drain_socket(master_t *m)
{
    for (int i = 0; i < 10000; i++) {
        char id[WIRE_MAX_ID_BYTES + 1];
        size_t id_len = 0;
        bool again;
        char err[256];
        Herd__Envelope *env = wire_recv(m->sock, true, id, &id_len, &again, err, sizeof err);
        if (!env) {
            if (again)
                return;
            log_warn("bad message from %.8s dropped: %s", id_len ? id : "?", err);
            continue;
        }
        handle_message(m, id, id_len, env);
        wire_free(env);
    }
}

/* ---- periodic work ------------------------------------------------------------------- */

static void check_liveness(master_t *m, double now)
{
    double limit = (double)m->o->heartbeat_liveness * HEARTBEAT_INTERVAL_S;
    bool lost = false;
    for (size_t i = 0; i < m->reg.n; i++) {
        worker_t *w = &m->reg.workers[i];
        if (!worker_is_active(w) || now - w->last_seen <= limit)
            continue;
        uint32_t had = worker_target_total(m, w);
        w->state = WORKER_MISSING;
        memset(w->target, 0, m->reg.n_classes * sizeof *w->target);
        if (m->phase == PHASE_RUNNING)
            log_warn("Worker %s missing: no heartbeat for %.0f s; its %u users go to the "
                     "remaining %zu worker(s)",
                     worker_short_id(w), now - w->last_seen, had, registry_count_active(&m->reg));
        else
            log_warn("Worker %s missing: no heartbeat for %.0f s", worker_short_id(w),
                     now - w->last_seen);
        lost = true;
    }
    if (lost && m->phase == PHASE_RUNNING)
        rebalance(m, false);
}

static bool stop_complete(master_t *m)
{
    for (size_t i = 0; i < m->reg.n; i++) {
        worker_t *w = &m->reg.workers[i];
        if (!worker_is_active(w))
            continue;
        if (!w->stopped || w->last_applied < w->final_seq)
            return false;
    }
    return true;
}

/* The current figures: the last complete seconds of the window (up to 10, as Locust). */
static void refresh_current(master_t *m, double now)
{
    int64_t now_s = (int64_t)clock_wall_s();
    double elapsed = now - m->run_started;
    int secs = elapsed >= 10 ? 10 : (int)elapsed;
    if (secs < 1)
        secs = 1;
    if (window_sum(&m->window, now_s - secs, now_s, &m->current) < 0)
        log_warn("out of memory computing current figures");
    m->current_s = secs;
}

static report_run_t run_facts(master_t *m, report_worker_t *workers)
{
    report_run_t run;
    memset(&run, 0, sizeof run);
    run.scenario_file = m->o->file;
    run.description = m->sc->description;
    run.host = m->o->host ? m->o->host : m->sc->host;
    run.users = m->o->users;
    run.spawn_rate = m->o->spawn_rate;
    run.run_time_s = m->o->run_time_s;
    run.start_unix = m->run_started_wall;
    run.end_unix = m->run_ended_wall > 0 ? m->run_ended_wall : clock_wall_s();
    run.peak_users = m->peak_users;
    run.exit_code = m->exit_code;
    for (size_t i = 0; i < m->reg.n; i++) {
        const worker_t *w = &m->reg.workers[i];
        workers[i].id = w->id;
        workers[i].hostname = w->hostname;
        workers[i].state = worker_state_name(w->state);
        workers[i].requests = w->requests;
        workers[i].failures = w->failures;
    }
    run.workers = workers;
    run.n_workers = m->reg.n;
    run.corrected = m->has_corrected ? &m->corrected : NULL;
    run.thresholds = m->out.verdicts;
    run.n_thresholds = m->out.n_thresholds;
    return run;
}

static void write_outputs(master_t *m, bool final)
{
    if (!m->o->csv_prefix && !(final && (m->o->json_path || m->o->html_path)))
        return;
    report_worker_t *workers = calloc(m->reg.n ? m->reg.n : 1, sizeof *workers);
    if (!workers)
        return;
    report_run_t run = run_facts(m, workers);
    char err[512];
    if (outputs_write(&m->out, m->o, &m->stats, &run, final, err, sizeof err) < 0)
        log_error("%s", err);
    free(workers);
}

/* Once a second while running: a history row, the CSV files, the next stage. */
static void each_second(master_t *m, double now)
{
    uint32_t users = running_users(m);
    if (users > m->peak_users)
        m->peak_users = users;
    refresh_current(m, now);
    /* Row k is second k of the run, whatever the loop's jitter: no second skipped or doubled. */
    int64_t second = m->run_started_unix + (int64_t)llround(m->next_snapshot - m->run_started);
    if (outputs_snapshot(&m->out, second, users, &m->stats, &m->current, m->current_s) < 0)
        log_warn("out of memory recording the history");
    write_outputs(m, false);
    if (m->n_stages && now - m->stage_started >= m->stages[m->stage_idx].duration_s) {
        if (m->stage_idx + 1 < m->n_stages) {
            enter_stage(m, m->stage_idx + 1, now);
            rebalance(m, true);
        } else {
            stop_run(m, "The last stage is over, stopping test");
        }
    }
}

static void tick(master_t *m, double now)
{
    if (now >= m->next_heartbeat) {
        for (size_t i = 0; i < m->reg.n; i++)
            if (worker_is_active(&m->reg.workers[i]))
                send_simple(m, &m->reg.workers[i], HERD__ENVELOPE__BODY_HEARTBEAT);
        m->next_heartbeat = now + HEARTBEAT_INTERVAL_S;
    }
    check_liveness(m, now);

    if (m->local.n) {
        int st;
        if (local_workers_poll(&m->local, &st) > 0 && m->phase == PHASE_WAITING) {
            snprintf(m->err, sizeof m->err, "a local herd-worker exited (%s %d) before connecting",
                     WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            m->failed = true;
            m->phase = PHASE_DONE;
            return;
        }
    }

    switch (m->phase) {
    case PHASE_WAITING: {
        size_t ready = registry_count_active(&m->reg);
        if (ready >= m->expect) {
            start_run(m);
            break;
        }
        double max_wait = m->local.n ? LOCAL_CONNECT_WAIT_S : m->o->expect_workers_max_wait_s;
        if (max_wait > 0 && now - m->wait_started > max_wait) {
            snprintf(m->err, sizeof m->err,
                     "%s: only %zu of %zu worker(s) connected within %.0f s",
                     m->local.n ? "local workers" : "--expect-workers-max-wait", ready, m->expect,
                     max_wait);
            m->failed = true;
            m->phase = PHASE_DONE;
        }
        break;
    }
    case PHASE_RUNNING:
        if (m->o->run_time_s > 0 && now - m->run_started >= m->o->run_time_s) {
            stop_run(m, "--run-time limit reached, stopping test");
            break;
        }
        if (now >= m->next_snapshot) {
            each_second(m, now);
            m->next_snapshot += 1.0;
            if (m->phase != PHASE_RUNNING)
                break;
        }
        if (!m->o->only_summary && now >= m->next_table) {
            refresh_current(m, now);
            console_print_stats(stdout, &m->stats, &m->current, m->current_s, 0);
            fflush(stdout);
            m->next_table = now + TABLE_INTERVAL_S;
        }
        break;
    case PHASE_STOPPING:
        if (stop_complete(m)) {
            m->phase = PHASE_DONE;
        } else if (now >= m->stop_deadline) {
            for (size_t i = 0; i < m->reg.n; i++) {
                worker_t *w = &m->reg.workers[i];
                if (worker_is_active(w) && (!w->stopped || w->last_applied < w->final_seq))
                    log_warn("Worker %s sent no final report within %.0f s; its last "
                             "second may be missing from the summary",
                             worker_short_id(w), now - m->stop_started);
            }
            m->phase = PHASE_DONE;
        }
        break;
    case PHASE_DONE:
        break;
    }
}

/* ---- setup and teardown -------------------------------------------------------------- */

static int bind_socket(master_t *m, char *err, size_t errlen)
{
    m->zctx = zmq_ctx_new();
    m->sock = m->zctx ? zmq_socket(m->zctx, ZMQ_ROUTER) : NULL;
    if (!m->sock) {
        snprintf(err, errlen, "cannot create the ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (wire_socket_setup(m->sock, err, errlen) < 0)
        return -1;
    int one = 1;
    zmq_setsockopt(m->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    char ep[512];
    bool local = m->o->expect_workers == 0;
    if (local && !m->o->bind_port_given)
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:*");
    else
        snprintf(ep, sizeof ep, "tcp://%s:%ld", m->o->bind_host, m->o->bind_port);
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

static void print_summary(master_t *m)
{
    double elapsed = (m->run_ended > m->run_started ? m->run_ended : clock_mono_s()) - m->run_started;
    console_print_stats(stdout, &m->stats, NULL, 0, elapsed);
    console_print_percentiles(stdout, &m->stats);
    if (m->has_corrected)
        console_print_percentiles_titled(
            stdout, &m->corrected,
            "Response time percentiles, corrected for coordinated omission (from each "
            "request's scheduled start; pacing/throughput users)");
    console_print_failures(stdout, &m->stats);
    fflush(stdout);
}

int master_run(const master_options_t *o, scenario_t *sc, const char *scenario_text,
               size_t scenario_len, volatile sig_atomic_t *interrupted, char *err,
               size_t errlen)
{
    master_t m;
    memset(&m, 0, sizeof m);
    m.o = o;
    m.sc = sc;
    m.scenario_text = scenario_text;
    m.scenario_len = scenario_len;
    registry_init(&m.reg, sc->n_classes);
    stats_init(&m.stats);
    stats_init(&m.current);
    stats_init(&m.corrected);
    window_init(&m.window);
    m.class_users = calloc(sc->n_classes, sizeof *m.class_users);
    int rc = 1;
    if (!m.class_users) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (outputs_init(&m.out, sc, &o->thresholds, err, errlen) < 0) {
        rc = 2;
        goto out;
    }
    if (o->stages) {
        if (stages_parse(o->stages, &m.cli_stages, &m.n_stages, err, errlen) < 0) {
            rc = 2;
            goto out;
        }
        m.stages = m.cli_stages;
    } else if (sc->n_stages) {
        m.stages = sc->stages;
        m.n_stages = sc->n_stages;
    }
    dispatch_class_counts(sc, (uint32_t)o->users, m.class_users);
    if (bind_socket(&m, err, errlen) < 0)
        goto out;
    if (o->expect_workers > 0) {
        m.expect = (size_t)o->expect_workers;
        log_info("Waiting for %zu worker(s) on port %d", m.expect, bound_port(&m));
    } else {
        m.expect = (size_t)o->local_workers;
        if (local_workers_start(&m.local, m.expect, bound_port(&m), o->worker_threads,
                                o->loglevel, err, errlen) < 0)
            goto out;
    }
    m.phase = PHASE_WAITING;
    m.wait_started = clock_mono_s();
    m.next_heartbeat = m.wait_started + HEARTBEAT_INTERVAL_S;

    int signals_seen = 0;
    while (m.phase != PHASE_DONE) {
        zmq_pollitem_t item = {m.sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, 100);
        if (n < 0 && zmq_errno() != EINTR) {
            snprintf(err, errlen, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            goto out;
        }
        if (n > 0)
            drain_socket(&m);
        if (*interrupted > signals_seen) {
            signals_seen = *interrupted;
            if (m.phase == PHASE_STOPPING) {
                log_warn("Interrupted again: not waiting for final reports");
                m.phase = PHASE_DONE;
            } else {
                stop_run(&m, "Interrupted: stopping the test");
            }
        }
        tick(&m, clock_mono_s());
    }
    /* The run lasted until the stop; waiting for final reports is not part of it. */
    m.run_ended = m.stop_started > 0 ? m.stop_started : clock_mono_s();
    m.run_ended_wall = clock_wall_s() - (clock_mono_s() - m.run_ended);

    for (size_t i = 0; i < m.reg.n; i++)
        if (worker_is_active(&m.reg.workers[i]))
            send_simple(&m, &m.reg.workers[i], HERD__ENVELOPE__BODY_QUIT);

    if (m.failed) {
        snprintf(err, errlen, "%s", m.err);
        rc = 1;
    } else {
        uint64_t fails = stats_total_failures(&m.stats);
        rc = fails ? (int)o->exit_code_on_error : 0;
        if (m.run_started > 0 &&
            outputs_check_thresholds(&m.out, &m.stats, m.run_ended - m.run_started) > 0) {
            for (size_t i = 0; i < m.out.n_thresholds; i++)
                if (!m.out.verdicts[i].passed)
                    log_error("Threshold %s failed: observed %.4g%s%s", m.out.verdicts[i].text,
                              m.out.verdicts[i].observed, *m.out.verdicts[i].unit ? " " : "",
                              m.out.verdicts[i].unit);
            rc = 3;
        }
        log_info("Shutting down (exit code %d)", rc);
    }
    m.exit_code = rc;
    if (m.run_started > 0) {
        m.has_corrected = stats_has_corrected(&m.stats) &&
                          stats_corrected_view(&m.stats, &m.corrected) == 0;
        refresh_current(&m, m.run_ended);
        if (outputs_snapshot(&m.out, (int64_t)m.run_ended_wall, m.users_at_stop, &m.stats,
                             &m.current, m.current_s) < 0)
            log_warn("out of memory recording the history");
        write_outputs(&m, true);
        for (size_t i = 0; i < m.reg.n; i++) {
            worker_t *w = &m.reg.workers[i];
            log_info("Worker %s (%s): %" PRIu64 " requests, %" PRIu64 " failures",
                     worker_short_id(w), worker_state_name(w->state), w->requests, w->failures);
        }
        print_summary(&m);
        outputs_print_thresholds(&m.out, stdout);
        fflush(stdout);
    }

out:
    if (m.local.n)
        local_workers_finish(&m.local, 5.0);
    else if (m.local.pids)
        local_workers_finish(&m.local, 0);
    if (m.sock) {
        int linger = 1000;   /* let Quit reach external workers */
        zmq_setsockopt(m.sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(m.sock);
    }
    if (m.zctx)
        zmq_ctx_term(m.zctx);
    registry_free(&m.reg);
    stats_free(&m.stats);
    stats_free(&m.current);
    stats_free(&m.corrected);
    window_free(&m.window);
    outputs_free(&m.out);
    free(m.cli_stages);
    free(m.class_users);
    return rc;
}
