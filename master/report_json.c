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

/* Percentile keys without the "%": "50", "99.9", "100". */
static const char *const PCT_KEYS[REPORT_N_PCT] = { "50", "66", "75", "80", "90", "95",
                                                    "98", "99", "99.9", "99.99", "100" };

/* A JSON string from s; invalid UTF-8 bytes (jansson refuses them) become '?'. NULL → null. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *jms(uint64_t us)
{
    return json_real((double)us / 1000.0);
}

/* Set key to v; false (and v released) when v is NULL or the set fails. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static json_t *percentiles_json(const stats_entry_t *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    uint64_t pct[REPORT_N_PCT];
    report_entry_percentiles_us(e, pct);
    for (size_t i = 0; i < REPORT_N_PCT; i++) {
        if (!put(o, PCT_KEYS[i], e->requests ? jms(pct[i]) : json_null())) {
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
    bool ok = o && put(o, "num_requests", json_integer((json_int_t)c->requests)) &&
              put(o, "total_response_time", jms(c->sum_us)) &&
              put(o, "min_response_time", c->requests ? jms(c->min_us) : json_null()) &&
              put(o, "max_response_time", jms(c->max_us)) &&
              put(o, "avg_response_time",
                  json_real(c->requests ? (double)c->sum_us / (double)c->requests / 1000.0 : 0)) &&
              put(o, "median_response_time", jms(stats_entry_percentile_us(c, 50))) &&
              put(o, "percentiles", percentiles_json(c));
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
    bool ok = o && put(o, "name", jstr(e->name)) && put(o, "method", jstr(e->method)) &&
              put(o, "num_requests", json_integer((json_int_t)e->requests)) &&
              put(o, "num_failures", json_integer((json_int_t)e->failures)) &&
              put(o, "total_response_time", jms(e->sum_us)) &&
              put(o, "min_response_time", e->requests ? jms(e->min_us) : json_null()) &&
              put(o, "max_response_time", jms(e->max_us)) &&
              put(o, "total_content_length", json_integer((json_int_t)e->bytes)) &&
              put(o, "num_reqs_per_sec", json_real(duration_s > 0 ? n / duration_s : 0)) &&
              put(o, "num_fail_per_sec",
                  json_real(duration_s > 0 ? (double)e->failures / duration_s : 0)) &&
              put(o, "fail_ratio", json_real(n > 0 ? (double)e->failures / n : 0)) &&
              put(o, "avg_response_time", json_real(n > 0 ? (double)e->sum_us / n / 1000.0 : 0)) &&
              put(o, "median_response_time", jms(stats_entry_percentile_us(e, 50))) &&
              put(o, "avg_content_length", json_real(n > 0 ? (double)e->bytes / n : 0)) &&
              put(o, "num_resends", json_integer((json_int_t)e->resends)) &&
              put(o, "num_interrupted", json_integer((json_int_t)e->interrupted)) &&
              put(o, "percentiles", percentiles_json(e));
    if (ok && corr)
        ok = put(o, "corrected", corrected_json(corr));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool append(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
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
        ok = append(arr, entry_json(rows[i], duration_s, corr));
    }
    if (ok)
        ok = append(arr, entry_json(&total, duration_s, corrected ? &corr_total : NULL));
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
        bool ok = o && put(o, "method", jstr(f->method)) && put(o, "name", jstr(f->name)) &&
                  put(o, "error", jstr(f->message)) &&
                  put(o, "occurrences", json_integer((json_int_t)f->count));
        if (!ok || !append(arr, o)) {
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
        bool ok = o && put(o, "id", jstr(w->id)) && put(o, "hostname", jstr(w->hostname)) &&
                  put(o, "state", jstr(w->state)) &&
                  put(o, "num_requests", json_integer((json_int_t)w->requests)) &&
                  put(o, "num_failures", json_integer((json_int_t)w->failures)) &&
                  put(o, "users", json_integer(w->users)) &&
                  put(o, "cpu_percent", json_real(w->cpu_percent)) &&
                  put(o, "memory_bytes", w->memory_bytes
                                             ? json_integer((json_int_t)w->memory_bytes)
                                             : json_null());
        if (!ok || !append(arr, o)) {
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
        bool ok = o && put(o, "threshold", jstr(th->text)) &&
                  put(o, "passed", json_boolean(th->passed)) &&
                  put(o, "observed", json_real(th->observed)) &&
                  put(o, "unit", jstr(th->unit ? th->unit : ""));
        if (!ok || !append(arr, o)) {
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
        bool ok = o && put(o, "time", json_integer(s->unix_s)) &&
                  put(o, "user_count", json_integer(s->users)) &&
                  put(o, "current_rps", json_real(p->rps)) &&
                  put(o, "current_fail_per_sec", json_real(p->fails_per_s)) &&
                  put(o, "response_time_percentile_50", pct_or_null(p->cur_pct_ms[0])) &&
                  put(o, "response_time_percentile_95", pct_or_null(p->cur_pct_ms[5])) &&
                  put(o, "response_time_percentile_99", pct_or_null(p->cur_pct_ms[7])) &&
                  put(o, "total_requests", json_integer((json_int_t)p->total_requests)) &&
                  put(o, "total_failures", json_integer((json_int_t)p->total_failures));
        if (!ok || !append(arr, o)) {
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
    bool ok = o && put(o, "herd_version", json_string(HERD_VERSION)) &&
              put(o, "scenario", jstr(run->scenario_file)) &&
              put(o, "description", jstr(run->description)) && put(o, "host", jstr(run->host)) &&
              put(o, "users", json_integer(run->users)) &&
              put(o, "spawn_rate", json_real(run->spawn_rate)) &&
              put(o, "run_time", run->run_time_s > 0 ? json_real(run->run_time_s) : json_null()) &&
              put(o, "start_time", *start ? json_string(start) : json_null()) &&
              put(o, "end_time", *end ? json_string(end) : json_null()) &&
              put(o, "duration_s", json_real(report_duration_s(run))) &&
              put(o, "peak_users", json_integer(run->peak_users)) &&
              put(o, "exit_code", json_integer(run->exit_code)) &&
              put(o, "stats", stats_json(t, run)) && put(o, "failures", failures_json(t)) &&
              put(o, "workers", workers_json(run)) && put(o, "thresholds", thresholds_json(run)) &&
              put(o, "history", report_json_history(h, NULL, NULL, 0));
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
