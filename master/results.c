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

void results_new_test(results_t *res)
{
    outputs_new_test(&res->out);
    stats_clear(&res->corrected);
    res->has_corrected = false;
    res->exit_code = 0;
}

void results_free(results_t *res)
{
    outputs_free(&res->out);
    stats_free(&res->corrected);
}

report_run_t results_facts(const results_t *res, const run_t *r, report_worker_t *workers,
                           double now)
{
    const master_options_t *o = res->o;
    report_run_t run;
    memset(&run, 0, sizeof run);
    run.scenario_file = o->file;
    run.description = r->cfg.sc->description;
    run.host = r->p.host ? r->p.host : r->cfg.sc->host;
    run.users = r->p.users;
    run.spawn_rate = r->p.spawn_rate;
    run.run_time_s = r->p.run_time_s;
    run.start_unix = r->run_started_wall;
    run.stats_start_unix = r->stats_started_wall;
    run.end_unix = !r->started ? 0   /* no test yet: no times */
                   : r->run_ended_wall > 0 ? r->run_ended_wall : run_wall_s(r, now);
    run.peak_users = r->peak_users;
    run.exit_code = res->exit_code;
    for (size_t i = 0; i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        workers[i].id = w->id;
        workers[i].hostname = w->hostname;
        workers[i].state = worker_state_name(w->state);
        workers[i].requests = w->requests;
        workers[i].failures = w->failures;
        workers[i].users = w->users;
        workers[i].cpu_percent = w->cpu_percent;
        workers[i].memory_bytes = w->memory_bytes;
    }
    run.workers = workers;
    run.n_workers = r->reg.n;
    run.corrected = res->has_corrected ? &res->corrected : NULL;
    run.thresholds = res->out.verdicts;
    run.n_thresholds = res->out.n_thresholds;
    return run;
}

/* -1 when a file could not be written (logged). */
static int write_files(results_t *res, const run_t *r, bool final, double now)
{
    const master_options_t *o = res->o;
    if (!o->csv_prefix && !(final && (o->json_path || o->html_path)))
        return 0;
    report_worker_t *workers = calloc(r->reg.n ? r->reg.n : 1, sizeof *workers);
    if (!workers) {
        log_error("out of memory writing the report files");
        return -1;
    }
    report_run_t run = results_facts(res, r, workers, now);
    char err[512];
    int rc = outputs_write(&res->out, o, &r->stats, &run, final, err, sizeof err);
    if (rc < 0)
        log_error("%s", err);
    free(workers);
    return rc;
}

void results_second(results_t *res, run_t *r, int64_t unix_second, double now)
{
    run_current_t cur = run_current(r, now);
    if (outputs_snapshot(&res->out, unix_second, run_users(r), &r->stats, cur.times) < 0)
        log_warn("out of memory recording the history");
    outputs_settle(&res->out, &r->timeline, run_settled_through(r, now), r->run_started_wall, 0);
    write_files(res, r, false, now);
}

void results_live_table(run_t *r, double now)
{
    run_current_t cur = run_current(r, now);
    if (cur.seconds == 0)
        return;   /* no second is complete yet: its rates would be a guess */
    console_print_stats(stdout, &r->stats, cur.rates, cur.seconds, 0);
    fflush(stdout);
}

int results_exit_code(results_t *res, const run_t *r)
{
    int rc;
    if (r->failed) {
        rc = 1;
    } else {
        rc = stats_total_failures(&r->stats) ? (int)res->o->exit_code_on_error : 0;
        if (r->started && outputs_check_thresholds(&res->out, &r->stats,
                                                   run_stats_duration_s(r, r->run_ended)) > 0) {
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

bool results_tls_insecure(const master_options_t *o, const scenario_t *sc, char *why,
                          size_t whylen)
{
    if (o->insecure) {
        snprintf(why, whylen, "--insecure");
        return true;
    }
    if (sc->tls.insecure) {
        snprintf(why, whylen, "tls: {insecure: true} in defaults");
        return true;
    }
    for (size_t i = 0; i < sc->n_classes; i++)
        if (sc->classes[i].tls.insecure) {
            snprintf(why, whylen, "tls: {insecure: true} in class %s", sc->classes[i].name);
            return true;
        }
    return false;
}

static void print_summary(const results_t *res, const run_t *r, double now)
{
    /* rates over the time the statistics counted: from the --reset-stats cut, if any */
    console_print_stats(stdout, &r->stats, NULL, 0, run_stats_duration_s(r, now));
    console_print_percentiles(stdout, &r->stats);
    if (res->has_corrected)
        console_print_percentiles_titled(
            stdout, &res->corrected,
            "Response time percentiles, corrected for coordinated omission (from each "
            "request's scheduled start; pacing/throughput users)");
    console_print_failures(stdout, &r->stats);
    console_print_notes(stdout, &r->stats);
    char why[300];
    if (results_tls_insecure(res->o, r->cfg.sc, why, sizeof why))
        fprintf(stdout, "Insecure: TLS verification was off (%s): https servers' certificates "
                "and host names were not checked\n\n", why);
    outputs_print_thresholds(&res->out, stdout);
    fflush(stdout);
}

int results_finish(results_t *res, run_t *r, double now)
{
    if (!r->started)
        return res->exit_code;
    res->has_corrected = stats_has_corrected(&r->stats) &&
                         stats_corrected_view(&r->stats, &res->corrected) == 0;
    run_current_t cur = run_current(r, now);
    if (outputs_snapshot(&res->out, (int64_t)r->run_ended_wall, r->users_at_stop, &r->stats,
                         cur.times) < 0)
        log_warn("out of memory recording the history");
    outputs_settle(&res->out, &r->timeline, run_settled_through(r, now), r->run_started_wall,
                   r->run_ended_wall);
    if (write_files(res, r, true, now) < 0 && res->exit_code == 0) {
        res->exit_code = 1;
        log_error("Exit code 1: a report file could not be written");
    }
    for (size_t i = 0; i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        log_info("Worker %s (%s): %" PRIu64 " requests, %" PRIu64 " failures",
                 worker_short_id(w), worker_state_name(w->state), w->requests, w->failures);
    }
    print_summary(res, r, now);
    return res->exit_code;
}
