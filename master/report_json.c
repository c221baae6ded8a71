/*
 * report_json — --json FILE: the run's summary as one JSON document (jansson).
 *
 * Per entry, Locust's StatsEntry field names (name, method, num_requests, num_failures,
 * total_response_time, min_response_time, max_response_time, total_content_length, ...),
 * except that num_reqs_per_sec / num_fail_per_sec are the averages over the run (Locust keeps
 * a per-second dict there) and times are milliseconds with microsecond precision (floats).
 * Rows come in Locust's order with the Aggregated entry last (method ""). Percentile keys are
 * "50" ... "99.99", "100"; null for an entry without requests. herd adds num_resends (requests
 * sent again on a new connection, worker/client.h) and num_interrupted (requests in flight
 * when their user stopped, not in num_requests) to each entry.
 */
#include "report.h"
#include "report_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

/* Percentile keys without the "%": "50", "99.9", "100". */
static const char *const PCT_KEYS[REPORT_N_PCT] = { "50", "66", "75", "80", "90", "95",
                                                    "98", "99", "99.9", "99.99", "100" };

static json_t *jms(uint64_t us)
{
    return json_real((double)us / 1000.0);
}

static json_t *percentiles_json(const stats_entry_t *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    uint64_t pct[REPORT_N_PCT];
    report_entry_percentiles_us(e, pct);
    for (size_t i = 0; i < REPORT_N_PCT; i++) {
        if (!json_out_put(o, PCT_KEYS[i], e->requests ? jms(pct[i]) : json_null())) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The coordinated-omission-corrected figures of one entry. */
static json_t *corrected_json(const stats_entry_t *c)
{
    json_t *o = json_object();
    bool ok = o && json_out_put(o, "num_requests", json_integer((json_int_t)c->requests)) &&
              json_out_put(o, "total_response_time", jms(c->sum_us)) &&
              json_out_put(o, "min_response_time", c->requests ? jms(c->min_us) : json_null()) &&
              json_out_put(o, "max_response_time", jms(c->max_us)) &&
              json_out_put(o, "avg_response_time",
                  json_real(c->requests ? (double)c->sum_us / (double)c->requests / 1000.0 : 0)) &&
              json_out_put(o, "median_response_time", jms(stats_entry_percentile_us(c, 50))) &&
              json_out_put(o, "percentiles", percentiles_json(c));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *entry_json(const stats_entry_t *e, double duration_s, const stats_entry_t *corr)
{
    json_t *o = json_object();
    double n = (double)e->requests;
    bool ok = o && json_out_put(o, "name", json_out_str(e->name)) && json_out_put(o, "method", json_out_str(e->method)) &&
              json_out_put(o, "num_requests", json_integer((json_int_t)e->requests)) &&
              json_out_put(o, "num_failures", json_integer((json_int_t)e->failures)) &&
              json_out_put(o, "total_response_time", jms(e->sum_us)) &&
              json_out_put(o, "min_response_time", e->requests ? jms(e->min_us) : json_null()) &&
              json_out_put(o, "max_response_time", jms(e->max_us)) &&
              json_out_put(o, "total_content_length", json_integer((json_int_t)e->bytes)) &&
              json_out_put(o, "num_reqs_per_sec", json_real(duration_s > 0 ? n / duration_s : 0)) &&
              json_out_put(o, "num_fail_per_sec",
                  json_real(duration_s > 0 ? (double)e->failures / duration_s : 0)) &&
              json_out_put(o, "fail_ratio", json_real(n > 0 ? (double)e->failures / n : 0)) &&
              json_out_put(o, "avg_response_time", json_real(n > 0 ? (double)e->sum_us / n / 1000.0 : 0)) &&
              json_out_put(o, "median_response_time", jms(stats_entry_percentile_us(e, 50))) &&
              json_out_put(o, "avg_content_length", json_real(n > 0 ? (double)e->bytes / n : 0)) &&
              json_out_put(o, "num_resends", json_integer((json_int_t)e->resends)) &&
              json_out_put(o, "num_interrupted", json_integer((json_int_t)e->interrupted)) &&
              json_out_put(o, "percentiles", percentiles_json(e));
    if (ok && corr)
        ok = json_out_put(o, "corrected", corrected_json(corr));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *stats_json(const stats_table_t *t, const report_run_t *run)
{
    json_t *arr = json_array();
    stats_entry_t total, corr_total;
    stats_entry_init(&total);
    stats_entry_init(&corr_total);
    const stats_entry_t **rows = stats_sorted_entries(t);
    const stats_table_t *corrected = run ? run->corrected : NULL;
    bool ok = arr && rows && stats_aggregate(t, &total) == 0 &&
              (!corrected || stats_aggregate(corrected, &corr_total) == 0);
    double duration_s = report_stats_duration_s(run);   /* from the --reset-stats cut */
    for (size_t i = 0; ok && i < t->n_entries; i++) {
        const stats_entry_t *corr = NULL;
        if (corrected) {
            long k = stats_find(corrected, rows[i]->method, rows[i]->name);
            if (k >= 0)
                corr = &corrected->entries[k];
        }
        ok = json_out_append(arr, entry_json(rows[i], duration_s, corr));
    }
    if (ok)
        ok = json_out_append(arr, entry_json(&total, duration_s, corrected ? &corr_total : NULL));
    free(rows);
    stats_entry_free(&total);
    stats_entry_free(&corr_total);
    if (!ok) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *failures_json(const stats_table_t *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < t->n_failures; i++) {
        const stats_failure_t *f = &t->failures[i];
        json_t *o = json_object();
        bool ok = o && json_out_put(o, "method", json_out_str(f->method)) && json_out_put(o, "name", json_out_str(f->name)) &&
                  json_out_put(o, "error", json_out_str(f->message)) &&
                  json_out_put(o, "occurrences", json_integer((json_int_t)f->count));
        if (!ok || !json_out_append(arr, o)) {
            if (!ok)
                json_decref(o);
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *workers_json(const report_run_t *run)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && run && i < run->n_workers; i++) {
        const report_worker_t *w = &run->workers[i];
        json_t *o = json_object();
        bool ok = o && json_out_put(o, "id", json_out_str(w->id)) && json_out_put(o, "hostname", json_out_str(w->hostname)) &&
                  json_out_put(o, "state", json_out_str(w->state)) &&
                  json_out_put(o, "num_requests", json_integer((json_int_t)w->requests)) &&
                  json_out_put(o, "num_failures", json_integer((json_int_t)w->failures)) &&
                  json_out_put(o, "users", json_integer(w->users)) &&
                  json_out_put(o, "cpu_percent", json_real(w->cpu_percent)) &&
                  json_out_put(o, "memory_bytes", w->memory_bytes
                                             ? json_integer((json_int_t)w->memory_bytes)
                                             : json_null());
        if (!ok || !json_out_append(arr, o)) {
            if (!ok)
                json_decref(o);
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *thresholds_json(const report_run_t *run)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && run && i < run->n_thresholds; i++) {
        const report_threshold_t *th = &run->thresholds[i];
        json_t *o = json_object();
        bool ok = o && json_out_put(o, "threshold", json_out_str(th->text)) &&
                  json_out_put(o, "passed", json_boolean(th->passed)) &&
                  json_out_put(o, "observed", json_real(th->observed)) &&
                  json_out_put(o, "unit", json_out_str(th->unit ? th->unit : ""));
        if (!ok || !json_out_append(arr, o)) {
            if (!ok)
                json_decref(o);
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *pct_or_null(double ms)
{
    return ms >= 0 ? json_real(ms) : json_null();
}

static bool point_is(const history_point_t *p, const char *method, const char *name)
{
    return strcmp(p->method, method) == 0 && strcmp(p->name, name) == 0;
}

/* One row's point of snapshot s: points[0] for Aggregated (method NULL), else the point
 * with that method and name; NULL when the row had no point in that second. *hint: where
 * it was in the last snapshot, tried first (rows keep their places until a reset), so a
 * row's whole history costs one look per second, not a search. */
static const history_point_t *snapshot_point(const history_snapshot_t *s, const char *method,
                                             const char *name, size_t *hint)
{
    if (s->n_points == 0)
        return NULL;
    if (!method)
        return &s->points[0];
    if (*hint < s->n_points && point_is(&s->points[*hint], method, name))
        return &s->points[*hint];
    for (size_t i = 1; i < s->n_points; i++)
        if (point_is(&s->points[i], method, name)) {
            *hint = i;
            return &s->points[i];
        }
    return NULL;
}

json_t *report_json_history(const history_t *h, const char *method, const char *name,
                            size_t from)
{
    json_t *arr = json_array();
    size_t hint = 1;
    for (size_t i = from; arr && h && i < h->n; i++) {
        const history_snapshot_t *s = &h->snaps[i];
        const history_point_t *p = snapshot_point(s, method, name, &hint);
        if (!p)
            continue;
        json_t *o = json_object();
        bool ok = o && json_out_put(o, "time", json_integer(s->unix_s)) &&
                  json_out_put(o, "user_count", json_integer(s->users)) &&
                  json_out_put(o, "current_rps", json_real(p->rps)) &&
                  json_out_put(o, "current_fail_per_sec", json_real(p->fails_per_s)) &&
                  json_out_put(o, "response_time_percentile_50", pct_or_null(p->cur_pct_ms[0])) &&
                  json_out_put(o, "response_time_percentile_95", pct_or_null(p->cur_pct_ms[5])) &&
                  json_out_put(o, "response_time_percentile_99", pct_or_null(p->cur_pct_ms[7])) &&
                  json_out_put(o, "total_requests", json_integer((json_int_t)p->total_requests)) &&
                  json_out_put(o, "total_failures", json_integer((json_int_t)p->total_failures));
        if (!ok || !json_out_append(arr, o)) {
            if (!ok)
                json_decref(o);
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *report_json_document(const stats_table_t *t, const history_t *h, const report_run_t *run)
{
    static const report_run_t none;
    if (!run)
        run = &none;
    char start[40], end[40];
    report_format_iso8601(start, sizeof start, run->start_unix);
    report_format_iso8601(end, sizeof end, run->end_unix);
    json_t *o = json_object();
    bool ok = o && json_out_put(o, "herd_version", json_string(HERD_VERSION)) &&
              json_out_put(o, "scenario", json_out_str(run->scenario_file)) &&
              json_out_put(o, "description", json_out_str(run->description)) && json_out_put(o, "host", json_out_str(run->host)) &&
              json_out_put(o, "users", json_integer(run->users)) &&
              json_out_put(o, "spawn_rate", json_real(run->spawn_rate)) &&
              json_out_put(o, "run_time", run->run_time_s > 0 ? json_real(run->run_time_s) : json_null()) &&
              json_out_put(o, "start_time", *start ? json_string(start) : json_null()) &&
              json_out_put(o, "end_time", *end ? json_string(end) : json_null()) &&
              json_out_put(o, "duration_s", json_real(report_duration_s(run))) &&
              json_out_put(o, "peak_users", json_integer(run->peak_users)) &&
              json_out_put(o, "exit_code", json_integer(run->exit_code)) &&
              json_out_put(o, "stats", stats_json(t, run)) && json_out_put(o, "failures", failures_json(t)) &&
              json_out_put(o, "workers", workers_json(run)) && json_out_put(o, "thresholds", thresholds_json(run)) &&
              json_out_put(o, "history", report_json_history(h, NULL, NULL, 0));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int report_write_json(const char *path, const stats_table_t *final, const history_t *h,
                      const report_run_t *run, char *err, size_t errlen)
{
    json_t *root = report_json_document(final, h, run);
    if (!root) {
        snprintf(err, errlen, "--json: cannot write '%s': out of memory", path);
        return -1;
    }
    report_file_t rf;
    int rc = report_file_open(&rf, "--json", path, err, errlen);
    if (rc == 0) {
        if (json_dumpf(root, rf.f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) != 0 ||
            fputc('\n', rf.f) == EOF) {
            report_file_abort(&rf);
            snprintf(err, errlen, "--json: cannot write '%s': output error", path);
            rc = -1;
        } else {
            rc = report_file_commit(&rf, err, errlen);
        }
    }
    json_decref(root);
    return rc;
}
