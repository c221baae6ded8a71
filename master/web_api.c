/*
 * web_api — Locust's /stats/requests and Prometheus' /metrics; see web_api.h.
 */
#include "web_api.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "report.h"

const double web_api_buckets_s[WEB_API_N_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

/* Indexes of stats_percentiles (50 66 75 80 90 95 98 99 99.9 99.99 100). */
enum { PCT_50 = 0, PCT_90 = 4, PCT_95 = 5, PCT_99 = 7 };

/* Python's html.escape(s, quote): what Locust's safe_name and errors go through. */
static json_t *jhtml(const char *s, bool quote)
{
    size_t n = 0;
    for (const char *p = s ? s : ""; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (quote && *p == '"') ? 6
             : (quote && *p == '\'') ? 6 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s ? s : ""; *p; p++) {
        const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                          : (quote && *p == '"') ? "&quot;" : (quote && *p == '\'') ? "&#x27;"
                          : NULL;
        if (rep) {
            size_t k = strlen(rep);
            memcpy(o, rep, k);
            o += k;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    json_t *j = json_out_str(out);
    free(out);
    return j;
}

/* Locust's proper_round of a time in ms (half up) as an integer. */
static json_t *jms_round(uint64_t us)
{
    return json_integer((json_int_t)((us + 500) / 1000));
}

/* One row; the Aggregated one has no method (Locust's null). */
static json_t *row_json(const stats_entry_t *e, const run_current_t *cur, bool aggregated)
{
    uint64_t pct[REPORT_N_PCT];
    report_entry_percentiles_us(e, pct);
    double n = (double)e->requests;
    double rps, fps;
    run_current_row(cur, aggregated ? NULL : e->method, e->name, &rps, &fps);
    json_t *o = json_object();
    bool ok = o && json_out_put(o, "method", aggregated ? json_null() : json_out_str(e->method)) &&
              json_out_put(o, "name", json_out_str(e->name)) &&
              json_out_put(o, "safe_name", jhtml(e->name, false)) &&
              json_out_put(o, "num_requests", json_integer((json_int_t)e->requests)) &&
              json_out_put(o, "num_failures", json_integer((json_int_t)e->failures)) &&
              json_out_put(o, "avg_response_time",
                  json_real(n > 0 ? (double)e->sum_us / n / 1000.0 : 0)) &&
              json_out_put(o, "min_response_time", e->requests ? jms_round(e->min_us) : json_integer(0)) &&
              json_out_put(o, "max_response_time", jms_round(e->max_us)) &&
              json_out_put(o, "current_rps", json_real(rps)) &&
              json_out_put(o, "current_fail_per_sec", json_real(fps)) &&
              json_out_put(o, "median_response_time", jms_round(pct[PCT_50])) &&
              json_out_put(o, "ninetieth_response_time", jms_round(pct[PCT_90])) &&
              json_out_put(o, "ninety_ninth_response_time", jms_round(pct[PCT_99])) &&
              json_out_put(o, "avg_content_length", json_real(n > 0 ? (double)e->bytes / n : 0)) &&
              json_out_put(o, "response_time_percentile_0.95", jms_round(pct[PCT_95])) &&
              json_out_put(o, "response_time_percentile_0.99", jms_round(pct[PCT_99]));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *web_api_locust_stats(const web_source_t *src, double now)
{
    run_t *r = src->run;
    bool live = run_is_live(r);
    run_current_t cur = { 0 };
    if (live)
        cur = run_current(r, now);

    json_t *doc = json_object(), *stats = json_array(), *errors = json_array();
    json_t *workers = json_array(), *cur_pct = json_object();
    stats_entry_t total, cur_total;
    stats_entry_init(&total);
    stats_entry_init(&cur_total);
    const stats_entry_t **rows = stats_sorted_entries(&r->stats);
    /* The document owns the parts from here on; they are filled in place. */
    bool ok = doc && json_out_put(doc, "stats", stats) && json_out_put(doc, "errors", errors) &&
              json_out_put(doc, "workers", workers) &&
              json_out_put(doc, "current_response_time_percentiles", cur_pct) && rows &&
              stats_aggregate(&r->stats, &total) == 0;
    if (!doc) {
        json_decref(stats);
        json_decref(errors);
        json_decref(workers);
        json_decref(cur_pct);
    }
    for (size_t i = 0; ok && i < r->stats.n_entries; i++)
        ok = json_out_append(stats, row_json(rows[i], &cur, false));
    ok = ok && json_out_append(stats, row_json(&total, &cur, true));

    for (size_t i = 0; ok && i < r->stats.n_failures; i++) {
        const stats_failure_t *f = &r->stats.failures[i];
        json_t *o = json_object();
        bool row_ok = o && json_out_put(o, "method", json_out_str(f->method)) &&
                      json_out_put(o, "name", jhtml(f->name, true)) &&
                      json_out_put(o, "error", jhtml(f->message, true)) &&
                      json_out_put(o, "occurrences", json_integer((json_int_t)f->count));
        if (!row_ok)
            json_decref(o);
        ok = row_ok && json_out_append(errors, o);
    }

    /* The current response time percentiles: the last seconds' reports, all rows. */
    bool have_cur = live && cur.times && stats_aggregate(cur.times, &cur_total) == 0 &&
                    cur_total.requests > 0;
    uint64_t cpct[REPORT_N_PCT];
    if (have_cur)
        report_entry_percentiles_us(&cur_total, cpct);
    ok = ok &&
         json_out_put(cur_pct, "response_time_percentile_0.5",
             have_cur ? jms_round(cpct[PCT_50]) : json_null()) &&
         json_out_put(cur_pct, "response_time_percentile_0.95",
             have_cur ? jms_round(cpct[PCT_95]) : json_null());

    for (size_t i = 0; ok && i < r->reg.n; i++) {
        const worker_t *w = &r->reg.workers[i];
        json_t *o = json_object();
        bool row_ok = o && json_out_put(o, "id", json_out_str(w->id)) &&
                      json_out_put(o, "state", json_string(worker_state_name(w->state))) &&
                      json_out_put(o, "user_count", json_integer(w->users)) &&
                      json_out_put(o, "cpu_usage", json_real(w->cpu_percent)) &&
                      json_out_put(o, "memory_usage", json_integer((json_int_t)w->memory_bytes));
        if (!row_ok)
            json_decref(o);
        ok = row_ok && json_out_append(workers, o);
    }

    double rps, fps;
    run_current_row(&cur, NULL, NULL, &rps, &fps);
    ok = ok && json_out_put(doc, "total_rps", json_real(rps)) &&
         json_out_put(doc, "total_fail_per_sec", json_real(fps)) &&
         json_out_put(doc, "current_rps", json_real(rps)) &&
         json_out_put(doc, "fail_ratio", json_real(total.requests ? (double)total.failures /
                                                               (double)total.requests : 0)) &&
         json_out_put(doc, "worker_count", json_integer((json_int_t)registry_count_active(&r->reg))) &&
         json_out_put(doc, "state", json_string(run_state_name(r))) &&
         json_out_put(doc, "user_count", json_integer(run_users(r)));
    free(rows);
    stats_entry_free(&total);
    stats_entry_free(&cur_total);
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- /metrics -------------------------------------------------------------------------------- */

/* A label value, escaped as the text format wants: \\, \" and \n. */
static void label_value(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '"')
            fputs("\\\"", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void row_labels(FILE *f, const stats_entry_t *e, const char *extra)
{
    fputs("{method=", f);
    label_value(f, e->method);
    fputs(",name=", f);
    label_value(f, e->name);
    if (extra)
        fprintf(f, ",%s", extra);
    fputc('}', f);
}

static void print_seconds(FILE *f, double s)
{
    char buf[64];
    report_format_pyfloat(buf, sizeof buf, s);
    fputs(buf, f);
}

typedef struct bucket_sum {
    uint64_t counts[WEB_API_N_BUCKETS];   /* values at or below each bound (not cumulative) */
} bucket_sum_t;

static void count_bucket(uint32_t index, uint64_t count, void *ctx)
{
    bucket_sum_t *b = ctx;
    double s = (double)hist_value_of(index) / 1e6;
    for (size_t i = 0; i < WEB_API_N_BUCKETS; i++) {
        if (s <= web_api_buckets_s[i]) {
            b->counts[i] += count;
            return;
        }
    }
}

static void histogram_rows(FILE *f, const stats_entry_t *e)
{
    bucket_sum_t b;
    memset(&b, 0, sizeof b);
    hist_foreach(&e->hist, count_bucket, &b);
    uint64_t cumulative = 0;
    char le[64];
    for (size_t i = 0; i < WEB_API_N_BUCKETS; i++) {
        cumulative += b.counts[i];
        if (cumulative > e->requests)
            cumulative = e->requests;   /* the histogram never says more than the count */
        char v[48];
        report_format_pyfloat(v, sizeof v, web_api_buckets_s[i]);
        snprintf(le, sizeof le, "le=\"%s\"", v);
        fputs("herd_response_time_seconds_bucket", f);
        row_labels(f, e, le);
        fprintf(f, " %" PRIu64 "\n", cumulative);
    }
    fputs("herd_response_time_seconds_bucket", f);
    row_labels(f, e, "le=\"+Inf\"");
    fprintf(f, " %" PRIu64 "\n", e->requests);
    fputs("herd_response_time_seconds_sum", f);
    row_labels(f, e, NULL);
    fputc(' ', f);
    print_seconds(f, (double)e->sum_us / 1e6);
    fputc('\n', f);
    fputs("herd_response_time_seconds_count", f);
    row_labels(f, e, NULL);
    fprintf(f, " %" PRIu64 "\n", e->requests);
}

/* One counter of every row: its requests, or its failures. */
static void row_counter(FILE *f, const char *metric, const char *help,
                        const stats_entry_t **rows, size_t n, bool failures)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", metric, help, metric);
    for (size_t i = 0; i < n; i++) {
        fputs(metric, f);
        row_labels(f, rows[i], NULL);
        fprintf(f, " %" PRIu64 "\n", failures ? rows[i]->failures : rows[i]->requests);
    }
}

int web_api_metrics(FILE *f, const web_source_t *src, double now)
{
    static const char *const states[] = { "ready", "waiting", "spawning", "running",
                                          "stopping", "stopped", "done" };
    run_t *r = src->run;
    const stats_entry_t **rows = stats_sorted_entries(&r->stats);
    if (!rows)
        return -1;
    size_t n = r->stats.n_entries;

    row_counter(f, "herd_requests_total", "Requests completed (failed ones included), per row.",
                rows, n, false);
    row_counter(f, "herd_failures_total", "Requests that failed, per row.", rows, n, true);
    fputs("# HELP herd_response_time_seconds Response times, per row.\n"
          "# TYPE herd_response_time_seconds histogram\n", f);
    for (size_t i = 0; i < n; i++)
        histogram_rows(f, rows[i]);
    free(rows);

    double rps = 0, fps = 0;
    if (run_is_live(r)) {
        run_current_t cur = run_current(r, now);
        run_current_row(&cur, NULL, NULL, &rps, &fps);
    }
    fprintf(f, "# HELP herd_users Users running now, all workers.\n"
               "# TYPE herd_users gauge\nherd_users %" PRIu32 "\n", run_users(r));
    fprintf(f, "# HELP herd_workers Workers connected and active.\n"
               "# TYPE herd_workers gauge\nherd_workers %zu\n", registry_count_active(&r->reg));
    fputs("# HELP herd_state The test's state (1 for the state it is in).\n"
          "# TYPE herd_state gauge\n", f);
    const char *state = run_state_name(r);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        fprintf(f, "herd_state{state=\"%s\"} %d\n", states[i], strcmp(state, states[i]) == 0);
    fputs("# HELP herd_current_rps Requests per second over the last complete seconds.\n"
          "# TYPE herd_current_rps gauge\nherd_current_rps ", f);
    print_seconds(f, rps);
    fputs("\n# HELP herd_current_fail_per_sec Failures per second over the last complete "
          "seconds.\n# TYPE herd_current_fail_per_sec gauge\nherd_current_fail_per_sec ", f);
    print_seconds(f, fps);
    fputc('\n', f);
    return 0;
}
