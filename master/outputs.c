#include "outputs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/vec.h"
#include "window.h"

int outputs_init(outputs_t *o, const scenario_t *sc, const cli_list_t *cli, char *err,
                 size_t errlen)
{
    memset(o, 0, sizeof *o);
    history_init(&o->history);
    size_t n = sc->n_thresholds + (cli ? cli->n : 0);
    o->thresholds = calloc(n ? n : 1, sizeof *o->thresholds);
    o->verdicts = calloc(n ? n : 1, sizeof *o->verdicts);
    if (!o->thresholds || !o->verdicts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sc->n_thresholds; i++)
        o->thresholds[o->n_thresholds++] = sc->thresholds[i];
    for (size_t i = 0; cli && i < cli->n; i++) {
        char msg[256];
        if (threshold_parse(cli->items[i], &o->thresholds[o->n_thresholds], msg, sizeof msg) < 0) {
            snprintf(err, errlen, "--threshold: %s", msg);
            return -1;
        }
        o->n_thresholds++;
    }
    return 0;
}

void outputs_new_test(outputs_t *o)
{
    history_free(&o->history);
    history_init(&o->history);
    o->n_settled = 0;
    memset(o->verdicts, 0, (o->n_thresholds ? o->n_thresholds : 1) * sizeof *o->verdicts);
}

void outputs_free(outputs_t *o)
{
    history_free(&o->history);
    for (size_t i = 0; i < o->n_names; i++)
        free(o->names[i]);
    free(o->names);
    free(o->thresholds);
    free(o->verdicts);
    memset(o, 0, sizeof *o);
}

/* A copy of s that lives as long as the history (rows can be cleared by --reset-stats). */
static const char *intern(outputs_t *o, const char *s)
{
    for (size_t i = 0; i < o->n_names; i++)
        if (strcmp(o->names[i], s) == 0)
            return o->names[i];
    if (VEC_RESERVE(o->names, o->cap_names, o->n_names + 1) < 0)
        return NULL;
    char *d = strdup(s);
    if (!d)
        return NULL;
    o->names[o->n_names++] = d;
    return d;
}

static double pct_ms(const stats_entry_t *e, double p)
{
    return e->requests ? (double)stats_entry_percentile_us(e, p) / 1000.0 : -1;
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0;
}

/* A row's shares of the successes and failures: its own in `part` out of `whole`'s (the
 * Aggregated entry of the same table); where `whole` has none, by requests (as
 * window_apportion). */
static void set_shares(history_point_t *pt, const stats_entry_t *part, const stats_entry_t *whole)
{
    double by_requests = share(part->requests, whole->requests);
    uint64_t whole_ok = whole->requests - whole->failures;
    pt->share_successes = whole_ok ? share(part->requests - part->failures, whole_ok) : by_requests;
    pt->share_failures = whole->failures ? share(part->failures, whole->failures) : by_requests;
}

/* cur: the row in the current figures (NULL: none). */
static int fill_point(outputs_t *o, history_point_t *pt, const stats_entry_t *tot,
                      const stats_entry_t *cur)
{
    pt->method = intern(o, tot->method ? tot->method : "");
    pt->name = intern(o, tot->name);
    if (!pt->method || !pt->name)
        return -1;
    for (int i = 0; i < REPORT_N_PCT; i++)
        pt->cur_pct_ms[i] = cur ? pct_ms(cur, stats_percentiles[i]) : -1;
    pt->total_requests = tot->requests;
    pt->total_failures = tot->failures;
    pt->total_median_ms = tot->requests ? pct_ms(tot, 50) : 0;
    pt->total_avg_ms = tot->requests ? (double)tot->sum_us / (double)tot->requests / 1000.0 : 0;
    pt->total_min_ms = tot->requests ? (double)tot->min_us / 1000.0 : 0;
    pt->total_max_ms = (double)tot->max_us / 1000.0;
    pt->total_avg_content_bytes = tot->requests ? (double)tot->bytes / (double)tot->requests : 0;
    return 0;
}

int outputs_snapshot(outputs_t *o, int64_t now_s, uint32_t users, const stats_table_t *total,
                     const stats_table_t *current)
{
    history_snapshot_t *s = history_add(&o->history, now_s, users, total->n_entries + 1);
    if (!s)
        return -1;
    /* The rows' shares: from the current figures, or the totals while those are empty. */
    const stats_table_t *shares = stats_total_requests(current) ? current : total;
    stats_entry_t tot, cur, shares_total;
    stats_entry_init(&tot);
    stats_entry_init(&cur);
    stats_entry_init(&shares_total);
    int rc = -1;
    if (stats_aggregate(total, &tot) == 0 && stats_aggregate(current, &cur) == 0 &&
        stats_aggregate(shares, &shares_total) == 0 &&
        fill_point(o, &s->points[0], &tot, &cur) == 0) {
        rc = 0;
        for (size_t i = 0; i < total->n_entries && rc == 0; i++) {
            const stats_entry_t *e = &total->entries[i];
            long c = stats_find(current, e->method, e->name);
            history_point_t *pt = &s->points[i + 1];
            rc = fill_point(o, pt, e, c >= 0 ? &current->entries[c] : NULL);
            long sh = stats_find(shares, e->method, e->name);
            if (sh >= 0)
                set_shares(pt, &shares->entries[sh], &shares_total);
        }
    }
    stats_entry_free(&tot);
    stats_entry_free(&cur);
    stats_entry_free(&shares_total);
    return rc;
}

/* Requests and failures per second in second T of the timeline; for the second the run ended
 * in, over the time from the start of the second before it (or the run's start) until the
 * end, so that a row never stands for a sliver of a second. */
static void second_rates(const stats_table_t *timeline, int64_t t, double start_wall,
                         double end_wall, double *rps, double *fps)
{
    uint64_t requests, failures;
    double span = 1;
    if (end_wall > 0 && (double)(t + 1) > end_wall) {
        double from = (double)(t - 1) > start_wall ? (double)(t - 1) : start_wall;
        span = end_wall - from;
        window_timeline_counts(timeline, t - 1, t + 1, &requests, &failures);
    } else {
        window_timeline_counts(timeline, t, t + 1, &requests, &failures);
    }
    *rps = span > 0 ? (double)requests / span : 0;
    *fps = span > 0 ? (double)failures / span : 0;
}

void outputs_settle(outputs_t *o, const stats_table_t *timeline, int64_t through_s,
                    double start_wall, double end_wall)
{
    size_t from = end_wall > 0 ? 0 : o->n_settled;
    for (size_t i = from; i < o->history.n; i++) {
        history_snapshot_t *s = &o->history.snaps[i];
        if (s->unix_s > through_s)
            break;
        double rps, fps;
        second_rates(timeline, s->unix_s, start_wall, end_wall, &rps, &fps);
        s->points[0].rps = rps;
        s->points[0].fails_per_s = fps;
        for (size_t k = 1; k < s->n_points; k++) {
            history_point_t *p = &s->points[k];
            p->fails_per_s = fps * p->share_failures;
            p->rps = (rps - fps) * p->share_successes + p->fails_per_s;
        }
        if (i + 1 > o->n_settled)
            o->n_settled = i + 1;
    }
}

static double agg_pct(double p, void *ctx)
{
    return pct_ms(ctx, p);
}

size_t outputs_check_thresholds(outputs_t *o, const stats_table_t *final, double duration_s)
{
    stats_entry_t tot;
    stats_entry_init(&tot);
    stats_aggregate(final, &tot);
    th_figures_t f = {
        .requests = (double)tot.requests,
        .failures = (double)tot.failures,
        .duration_s = duration_s,
        .avg_ms = tot.requests ? (double)tot.sum_us / (double)tot.requests / 1000.0 : 0,
        .min_ms = tot.requests ? (double)tot.min_us / 1000.0 : 0,
        .max_ms = (double)tot.max_us / 1000.0,
        .percentile_ms = agg_pct,
        .ctx = &tot,
    };
    size_t failed = 0;
    for (size_t i = 0; i < o->n_thresholds; i++) {
        report_threshold_t *v = &o->verdicts[i];
        v->text = o->thresholds[i].text;
        v->unit = threshold_unit(&o->thresholds[i]);
        v->passed = threshold_check(&o->thresholds[i], &f, &v->observed);
        if (tot.requests == 0 && o->thresholds[i].metric != TH_REQUESTS &&
            o->thresholds[i].metric != TH_FAILURES)
            v->passed = false;   /* nothing measured proves nothing */
        failed += !v->passed;
    }
    stats_entry_free(&tot);
    return failed;
}

void outputs_print_thresholds(const outputs_t *o, FILE *out)
{
    if (!o->n_thresholds)
        return;
    fprintf(out, "Thresholds\n");
    for (size_t i = 0; i < o->n_thresholds; i++) {
        const report_threshold_t *v = &o->verdicts[i];
        fprintf(out, "  %-30s %-7s (observed %.*f%s%s)\n", v->text, v->passed ? "passed" : "FAILED",
                *v->unit ? 1 : 4, v->observed, *v->unit ? " " : "", v->unit);
    }
    fputc('\n', out);
}

int outputs_write(const outputs_t *o, const master_options_t *opt, const stats_table_t *final,
                  const report_run_t *run, bool final_write, char *err, size_t errlen)
{
    int rc = 0;
    history_t shown = o->history;   /* the rows whose per-second columns are known */
    shown.n = o->n_settled;
    if (opt->csv_prefix && report_write_csv(opt->csv_prefix, final, &shown, run,
                                            opt->csv_full_history, err, errlen) < 0)
        rc = -1;
    if (!final_write)
        return rc;
    if (opt->json_path && report_write_json(opt->json_path, final, &shown, run, err, errlen) < 0)
        rc = -1;
    if (opt->html_path && report_write_html(opt->html_path, final, &shown, run, err, errlen) < 0)
        rc = -1;
    return rc;
}

int outputs_check_paths(const master_options_t *opt, char *err, size_t errlen)
{
    if (opt->csv_prefix) {
        /* the files report_write_csv writes */
        static const char *const suffixes[] = {"_stats.csv", "_stats_history.csv",
                                               "_failures.csv", "_exceptions.csv"};
        for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s%s", opt->csv_prefix, suffixes[i]);
            if (report_check_path("--csv", path, err, errlen) < 0)
                return -1;
        }
    }
    if ((opt->json_path && report_check_path("--json", opt->json_path, err, errlen) < 0) ||
        (opt->html_path && report_check_path("--html", opt->html_path, err, errlen) < 0) ||
        (opt->logfile && report_check_path("--logfile", opt->logfile, err, errlen) < 0))
        return -1;
    /* stdout carries one report and nothing else (main sends the tables to stderr); the log
     * may go there only when no report does */
    const char *const options[] = {"--json", "--html", "--logfile"};
    const char *const paths[] = {opt->json_path, opt->html_path, opt->logfile};
    const char *on_stdout = NULL;
    for (size_t i = 0; i < 3; i++) {
        if (!paths[i] || report_path_fd(paths[i]) != 1)
            continue;
        if (on_stdout) {
            snprintf(err, errlen, "%s: stdout already carries the %s report; give one of them "
                     "a file name", options[i], on_stdout);
            return -1;
        }
        on_stdout = i < 2 ? options[i] : NULL;
    }
    return 0;
}
