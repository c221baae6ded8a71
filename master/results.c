/*
 * results — the run's tables, files and exit code; see results.h. Every line printed and
 * every file written about a run's figures starts here.
 */
#include "results.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "console.h"

int results_init(results_t *res, const master_options_t *o, const scenario_t *sc, char *err,
                 size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->o = o;
    stats_init(&res->corrected);
    return outputs_init(&res->out, sc, &o->thresholds, err, errlen);
}

void results_free(results_t *res)
{
    outputs_free(&res->out);
    stats_free(&res->corrected);
}

/* The facts the report files show beside the statistics. workers: r->reg.n slots. */
static report_run_t run_facts(const results_t *res, const run_t *r, report_worker_t *workers,
                              double now)
{
    const master_options_t *o = res->o;
    report_run_t run;
    memset(&run, 0, sizeof run);
    run.scenario_file = o->file;
    run.description = r->cfg.sc->description;
    run.host = o->host ? o->host : r->cfg.sc->host;
    run.users = o->users;
    run.spawn_rate = o->spawn_rate;
    run.run_time_s = o->run_time_s;
    run.start_unix = r->run_started_wall;
    run.end_unix = r->phase == RUN_DONE ? r->run_ended_wall : run_wall_s(r, now);
    run.peak_users = r->peak_users;
    run.exit_code = res->exit_code;
    for (size_t i = 0; i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        workers[i].id = w->id;
        workers[i].hostname = w->hostname;
        workers[i].state = worker_state_name(w->state);
        workers[i].requests = w->requests;
        workers[i].failures = w->failures;
    }
    run.workers = workers;
    run.n_workers = r->reg.n;
    run.corrected = res->has_corrected ? &res->corrected : NULL;
    run.thresholds = res->out.verdicts;
    run.n_thresholds = res->out.n_thresholds;
    return run;
}

static void write_files(results_t *res, const run_t *r, bool final, double now)
{
    const master_options_t *o = res->o;
    if (!o->csv_prefix && !(final && (o->json_path || o->html_path)))
        return;
    report_worker_t *workers = calloc(r->reg.n ? r->reg.n : 1, sizeof *workers);
    if (!workers)
        return;
    report_run_t run = run_facts(res, r, workers, now);
    char err[512];
    if (outputs_write(&res->out, o, &r->stats, &run, final, err, sizeof err) < 0)
        log_error("%s", err);
    free(workers);
}

void results_second(results_t *res, run_t *r, int64_t unix_second, double now)
{
    double secs;
    const stats_table_t *current = run_current(r, now, &secs);
    if (outputs_snapshot(&res->out, unix_second, run_users(r), &r->stats, current, secs) < 0)
        log_warn("out of memory recording the history");
    write_files(res, r, false, now);
}

void results_live_table(run_t *r, double now)
{
    double secs;
    const stats_table_t *current = run_current(r, now, &secs);
    console_print_stats(stdout, &r->stats, current, secs, 0);
    fflush(stdout);
}

int results_exit_code(results_t *res, const run_t *r)
{
    int rc;
    if (r->failed) {
        rc = 1;
    } else {
        rc = stats_total_failures(&r->stats) ? (int)res->o->exit_code_on_error : 0;
        if (r->started &&
            outputs_check_thresholds(&res->out, &r->stats, r->run_ended - r->run_started) > 0) {
            for (size_t i = 0; i < res->out.n_thresholds; i++) {
                const report_threshold_t *v = &res->out.verdicts[i];
                if (!v->passed)
                    log_error("Threshold %s failed: observed %.4g%s%s", v->text, v->observed,
                              *v->unit ? " " : "", v->unit);
            }
            rc = 3;
        }
        if (rc == 0 && r->started && stats_total_requests(&r->stats) == 0) {
            /* Nothing measured is not a pass: a server that accepts and never answers. */
            uint64_t in_flight = stats_total_interrupted(&r->stats);
            if (in_flight)
                log_error("No request completed: %" PRIu64 " %s still in flight when the run "
                          "stopped (the server never answered?)", in_flight,
                          in_flight == 1 ? "was" : "were");
            else
                log_error("No request completed during the run");
            rc = 1;
        }
        log_info("Shutting down (exit code %d)", rc);
    }
    res->exit_code = rc;
    return rc;
}

static void print_summary(const results_t *res, const run_t *r, double now)
{
    double ended = r->run_ended > r->run_started ? r->run_ended : now;
    console_print_stats(stdout, &r->stats, NULL, 0, ended - r->run_started);
    console_print_percentiles(stdout, &r->stats);
    if (res->has_corrected)
        console_print_percentiles_titled(
            stdout, &res->corrected,
            "Response time percentiles, corrected for coordinated omission (from each "
            "request's scheduled start; pacing/throughput users)");
    console_print_failures(stdout, &r->stats);
    console_print_notes(stdout, &r->stats);
    outputs_print_thresholds(&res->out, stdout);
    fflush(stdout);
}

void results_finish(results_t *res, run_t *r, double now)
{
    if (!r->started)
        return;
    res->has_corrected = stats_has_corrected(&r->stats) &&
                         stats_corrected_view(&r->stats, &res->corrected) == 0;
    double secs;
    const stats_table_t *current = run_current(r, now, &secs);
    if (outputs_snapshot(&res->out, (int64_t)r->run_ended_wall, r->users_at_stop, &r->stats,
                         current, secs) < 0)
        log_warn("out of memory recording the history");
    write_files(res, r, true, now);
    for (size_t i = 0; i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        log_info("Worker %s (%s): %" PRIu64 " requests, %" PRIu64 " failures",
                 worker_short_id(w), worker_state_name(w->state), w->requests, w->failures);
    }
    print_summary(res, r, now);
}
