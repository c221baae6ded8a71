/*
 * run — the master's run as a state machine, driven by messages, ticks and interrupts with
 * the time passed in; see run.h for the contract. Everything the master decides lives here:
 * who is registered and alive, who runs how many users, what is merged and acknowledged,
 * when the run starts, stops and is done. What it says to workers goes through io.send.
 *
 * Single thread, no I/O of its own but logging.
 */
#include "run.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/dispatch.h"
#include "../common/log.h"
#include "../common/stats_wire.h"
#include "../common/wire.h"

/* ---- sending ------------------------------------------------------------------------- */

static void send_welcome(run_t *r, const worker_t *w)
{
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Welcome wel = HERD__WELCOME__INIT;
    wel.heartbeat_interval_ms = (uint32_t)(RUN_HEARTBEAT_INTERVAL_S * 1000);
    wel.heartbeat_liveness = (uint32_t)r->cfg.o->heartbeat_liveness;
    wel.last_applied_seq = w->last_applied;
    env.body_case = HERD__ENVELOPE__BODY_WELCOME;
    env.welcome = &wel;
    r->io.send(r->io.ctx, w, &env);
}

static void send_simple(run_t *r, const worker_t *w, Herd__Envelope__BodyCase which)
{
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Stop stop = HERD__STOP__INIT;
    Herd__Quit quit = HERD__QUIT__INIT;
    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    env.body_case = which;
    switch (which) {
    case HERD__ENVELOPE__BODY_STOP: stop.run_id = r->run_id; env.stop = &stop; break;
    case HERD__ENVELOPE__BODY_QUIT: env.quit = &quit; break;
    case HERD__ENVELOPE__BODY_HEARTBEAT: hb.run_id = r->run_id; env.heartbeat = &hb; break;
    default: return;
    }
    r->io.send(r->io.ctx, w, &env);
}

static void send_ack(run_t *r, const worker_t *w)
{
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Ack ack = HERD__ACK__INIT;
    ack.seq = w->last_applied;
    env.body_case = HERD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    r->io.send(r->io.ctx, w, &env);
}

static void send_spawn(run_t *r, const worker_t *w)
{
    const master_options_t *o = r->cfg.o;
    const scenario_t *sc = r->cfg.sc;
    size_t nc = sc->n_classes;
    Herd__ClassTarget targets[nc];
    Herd__ClassTarget *tp[nc];
    for (size_t c = 0; c < nc; c++) {
        herd__class_target__init(&targets[c]);
        targets[c].name = sc->classes[c].name;
        targets[c].users = w->target[c];
        tp[c] = &targets[c];
    }
    size_t nf = sc->n_files;
    Herd__ScenarioFile files[nf ? nf : 1];
    Herd__ScenarioFile *fp[nf ? nf : 1];
    for (size_t i = 0; i < nf; i++) {
        herd__scenario_file__init(&files[i]);
        files[i].name = sc->files[i].name;
        files[i].data.data = (uint8_t *)sc->files[i].data;
        files[i].data.len = sc->files[i].len;
        fp[i] = &files[i];
    }
    Herd__Spawn sp = HERD__SPAWN__INIT;
    sp.run_id = r->run_id;
    sp.n_files = nf;
    sp.files = fp;
    sp.n_targets = nc;
    sp.targets = tp;
    sp.spawn_rate = w->rate;
    sp.host = (char *)(r->p.host ? r->p.host : "");
    sp.scenario_text = (char *)r->cfg.scenario_text;
    sp.scenario_name = (char *)o->file;
    sp.n_tags = r->p.n_tags;
    sp.tags = (char **)r->p.tags;
    sp.n_exclude_tags = r->p.n_exclude_tags;
    sp.exclude_tags = (char **)r->p.exclude_tags;
    sp.stop_timeout_s = o->stop_timeout_s;
    sp.tls_ca = (char *)(o->tls_ca ? o->tls_ca : "");
    sp.insecure = o->insecure;
    const rowslice_t *slices;
    size_t n_slices;
    if (rowshare_grant(&r->rows, w->id, w->target, &slices, &n_slices) < 0) {
        log_error("out of memory sharing data rows");
        n_slices = 0;
    }
    Herd__DataSlice ds[n_slices ? n_slices : 1];
    Herd__DataSlice *dsp[n_slices ? n_slices : 1];
    for (size_t i = 0; i < n_slices; i++) {
        herd__data_slice__init(&ds[i]);
        ds[i].set = slices[i].set;
        ds[i].first = slices[i].first;
        ds[i].count = slices[i].count;
        dsp[i] = &ds[i];
    }
    sp.n_data_slices = n_slices;
    sp.data_slices = dsp;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_SPAWN;
    env.spawn = &sp;
    r->io.send(r->io.ctx, w, &env);
}

/* ---- who runs what ------------------------------------------------------------------- */

static uint32_t worker_target_total(const run_t *r, const worker_t *w)
{
    uint32_t n = 0;
    for (size_t c = 0; c < r->reg.n_classes; c++)
        n += w->target[c];
    return n;
}

/* Hand the users in force over the active workers; send Spawn to each whose share changed
 * (or to all when forced). */
static void rebalance(run_t *r, bool force)
{
    size_t nc = r->cfg.sc->n_classes;
    size_t active = registry_count_active(&r->reg);
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
    dispatch_plan(r->class_users, nc, active, plan);
    dispatch_rates(r->rate, plan, nc, active, rates);
    size_t k = 0;
    for (size_t i = 0; i < r->reg.n; i++) {
        worker_t *w = &r->reg.workers[i];
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
            w->rate = r->rate;
        k++;
        if (changed) {
            w->state = WORKER_SPAWNING;
            w->stopped = false;
            w->in_run = true;
            send_spawn(r, w);
            log_debug("worker %s: %u users at %.3g/s", worker_short_id(w),
                      worker_target_total(r, w), w->rate);
        }
    }
    r->all_spawned_logged = false;
    free(plan);
    free(rates);
}

/* Make stage i the one in force: its users, its rate. */
static void enter_stage(run_t *r, size_t i, double now)
{
    const stage_t *st = &r->p.stages[i];
    r->stage_idx = i;
    r->stage_started = now;
    r->rate = st->spawn_rate > 0 ? st->spawn_rate : r->p.spawn_rate;
    dispatch_class_counts(r->cfg.sc, st->users, r->class_users);
    log_info("Stage %zu/%zu: %u users at %.2f per second for %.0f s", i + 1, r->p.n_stages,
             st->users, r->rate, st->duration_s);
}

uint32_t run_users(const run_t *r)
{
    uint32_t n = 0;
    for (size_t i = 0; i < r->reg.n; i++)
        if (worker_is_active(&r->reg.workers[i]))
            n += r->reg.workers[i].users;
    return n;
}

/* ---- phases -------------------------------------------------------------------------- */

static void start_run(run_t *r, double now)
{
    r->phase = RUN_RUNNING;
    r->started = true;
    r->run_started = now;
    r->run_started_wall = run_wall_s(r, now);
    r->run_started_unix = (int64_t)r->run_started_wall;
    r->stats_started_wall = r->run_started_wall;
    /* From the wall clock, so a restarted master's runs differ; above the last test's. */
    uint64_t id = (uint64_t)r->run_started_wall * 1000 + 1;
    r->run_id = id > r->run_id ? id : r->run_id + 1;
    rowshare_reset(&r->rows);
    r->next_table = now + RUN_TABLE_INTERVAL_S;
    r->next_snapshot = now + 1.0;
    if (r->p.n_stages) {
        enter_stage(r, 0, now);
    } else {
        r->rate = r->p.spawn_rate;
        dispatch_class_counts(r->cfg.sc, r->p.users, r->class_users);
        log_info("Ramping to %u users at a rate of %.2f per second", r->p.users, r->rate);
    }
    rebalance(r, true);
    if (r->p.run_time_s > 0)
        log_info("Run time limit set to %.0f seconds", r->p.run_time_s);
}

/* Every active worker is told to quit; nothing more happens. */
static void quit_all(run_t *r)
{
    r->phase = RUN_DONE;
    for (size_t i = 0; i < r->reg.n; i++)
        if (worker_is_active(&r->reg.workers[i]))
            send_simple(r, &r->reg.workers[i], HERD__ENVELOPE__BODY_QUIT);
}

/* The test is over: its length is fixed. With the web UI the workers stay for the next
 * test (IDLE), unless an interrupt asked to quit; else they are told to quit (DONE). */
static void end_run(run_t *r, double now)
{
    r->run_ended = r->stop_begun ? r->stop_started : now;
    r->run_ended_wall = run_wall_s(r, r->run_ended);
    if (r->started)
        r->tests_ended++;
    if (r->cfg.web && !r->quitting && !(r->failed && !r->started)) {
        r->phase = RUN_IDLE;
        for (size_t i = 0; i < r->reg.n; i++) {
            worker_t *w = &r->reg.workers[i];
            if (worker_is_active(w)) {
                w->state = WORKER_READY;
                w->in_run = false;
                memset(w->target, 0, r->reg.n_classes * sizeof *w->target);
            }
        }
        return;
    }
    quit_all(r);
}

/* Ask one worker for its final report. Only a worker that was given users in this run is
 * asked and waited for: it answers Stop with Stopped and the seq of its final report, even
 * when it lost the master meanwhile (worker/control.c). A worker new to the run has nothing
 * to report and would leave a Stop of another run unanswered, so it is not waited for. */
static void ask_to_stop(run_t *r, worker_t *w)
{
    if (!w->in_run) {
        log_debug("worker %s had no users in this run: no final report to wait for",
                  worker_short_id(w));
        return;
    }
    w->state = WORKER_STOPPING;
    w->stopped = false;
    send_simple(r, w, HERD__ENVELOPE__BODY_STOP);
}

/* Told to stop, and its final report not all applied yet. */
static bool awaiting_final_report(const worker_t *w)
{
    return worker_is_active(w) && (w->state == WORKER_STOPPING || w->state == WORKER_STOPPED) &&
           (!w->stopped || w->last_applied < w->final_seq);
}

static bool stop_complete(const run_t *r)
{
    for (size_t i = 0; i < r->reg.n; i++)
        if (awaiting_final_report(&r->reg.workers[i]))
            return false;
    return true;
}

static void stop_run(run_t *r, double now, const char *why)
{
    if (r->phase != RUN_RUNNING && r->phase != RUN_WAITING)
        return;
    if (why)
        log_info("%s", why);
    if (r->phase == RUN_WAITING) {
        end_run(r, now);
        return;
    }
    r->phase = RUN_STOPPING;
    r->stop_begun = true;
    r->stop_started = now;
    r->users_at_stop = run_users(r);
    r->stop_deadline = now + r->cfg.o->stop_timeout_s + RUN_FINAL_REPORT_GRACE_S;
    for (size_t i = 0; i < r->reg.n; i++)
        if (worker_is_active(&r->reg.workers[i]))
            ask_to_stop(r, &r->reg.workers[i]);
}

/* A worker became active (a Hello, or a message after being missing): running, it gets a
 * share of the users; stopping, it is asked for its final report. One path for both. */
static void admit_worker(run_t *r, worker_t *w)
{
    if (r->phase == RUN_RUNNING)
        rebalance(r, false);
    else if (r->phase == RUN_STOPPING)
        ask_to_stop(r, w);
}

void run_fail(run_t *r, double now, const char *why)
{
    snprintf(r->err, sizeof r->err, "%s", why);
    r->failed = true;
    if (r->phase == RUN_RUNNING)
        stop_run(r, now, "Stopping: the run cannot go on");
    else if (r->phase == RUN_WAITING)
        end_run(r, now);
    else if (r->phase == RUN_IDLE)
        quit_all(r);   /* the web UI's master cannot go on either */
}

void run_interrupt(run_t *r, double now)
{
    r->quitting = true;
    if (r->phase == RUN_IDLE) {
        log_info("Interrupted: quitting");
        quit_all(r);
    } else if (r->phase == RUN_STOPPING) {
        log_warn("Interrupted again: not waiting for final reports");
        end_run(r, now);
    } else {
        stop_run(r, now, "Interrupted: stopping the test");
    }
}

/* As Locust: the ramp-up is not what the run is measuring. The cut is at the next second
 * boundary, where the timeline can cut exactly; what was counted so far goes, and reports
 * still on their way are sorted by on_report. */
static void reset_stats(run_t *r, double now)
{
    double from = ceil(run_wall_s(r, now));
    char when[32];
    time_t t = (time_t)from;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    log_info("Resetting stats: counting the requests completed from %s UTC (unix %.0f), the "
             "first whole second after all users spawned", when, from);
    r->stats_started_wall = from;
    stats_clear(&r->stats);
    window_clear(&r->window);
    for (size_t i = 0; i < r->reg.n; i++)
        r->reg.workers[i].requests = r->reg.workers[i].failures = 0;
    r->reset_done = true;
}

static void log_all_spawned(run_t *r, double now)
{
    if (r->all_spawned_logged || r->phase != RUN_RUNNING)
        return;
    for (size_t i = 0; i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        if (worker_is_active(w) && w->state != WORKER_RUNNING)
            return;
    }
    const scenario_t *sc = r->cfg.sc;
    char line[1024];
    size_t off = 0;
    uint64_t total = 0;
    off += (size_t)snprintf(line + off, sizeof line - off, "{");
    for (size_t c = 0; c < sc->n_classes && off < sizeof line; c++) {
        off += (size_t)snprintf(line + off, sizeof line - off, "%s\"%s\": %u", c ? ", " : "",
                                sc->classes[c].name, r->class_users[c]);
        total += r->class_users[c];
    }
    if (off < sizeof line)
        snprintf(line + off, sizeof line - off, "}");
    log_info("All users spawned: %s (%" PRIu64 " total users)", line, total);
    r->all_spawned_logged = true;
    if (r->cfg.o->reset_stats && !r->reset_done)
        reset_stats(r, now);
}

/* ---- messages ------------------------------------------------------------------------ */

static void on_hello(run_t *r, worker_t *w, const char *id, size_t id_len,
                     const Herd__Hello *h, double now)
{
    bool known = w != NULL;
    if (!w) {
        w = registry_add(&r->reg, id, id_len);
        if (!w) {
            log_error("cannot register worker: out of memory");
            return;
        }
    }
    bool was_missing = known && w->state == WORKER_MISSING;
    if (known && !was_missing && h->session && h->session == w->session) {
        /* A Hello of the connection already taken (sent while it was being made, queued,
         * delivered late): the worker is as it was, its users too. Welcome only: a reset
         * and a Spawn per duplicate would restart its users as many times. */
        w->last_seen = now;
        log_debug("worker %s: Hello of the same session again; welcomed, nothing else",
                  worker_short_id(w));
        send_welcome(r, w);
        return;
    }
    w->session = h->session;
    snprintf(w->hostname, sizeof w->hostname, "%s", h->hostname ? h->hostname : "");
    w->pid = h->pid;
    w->threads = h->threads;
    w->cores = h->cores ? h->cores : 1;
    w->last_seen = now;
    w->state = WORKER_READY;
    w->stopped = false;
    memset(w->target, 0, r->reg.n_classes * sizeof *w->target);
    if (!known)
        log_info("Worker %s (%s, pid %u, %u threads) connected; %zu worker(s) connected",
                 worker_short_id(w), w->hostname, w->pid, w->threads,
                 registry_count_active(&r->reg));
    else
        log_info("Worker %s %s", worker_short_id(w),
                 was_missing ? "is back after being missing" : "reconnected");
    send_welcome(r, w);
    admit_worker(r, w);
}

static int add_to_timeline(stats_table_t *timeline, const stats_table_t *delta)
{
    for (size_t i = 0; i < delta->n_seconds; i++) {
        const stats_second_t *s = &delta->seconds[i];
        if (stats_add_second(timeline, s->unix_second, s->requests, s->failures) < 0)
            return -1;
    }
    return 0;
}

/* After --reset-stats, whether a report goes into the statistics: when at least half of its
 * requests completed at or after the cut. A report is about a second of one worker's work
 * and cannot be split by row, so the statistics are off by less than half a second of each
 * worker's requests, in either direction. */
static bool counts_after_reset(const run_t *r, const stats_table_t *in)
{
    if (!r->reset_done)
        return true;
    int64_t cut = (int64_t)r->stats_started_wall;
    uint64_t before = 0, after = 0;
    for (size_t i = 0; i < in->n_seconds; i++) {
        if (in->seconds[i].unix_second < cut)
            before += in->seconds[i].requests;
        else
            after += in->seconds[i].requests;
    }
    return after >= before;
}

/* The statistics' timeline starts where they do: seconds before the cut go. */
static void drop_seconds_before(stats_table_t *t, int64_t cut)
{
    size_t k = 0;   /* seconds[] is sorted: the ones before the cut are a prefix */
    while (k < t->n_seconds && t->seconds[k].unix_second < cut)
        k++;
    memmove(t->seconds, t->seconds + k, (t->n_seconds - k) * sizeof *t->seconds);
    t->n_seconds -= k;
}

static void on_report(run_t *r, worker_t *w, const Herd__Report *rep, double now)
{
    if (rep->last_seq < rep->first_seq || rep->first_seq == 0) {
        log_warn("worker %s: report with bad sequence %" PRIu64 "..%" PRIu64 " dropped",
                 worker_short_id(w), rep->first_seq, rep->last_seq);
        return;
    }
    if (rep->last_seq <= w->last_applied) {
        send_ack(r, w);   /* a resend of what we have: acknowledge again */
        return;
    }
    if (rep->first_seq != w->last_applied + 1) {
        log_debug("worker %s: report %" PRIu64 " out of order (have %" PRIu64 "), waiting for resend",
                  worker_short_id(w), rep->first_seq, w->last_applied);
        send_ack(r, w);
        return;
    }
    if (r->phase == RUN_IDLE) {
        /* The test is over and its results written: a report that comes now is too late. */
        log_warn("worker %s: report %" PRIu64 " came after the end of the test; left out",
                 worker_short_id(w), rep->last_seq);
        w->last_applied = rep->last_seq;
        send_ack(r, w);
        return;
    }
    if (rep->run_id != r->run_id) {
        /* Counts of another run: the last test's (a late report), or a run of a master
         * this one replaced (a worker that outlived a killed master resends what that
         * master never acknowledged). Read and acknowledged, never counted here. */
        log_warn("worker %s: report %" PRIu64 " counted in another run (%" PRIu64 "); left "
                 "out", worker_short_id(w), rep->last_seq, rep->run_id);
        w->last_applied = rep->last_seq;
        send_ack(r, w);
        return;
    }
    char err[256];
    stats_table_t *in = &r->incoming;
    stats_clear(in);
    if (stats_merge_report(in, rep, err, sizeof err) < 0) {
        log_warn("worker %s: invalid report dropped: %s", worker_short_id(w), err);
        /* Acknowledge so the worker does not resend it forever: it was read and refused. */
        w->last_applied = rep->last_seq;
        send_ack(r, w);
        return;
    }
    bool counted = counts_after_reset(r, in);
    if (counted && stats_merge(&r->stats, in) < 0) {
        /* Not acknowledged: the worker sends it again. */
        log_error("out of memory merging a report of worker %s", worker_short_id(w));
        return;
    }
    if (add_to_timeline(&r->timeline, in) < 0)
        log_warn("out of memory: the history misses a report");
    if (counted) {
        if (r->reset_done)
            drop_seconds_before(&r->stats, (int64_t)r->stats_started_wall);
        if (window_add(&r->window, (int64_t)run_wall_s(r, now), in) < 0)
            log_warn("out of memory: current figures miss a report");
        w->requests += stats_total_requests(in);
        w->failures += stats_total_failures(in);
    } else {
        log_debug("worker %s: report %" PRIu64 " was counted before the reset; left out",
                  worker_short_id(w), rep->last_seq);
    }
    w->last_applied = rep->last_seq;
    w->users = rep->users;
    send_ack(r, w);
}

static void on_heartbeat(worker_t *w, const Herd__Heartbeat *hb)
{
    w->users = hb->users;
    w->cpu_percent = hb->cpu_percent;
    w->memory_bytes = hb->memory_bytes;
    if (w->cpu_warned)
        return;
    /* As Locust: a generator short of CPU measures its own queueing, not the server. It can
     * use at most one core per engine thread; and an engine loop that never waits is
     * saturated even when it shares its core with something else. */
    uint32_t usable = w->threads && w->threads < w->cores ? w->threads : w->cores;
    if (usable && w->cpu_percent > 90.0 * usable) {
        log_warn("Worker %s is using %.0f %% of the %u core(s) it can use: its requests per "
                 "second and response times are unreliable; add workers or lower the load",
                 worker_short_id(w), w->cpu_percent / usable, usable);
        w->cpu_warned = true;
    } else if (hb->engine_busy > 0.9) {
        log_warn("Worker %s has an engine thread busy %.0f %% of the time: its requests per "
                 "second and response times are unreliable; add workers or lower the load",
                 worker_short_id(w), 100 * hb->engine_busy);
        w->cpu_warned = true;
    }
}

/* A worker's warnings and errors (worker/logship.h): kept for the web UI's Logs tab beside
 * the master's own lines. A message beyond wire.h's limits is dropped whole. */
static void on_log(const worker_t *w, const Herd__Log *log)
{
    const char *why = log->n_lines > WIRE_MAX_LOG_LINES ? "too many lines" : NULL;
    for (size_t i = 0; i < log->n_lines && !why; i++) {
        const Herd__LogLine *l = log->lines[i];
        if (l->level > LOG_CRITICAL)
            why = "a level out of range";
        else if (!isfinite(l->unix_s) || l->unix_s < 0)
            why = "a time out of range";
        else if (l->text &&
                 strnlen(l->text, WIRE_MAX_LOG_TEXT_BYTES + 1) > WIRE_MAX_LOG_TEXT_BYTES)
            why = "a line too long";
    }
    if (why) {
        log_warn("worker %s: invalid Log message dropped: %s", worker_short_id(w), why);
        return;
    }
    char source[sizeof ((log_line_t *)0)->source];
    /* a long host name is cut to fit */
    snprintf(source, sizeof source, "worker %.8s (%.45s)", worker_short_id(w), w->hostname);
    for (size_t i = 0; i < log->n_lines; i++)
        log_add_remote(source, (log_level_t)log->lines[i]->level, log->lines[i]->unix_s,
                       log->lines[i]->text ? log->lines[i]->text : "");
}

static void on_error(run_t *r, const worker_t *w, const Herd__Error *e, double now)
{
    const char *msg = e->message ? e->message : "(no message)";
    if (!e->fatal) {
        log_warn("worker %s: %s", worker_short_id(w), msg);
        return;
    }
    char why[sizeof r->err];
    snprintf(why, sizeof why, "worker %s: %s", worker_short_id(w), msg);
    log_error("%s", why);
    run_fail(r, now, why);
}

void run_message(run_t *r, const char *id, size_t id_len, const Herd__Envelope *env,
                 double now)
{
    if (r->phase == RUN_DONE)
        return;
    worker_t *w = registry_find(&r->reg, id, id_len);
    if (env->body_case == HERD__ENVELOPE__BODY_HELLO) {
        on_hello(r, w, id, id_len, env->hello, now);
        return;
    }
    if (!w) {
        log_debug("%s from unknown worker %.8s ignored", wire_body_name(env), id);
        return;
    }
    w->last_seen = now;
    if (w->state == WORKER_MISSING) {
        /* It was silent, not gone. Take it back: a share again, or its final report. */
        w->state = WORKER_READY;
        memset(w->target, 0, r->reg.n_classes * sizeof *w->target);
        log_info("Worker %s is back after being missing", worker_short_id(w));
        admit_worker(r, w);
    }
    switch (env->body_case) {
    case HERD__ENVELOPE__BODY_HEARTBEAT:
        on_heartbeat(w, env->heartbeat);
        break;
    case HERD__ENVELOPE__BODY_REPORT:
        on_report(r, w, env->report, now);
        break;
    case HERD__ENVELOPE__BODY_SPAWNED:
        if (env->spawned->run_id == r->run_id && w->state == WORKER_SPAWNING) {
            w->state = WORKER_RUNNING;
            log_all_spawned(r, now);
        }
        break;
    case HERD__ENVELOPE__BODY_STOPPED:
        if (env->stopped->run_id == r->run_id) {
            w->stopped = true;
            w->final_seq = env->stopped->final_seq;
            w->state = WORKER_STOPPED;
        }
        break;
    case HERD__ENVELOPE__BODY_ERROR:
        on_error(r, w, env->error, now);
        break;
    case HERD__ENVELOPE__BODY_LOG:
        on_log(w, env->log);
        break;
    default:
        log_warn("worker %s sent %s, which only the master sends; ignored", worker_short_id(w),
                 wire_body_name(env));
    }
}

/* ---- time ---------------------------------------------------------------------------- */

static void check_liveness(run_t *r, double now)
{
    double limit = (double)r->cfg.o->heartbeat_liveness * RUN_HEARTBEAT_INTERVAL_S;
    bool lost = false;
    for (size_t i = 0; i < r->reg.n; i++) {
        worker_t *w = &r->reg.workers[i];
        if (!worker_is_active(w) || now - w->last_seen <= limit)
            continue;
        uint32_t had = worker_target_total(r, w);
        w->state = WORKER_MISSING;
        memset(w->target, 0, r->reg.n_classes * sizeof *w->target);
        if (r->phase == RUN_RUNNING)
            log_warn("Worker %s missing: no heartbeat for %.0f s; its %u users go to the "
                     "remaining %zu worker(s)",
                     worker_short_id(w), now - w->last_seen, had, registry_count_active(&r->reg));
        else
            log_warn("Worker %s missing: no heartbeat for %.0f s", worker_short_id(w),
                     now - w->last_seen);
        lost = true;
    }
    if (lost && r->phase == RUN_RUNNING)
        rebalance(r, false);
}

/* The test is over: its length is fixed, every report it will get is in. */
static bool test_over(const run_t *r)
{
    return r->phase == RUN_DONE || (r->phase == RUN_IDLE && r->started);
}

int64_t run_settled_through(const run_t *r, double now)
{
    if (test_over(r))
        return INT64_MAX;
    return (int64_t)floor(run_wall_s(r, now) - 1 - RUN_SETTLE_S);
}

double run_stats_duration_s(const run_t *r, double now)
{
    if (!r->started)
        return 0;
    double end = test_over(r) ? r->run_ended_wall : run_wall_s(r, now);
    return end > r->stats_started_wall ? end - r->stats_started_wall : 0;
}

run_current_t run_current(run_t *r, double now)
{
    /* Rates: the timeline's complete seconds. Once done, every report is in, and the last
     * complete second is the last before the stop. */
    int64_t last = test_over(r) ? (int64_t)floor(r->run_ended_wall) - 1
                                        : run_settled_through(r, now);
    int64_t first = (int64_t)ceil(r->stats_started_wall);
    if (first < last - (RUN_CURRENT_SECONDS - 1))
        first = last - (RUN_CURRENT_SECONDS - 1);
    int64_t n = r->started && last >= first ? last - first + 1 : 0;
    uint64_t requests = 0, failures = 0;
    if (n)
        window_timeline_counts(&r->timeline, first, last + 1, &requests, &failures);

    /* Times and shares: the reports of the last complete seconds of arrival, as many as the
     * statistics have counted (reports that arrived after the stop are in, but the counting
     * lasted until the stop). */
    int64_t now_s = (int64_t)run_wall_s(r, now);
    double counted = run_stats_duration_s(r, now);
    int secs = counted >= RUN_CURRENT_SECONDS ? RUN_CURRENT_SECONDS : (int)counted;
    if (secs < 1)
        secs = 1;
    if (window_sum(&r->window, now_s - secs, now_s, &r->current_times) < 0)
        log_warn("out of memory computing current figures");
    const stats_table_t *shares =
        stats_total_requests(&r->current_times) ? &r->current_times : &r->stats;
    if (window_apportion(shares, requests, failures, &r->current_rates) < 0)
        log_warn("out of memory computing current figures");
    return (run_current_t){ .rates = &r->current_rates, .seconds = (double)n,
                            .times = &r->current_times };
}

bool run_is_live(const run_t *r)
{
    return r->phase == RUN_RUNNING || r->phase == RUN_STOPPING;
}

void run_current_row(const run_current_t *cur, const char *method, const char *name,
                     double *rps, double *fps)
{
    *rps = *fps = 0;
    if (!cur || !(cur->seconds > 0))
        return;
    uint64_t requests, failures;
    if (!method) {
        requests = stats_total_requests(cur->rates);
        failures = stats_total_failures(cur->rates);
    } else {
        long k = stats_find(cur->rates, method, name);
        if (k < 0)
            return;
        requests = cur->rates->entries[k].requests;
        failures = cur->rates->entries[k].failures;
    }
    *rps = (double)requests / cur->seconds;
    *fps = (double)failures / cur->seconds;
}

/* Once a second while running: the peak, the history row (io), the next stage. */
static void each_second(run_t *r, double now)
{
    uint32_t users = run_users(r);
    if (users > r->peak_users)
        r->peak_users = users;
    /* Row k is second k of the run, whatever the loop's jitter: no second skipped or doubled. */
    int64_t second = r->run_started_unix + (int64_t)llround(r->next_snapshot - r->run_started);
    if (r->io.each_second)
        r->io.each_second(r->io.ctx, r, second, now);
    if (r->p.n_stages && now - r->stage_started >= r->p.stages[r->stage_idx].duration_s) {
        if (r->stage_idx + 1 < r->p.n_stages) {
            enter_stage(r, r->stage_idx + 1, now);
            rebalance(r, true);
        } else {
            stop_run(r, now, "The last stage is over, stopping test");
        }
    }
}

static void tick_waiting(run_t *r, double now)
{
    size_t ready = registry_count_active(&r->reg);
    if (ready >= r->cfg.expect_workers) {
        start_run(r, now);
        return;
    }
    double max_wait = r->cfg.connect_wait_s;
    if (max_wait > 0 && now - r->wait_started > max_wait) {
        char why[sizeof r->err];
        snprintf(why, sizeof why, "%s: only %zu of %zu worker(s) connected within %.0f s",
                 r->cfg.connect_wait_what, ready, r->cfg.expect_workers, max_wait);
        if (r->cfg.web && !r->quitting) {
            /* The page stays: this test is given up, the next may find its workers. */
            log_error("%s; the test is given up", why);
            snprintf(r->err, sizeof r->err, "%s", why);
            r->failed = true;
            r->phase = RUN_IDLE;
            return;
        }
        run_fail(r, now, why);
    }
}

static void tick_running(run_t *r, double now)
{
    double limit = r->p.run_time_s;
    if (limit > 0 && now - r->run_started >= limit) {
        stop_run(r, now, "--run-time limit reached, stopping test");
        return;
    }
    if (now >= r->next_snapshot) {
        each_second(r, now);
        r->next_snapshot += 1.0;
        if (r->phase != RUN_RUNNING)
            return;
    }
    if (r->io.live_table && now >= r->next_table) {
        r->io.live_table(r->io.ctx, r, now);
        r->next_table = now + RUN_TABLE_INTERVAL_S;
    }
}

static void tick_stopping(run_t *r, double now)
{
    if (stop_complete(r)) {
        end_run(r, now);
        return;
    }
    if (now < r->stop_deadline)
        return;
    for (size_t i = 0; i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        if (awaiting_final_report(w))
            log_warn("Worker %s sent no final report within %.0f s; its last second may be "
                     "missing from the summary",
                     worker_short_id(w), now - r->stop_started);
    }
    end_run(r, now);
}

void run_tick(run_t *r, double now)
{
    if (r->phase == RUN_DONE)
        return;
    if (now >= r->next_heartbeat) {
        for (size_t i = 0; i < r->reg.n; i++)
            if (worker_is_active(&r->reg.workers[i]))
                send_simple(r, &r->reg.workers[i], HERD__ENVELOPE__BODY_HEARTBEAT);
        r->next_heartbeat = now + RUN_HEARTBEAT_INTERVAL_S;
    }
    check_liveness(r, now);
    switch (r->phase) {
    case RUN_IDLE: break;
    case RUN_WAITING: tick_waiting(r, now); break;
    case RUN_RUNNING: tick_running(r, now); break;
    case RUN_STOPPING: tick_stopping(r, now); break;
    case RUN_DONE: break;
    }
}

/* ---- life ---------------------------------------------------------------------------- */

/* ---- the test's parameters ----------------------------------------------------------- */

static void params_free(run_params_t *p)
{
    free((char *)p->host);
    free((stage_t *)p->stages);
    for (size_t i = 0; i < p->n_tags; i++)
        free(p->tags[i]);
    free((char **)p->tags);
    for (size_t i = 0; i < p->n_exclude_tags; i++)
        free(p->exclude_tags[i]);
    free((char **)p->exclude_tags);
    memset(p, 0, sizeof *p);
}

static char **strings_copy(char *const *v, size_t n, bool *ok)
{
    if (!n)
        return NULL;
    char **out = calloc(n, sizeof *out);
    *ok = *ok && out;
    for (size_t i = 0; out && i < n; i++)
        *ok = *ok && (out[i] = strdup(v[i]));
    return out;
}

/* dst = an owned copy of src. -1 when memory runs out (dst then holds nothing). */
static int params_copy(run_params_t *dst, const run_params_t *src)
{
    bool ok = true;
    run_params_t p = *src;
    p.host = src->host ? strdup(src->host) : NULL;
    ok = !src->host || p.host;
    p.stages = NULL;
    if (src->n_stages) {
        stage_t *st = malloc(src->n_stages * sizeof *st);
        ok = ok && st;
        if (st)
            memcpy(st, src->stages, src->n_stages * sizeof *st);
        p.stages = st;
    }
    p.tags = strings_copy(src->tags, src->n_tags, &ok);
    p.exclude_tags = strings_copy(src->exclude_tags, src->n_exclude_tags, &ok);
    if (!ok) {
        params_free(&p);
        return -1;
    }
    *dst = p;
    return 0;
}

/* ---- what the web UI asks -------------------------------------------------------------- */

int run_start(run_t *r, const run_params_t *p, double now, char *err, size_t errlen)
{
    if (r->phase != RUN_IDLE) {
        snprintf(err, errlen, "a test is %s: stop it first", run_state_name(r));
        return -1;
    }
    run_params_t copy;
    if (params_copy(&copy, p) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    params_free(&r->p);
    r->p = copy;
    /* A fresh test: what the last one counted goes (its results were written at its end). */
    stats_clear(&r->stats);
    stats_clear(&r->timeline);
    window_clear(&r->window);
    for (size_t i = 0; i < r->reg.n; i++) {
        worker_t *w = &r->reg.workers[i];
        w->requests = w->failures = 0;
        w->stopped = false;
        w->in_run = false;
        w->cpu_warned = false;
    }
    r->started = r->stop_begun = r->reset_done = r->all_spawned_logged = false;
    r->failed = false;
    r->err[0] = '\0';
    r->peak_users = r->users_at_stop = 0;
    r->run_ended = r->run_ended_wall = 0;
    r->stage_idx = 0;
    size_t ready = registry_count_active(&r->reg);
    if (ready >= r->cfg.expect_workers && ready > 0) {
        start_run(r, now);
        return 0;
    }
    /* As a headless run does: the test starts when they are there (tick_waiting). */
    r->phase = RUN_WAITING;
    r->wait_started = now;
    log_info("Waiting for workers: %zu of %zu connected; the test starts when they are", ready,
             r->cfg.expect_workers ? r->cfg.expect_workers : 1);
    return 0;
}

int run_edit(run_t *r, uint32_t users, double spawn_rate, double now, char *err, size_t errlen)
{
    (void)now;
    if (r->phase != RUN_RUNNING) {
        snprintf(err, errlen, "no test is running (it is %s)", run_state_name(r));
        return -1;
    }
    if (r->p.n_stages) {
        snprintf(err, errlen, "this test follows stages: its users cannot be changed by hand");
        return -1;
    }
    if (!(spawn_rate > 0)) {
        snprintf(err, errlen, "the spawn rate must be above 0");
        return -1;
    }
    r->p.users = users;
    r->p.spawn_rate = spawn_rate;
    r->rate = spawn_rate;
    dispatch_class_counts(r->cfg.sc, users, r->class_users);
    log_info("Changing to %u users at a rate of %.2f per second", users, spawn_rate);
    rebalance(r, true);
    return 0;
}

int run_stop(run_t *r, double now, char *err, size_t errlen)
{
    if (r->phase != RUN_RUNNING && r->phase != RUN_WAITING) {
        snprintf(err, errlen, "no test is running (it is %s)", run_state_name(r));
        return -1;
    }
    stop_run(r, now, "Stopping the test (asked from the web UI)");
    return 0;
}

int run_reset_stats(run_t *r, double now, char *err, size_t errlen)
{
    if (!r->started) {
        snprintf(err, errlen, "no test has run: there are no statistics to reset");
        return -1;
    }
    if (r->phase == RUN_IDLE || r->phase == RUN_DONE) {
        /* Over: its figures are final and written; a reset now only clears the view. */
        stats_clear(&r->stats);
        window_clear(&r->window);
        for (size_t i = 0; i < r->reg.n; i++)
            r->reg.workers[i].requests = r->reg.workers[i].failures = 0;
        log_info("Resetting stats of the finished test");
        return 0;
    }
    reset_stats(r, now);
    return 0;
}

void run_quit(run_t *r, double now)
{
    (void)now;
    r->quitting = true;
    if (r->phase == RUN_IDLE || r->phase == RUN_WAITING)
        quit_all(r);
    else if (r->phase != RUN_DONE)
        stop_run(r, now, "Quitting: stopping the test");
}

const char *run_state_name(const run_t *r)
{
    switch (r->phase) {
    case RUN_IDLE: return r->tests_ended ? "stopped" : "ready";
    case RUN_WAITING: return "waiting";
    case RUN_RUNNING: return r->all_spawned_logged ? "running" : "spawning";
    case RUN_STOPPING: return "stopping";
    case RUN_DONE: return "done";
    }
    return "?";
}

/* ---- life ---------------------------------------------------------------------------- */

int run_init(run_t *r, const run_config_t *cfg, const run_io_t *io, const run_params_t *p,
             double now, double now_wall, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->io = *io;
    registry_init(&r->reg, cfg->sc->n_classes);
    stats_init(&r->stats);
    stats_init(&r->timeline);
    stats_init(&r->incoming);
    stats_init(&r->current_rates);
    stats_init(&r->current_times);
    window_init(&r->window);
    r->class_users = calloc(cfg->sc->n_classes ? cfg->sc->n_classes : 1, sizeof *r->class_users);
    if (!r->class_users || params_copy(&r->p, p) < 0 || rowshare_init(&r->rows, cfg->sc) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    dispatch_class_counts(cfg->sc, r->p.users, r->class_users);
    r->wall_offset_s = now_wall - now;
    r->phase = cfg->web && cfg->idle_start ? RUN_IDLE : RUN_WAITING;
    r->wait_started = now;
    r->next_heartbeat = now + RUN_HEARTBEAT_INTERVAL_S;
    return 0;
}

void run_free(run_t *r)
{
    registry_free(&r->reg);
    stats_free(&r->stats);
    stats_free(&r->timeline);
    stats_free(&r->incoming);
    stats_free(&r->current_rates);
    stats_free(&r->current_times);
    window_free(&r->window);
    free(r->class_users);
    r->class_users = NULL;
    rowshare_free(&r->rows);
    params_free(&r->p);
}

double run_wall_s(const run_t *r, double now)
{
    return now + r->wall_offset_s;
}

const char *run_phase_name(run_phase_t p)
{
    static const char *const names[] = {"idle", "waiting", "running", "stopping", "done"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "?";
}
