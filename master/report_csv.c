/*
 * report_csv — --csv PREFIX: the four files Locust 2.x writes (locust/stats.py, StatsCSV and
 * StatsCSVFileWriter), with the same headers, row order, column meanings and number formatting,
 * so tools that read Locust's files read ours:
 *   - ints where Locust writes ints (counts, median and percentiles in whole ms, timestamps),
 *   - Python's repr() for Locust's floats (averages, min/max in ms, content size, rates),
 *   - "%2f" for the history's Requests/s and Failures/s (Locust's f"{x:2f}"),
 *   - "N/A" for percentiles of a row without requests,
 *   - Python csv's QUOTE_MINIMAL quoting and "\r\n" line ends.
 */
#include "report.h"
#include "report_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CSV_EOL "\r\n"   /* Python's csv.writer default lineterminator */

static const char *const STATS_COLUMNS[] = {
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time",
    "Average Response Time", "Min Response Time", "Max Response Time", "Average Content Size",
    "Requests/s", "Failures/s",
};
static const char *const HISTORY_COLUMNS_HEAD[] = {
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
};
static const char *const HISTORY_COLUMNS_TAIL[] = {
    "Total Request Count", "Total Failure Count", "Total Median Response Time",
    "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
    "Total Average Content Size",
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* One field, quoted as Python's csv module does by default (QUOTE_MINIMAL). */
static void csv_field(FILE *f, bool first, const char *s)
{
    if (!first)
        fputc(',', f);
    if (!s)
        s = "";
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_u64(FILE *f, uint64_t v)
{
    fprintf(f, ",%" PRIu64, v);
}

static void csv_pyfloat(FILE *f, double v)
{
    char buf[64];
    report_format_pyfloat(buf, sizeof buf, v);
    fprintf(f, ",%s", buf);
}

static void csv_header(FILE *f, const char *const *cols, size_t n, bool first)
{
    for (size_t i = 0; i < n; i++)
        csv_field(f, first && i == 0, cols[i]);
}

static void csv_percentile_labels(FILE *f)
{
    for (size_t i = 0; i < REPORT_N_PCT; i++)
        csv_field(f, false, report_percentile_labels[i]);
}

/* ---- _stats.csv --------------------------------------------------------------------------- */

static void stats_csv_row(FILE *f, const stats_entry_t *e, double duration_s)
{
    csv_field(f, true, e->method);
    csv_field(f, false, e->name);
    csv_u64(f, e->requests);
    csv_u64(f, e->failures);
    fprintf(f, ",%lld", report_us_to_ms_rounded(stats_entry_percentile_us(e, 50)));
    csv_pyfloat(f, e->requests ? (double)e->sum_us / (double)e->requests / 1000.0 : 0.0);
    if (e->requests) {
        csv_pyfloat(f, (double)e->min_us / 1000.0);
        csv_pyfloat(f, (double)e->max_us / 1000.0);
        csv_pyfloat(f, (double)e->bytes / (double)e->requests);
    } else {
        fputs(",0,0,0", f);   /* Locust: min None -> 0, max 0, content size 0 (ints) */
    }
    csv_pyfloat(f, duration_s > 0 ? (double)e->requests / duration_s : 0.0);
    csv_pyfloat(f, duration_s > 0 ? (double)e->failures / duration_s : 0.0);
    uint64_t pct[REPORT_N_PCT];
    report_entry_percentiles_us(e, pct);
    for (size_t i = 0; i < REPORT_N_PCT; i++) {
        if (e->requests)
            fprintf(f, ",%lld", report_us_to_ms_rounded(pct[i]));
        else
            fputs(",N/A", f);
    }
    fputs(CSV_EOL, f);
}

int report_csv_stats_to(FILE *f, const stats_table_t *t, const report_run_t *run)
{
    stats_entry_t total;
    stats_entry_init(&total);
    const stats_entry_t **rows = stats_sorted_entries(t);
    if (!rows || stats_aggregate(t, &total) < 0) {
        free(rows);
        stats_entry_free(&total);
        return -1;
    }
    double duration_s = report_stats_duration_s(run);
    csv_header(f, STATS_COLUMNS, N_OF(STATS_COLUMNS), true);
    csv_percentile_labels(f);
    fputs(CSV_EOL, f);
    for (size_t i = 0; i < t->n_entries; i++)
        stats_csv_row(f, rows[i], duration_s);
    stats_csv_row(f, &total, duration_s);
    free(rows);
    stats_entry_free(&total);
    return 0;
}

static int write_stats(const char *path, const stats_table_t *t, const report_run_t *run,
                       char *err, size_t errlen)
{
    report_file_t rf;
    if (report_file_open(&rf, "--csv", path, err, errlen) < 0)
        return -1;
    if (report_csv_stats_to(rf.f, t, run) < 0) {
        report_file_abort(&rf);
        snprintf(err, errlen, "--csv: cannot write '%s': out of memory", path);
        return -1;
    }
    return report_file_commit(&rf, err, errlen);
}

/* ---- _stats_history.csv ------------------------------------------------------------------- */

static void history_row(FILE *f, const history_snapshot_t *s, const history_point_t *p,
                        bool aggregated)
{
    fprintf(f, "%" PRId64 ",%" PRIu32, s->unix_s, s->users);
    csv_field(f, false, p->method ? p->method : "");
    csv_field(f, false, p->name ? p->name : aggregated ? "Aggregated" : "");
    fprintf(f, ",%2f,%2f", p->rps, p->fails_per_s);
    for (size_t i = 0; i < REPORT_N_PCT; i++) {
        if (p->total_requests == 0 || p->cur_pct_ms[i] < 0)
            fputs(",N/A", f);
        else
            fprintf(f, ",%lld", llround(p->cur_pct_ms[i]));
    }
    csv_u64(f, p->total_requests);
    csv_u64(f, p->total_failures);
    fprintf(f, ",%lld", p->total_requests ? llround(p->total_median_ms) : 0LL);
    csv_pyfloat(f, p->total_requests ? p->total_avg_ms : 0.0);
    if (p->total_requests) {
        csv_pyfloat(f, p->total_min_ms);
        csv_pyfloat(f, p->total_max_ms);
        csv_pyfloat(f, p->total_avg_content_bytes);
    } else {
        fputs(",0,0,0", f);
    }
    fputs(CSV_EOL, f);
}

static int point_cmp(const void *a, const void *b)
{
    const history_point_t *x = *(const history_point_t *const *)a;
    const history_point_t *y = *(const history_point_t *const *)b;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    return c ? c : strcmp(x->method ? x->method : "", y->method ? y->method : "");
}

int report_csv_history_to(FILE *f, const history_t *h, bool full_history)
{
    /* Per-entry rows in Locust's order (by name, then method), then Aggregated. */
    size_t max_points = 1;
    for (size_t i = 0; h && i < h->n; i++)
        if (h->snaps[i].n_points > max_points)
            max_points = h->snaps[i].n_points;
    const history_point_t **sorted = malloc(max_points * sizeof *sorted);
    if (!sorted)
        return -1;
    csv_header(f, HISTORY_COLUMNS_HEAD, N_OF(HISTORY_COLUMNS_HEAD), true);
    csv_percentile_labels(f);
    csv_header(f, HISTORY_COLUMNS_TAIL, N_OF(HISTORY_COLUMNS_TAIL), false);
    fputs(CSV_EOL, f);
    for (size_t i = 0; h && i < h->n; i++) {
        const history_snapshot_t *s = &h->snaps[i];
        if (s->n_points == 0)
            continue;
        if (full_history && s->n_points > 1) {
            size_t n = s->n_points - 1;
            for (size_t k = 0; k < n; k++)
                sorted[k] = &s->points[k + 1];
            qsort(sorted, n, sizeof *sorted, point_cmp);
            for (size_t k = 0; k < n; k++)
                history_row(f, s, sorted[k], false);
        }
        history_row(f, s, &s->points[0], true);
    }
    free(sorted);
    return 0;
}

static int write_history(const char *path, const history_t *h, bool full_history, char *err,
                         size_t errlen)
{
    report_file_t rf;
    if (report_file_open(&rf, "--csv", path, err, errlen) < 0)
        return -1;
    if (report_csv_history_to(rf.f, h, full_history) < 0) {
        report_file_abort(&rf);
        snprintf(err, errlen, "--csv: cannot write '%s': out of memory", path);
        return -1;
    }
    return report_file_commit(&rf, err, errlen);
}

/* ---- _failures.csv, _exceptions.csv ------------------------------------------------------- */

void report_csv_failures_to(FILE *f, const stats_table_t *t)
{
    static const char *const columns[] = { "Method", "Name", "Error", "Occurrences" };
    csv_header(f, columns, N_OF(columns), true);
    fputs(CSV_EOL, f);
    /* In the order the groups first occurred (Locust's order is that of a hash). */
    for (size_t i = 0; i < t->n_failures; i++) {
        const stats_failure_t *fl = &t->failures[i];
        csv_field(f, true, fl->method);
        csv_field(f, false, fl->name);
        csv_field(f, false, fl->message);
        csv_u64(f, fl->count);
        fputs(CSV_EOL, f);
    }
}

/* herd has no user-code exceptions: Locust's header and no rows. */
void report_csv_exceptions_to(FILE *f)
{
    static const char *const columns[] = { "Count", "Message", "Traceback", "Nodes" };
    csv_header(f, columns, N_OF(columns), true);
    fputs(CSV_EOL, f);
}

static int write_failures(const char *path, const stats_table_t *t, char *err, size_t errlen)
{
    report_file_t rf;
    if (report_file_open(&rf, "--csv", path, err, errlen) < 0)
        return -1;
    report_csv_failures_to(rf.f, t);
    return report_file_commit(&rf, err, errlen);
}

static int write_exceptions(const char *path, char *err, size_t errlen)
{
    report_file_t rf;
    if (report_file_open(&rf, "--csv", path, err, errlen) < 0)
        return -1;
    report_csv_exceptions_to(rf.f);
    return report_file_commit(&rf, err, errlen);
}

int report_write_csv(const char *prefix, const stats_table_t *final, const history_t *h,
                     const report_run_t *run, bool full_history, char *err, size_t errlen)
{
    size_t cap = strlen(prefix) + sizeof "_stats_history.csv";
    char *path = malloc(cap);
    if (!path) {
        snprintf(err, errlen, "--csv: cannot write '%s_stats.csv': out of memory", prefix);
        return -1;
    }
    int rc;
    snprintf(path, cap, "%s_stats.csv", prefix);
    rc = write_stats(path, final, run, err, errlen);
    if (rc == 0) {
        snprintf(path, cap, "%s_stats_history.csv", prefix);
        rc = write_history(path, h, full_history, err, errlen);
    }
    if (rc == 0) {
        snprintf(path, cap, "%s_failures.csv", prefix);
        rc = write_failures(path, final, err, errlen);
    }
    if (rc == 0) {
        snprintf(path, cap, "%s_exceptions.csv", prefix);
        rc = write_exceptions(path, err, errlen);
    }
    free(path);
    return rc;
}
