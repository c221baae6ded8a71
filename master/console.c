/*
 * console — Locust-style console tables (see console.h). The format strings mirror Locust's
 * locust/stats.py (get_stats_summary, get_percentile_stats_summary, get_error_report_summary);
 * keep them in step if Locust's output is the reference again.
 */
#include "console.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NAME_COL_WIDTH (CONSOLE_NAME_WIDTH - CONSOLE_TYPE_WIDTH + 4) /* stats table's name column */

static const char *const PERCENTILE_LABELS[] = { "50%", "66%", "75%",   "80%",    "90%", "95%",
                                                 "98%", "99%", "99.9%", "99.99%", "100%" };
#define N_PERCENTILES STATS_N_PERCENTILES

static void dashes(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc('-', out);
}

static long long us_to_ms(uint64_t us)
{
    return (long long)((us + 500) / 1000);
}

static void print_stats_row(FILE *out, const stats_entry_t *e, double rps, double fails_per_s)
{
    char type[64], fails[64];
    snprintf(type, sizeof type, "%s%s", e->method ? e->method : "",
             e->method && *e->method ? " " : "");
    double ratio = e->requests ? (double)e->failures / (double)e->requests : e->failures ? 1 : 0;
    snprintf(fails, sizeof fails, "%" PRIu64 "(%.2f%%)", e->failures, ratio * 100);
    long long avg = e->requests ? llround((double)e->sum_us / (double)e->requests / 1000.0) : 0;
    long long min = e->requests ? us_to_ms(e->min_us) : 0;
    long long med = us_to_ms(stats_entry_percentile_us(e, 50));
    fprintf(out, "%-*s %-*s %7" PRIu64 " %12s |%7lld %7lld %7lld%7lld | %7.2f %11.2f\n",
            CONSOLE_TYPE_WIDTH, type, NAME_COL_WIDTH, e->name, e->requests, fails, avg, min,
            us_to_ms(e->max_us), med, rps, fails_per_s);
}

static void print_stats_separator(FILE *out)
{
    static const int widths[] = { CONSOLE_TYPE_WIDTH, NAME_COL_WIDTH, 7, 13, 7, 7, 7, 7, 8, 11 };
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        if (i)
            fputc('|', out);
        dashes(out, widths[i]);
    }
    fputc('\n', out);
}

/* Requests and failures of (method, name) in the window table, as rates over window_s. */
static void window_rates(const stats_table_t *window, const stats_entry_t *e, double window_s,
                         double *rps, double *fps)
{
    *rps = *fps = 0;
    long r = stats_find(window, e->method, e->name);
    if (r < 0 || window_s <= 0)
        return;
    *rps = (double)window->entries[r].requests / window_s;
    *fps = (double)window->entries[r].failures / window_s;
}

/* What every table prints from: the rows in Locust's order and the Aggregated entry (both
 * the caller's to release with close_table). NULL if memory ran out. */
static const stats_entry_t **open_table(const stats_table_t *t, stats_entry_t *total)
{
    stats_entry_init(total);
    const stats_entry_t **rows = stats_sorted_entries(t);
    if (!rows || stats_aggregate(t, total) < 0) {
        free(rows);
        stats_entry_free(total);
        return NULL;
    }
    return rows;
}

static void close_table(const stats_entry_t **rows, stats_entry_t *total)
{
    free(rows);
    stats_entry_free(total);
}

int console_print_stats(FILE *out, const stats_table_t *t, const stats_table_t *window,
                        double window_s, double duration_s)
{
    stats_entry_t total;
    const stats_entry_t **rows = open_table(t, &total);
    if (!rows)
        return -1;
    double rps = 0, fps = 0;
    if (window) {
        if (window_s > 0) {
            rps = (double)stats_total_requests(window) / window_s;
            fps = (double)stats_total_failures(window) / window_s;
        }
    } else if (duration_s > 0) {
        rps = (double)total.requests / duration_s;
        fps = (double)total.failures / duration_s;
    }

    fprintf(out, "%-*s %-*s %7s %12s |%7s %7s %7s%7s | %7s %11s\n", CONSOLE_TYPE_WIDTH, "Type",
            NAME_COL_WIDTH, "Name", "# reqs", "# fails", "Avg", "Min", "Max", "Med", "req/s",
            "failures/s");
    print_stats_separator(out);
    for (size_t i = 0; i < t->n_entries; i++) {
        const stats_entry_t *e = rows[i];
        double r = 0, f = 0;
        if (window)
            window_rates(window, e, window_s, &r, &f);
        else if (duration_s > 0) {
            r = (double)e->requests / duration_s;
            f = (double)e->failures / duration_s;
        }
        print_stats_row(out, e, r, f);
    }
    print_stats_separator(out);
    print_stats_row(out, &total, rps, fps);
    fputc('\n', out);

    close_table(rows, &total);
    return 0;
}

static void print_percentile_row(FILE *out, const stats_entry_t *e)
{
    uint64_t v[N_PERCENTILES];
    stats_entry_percentiles_us(e, stats_percentiles, N_PERCENTILES, v);
    fprintf(out, "%-*s %-*s %8lld", CONSOLE_TYPE_WIDTH, e->method ? e->method : "",
            CONSOLE_NAME_WIDTH, e->name, us_to_ms(v[0]));
    for (size_t i = 1; i < N_PERCENTILES; i++)
        fprintf(out, " %6lld", us_to_ms(v[i]));
    fprintf(out, " %6" PRIu64 "\n", e->requests);
}

static void print_percentile_separator(FILE *out)
{
    dashes(out, CONSOLE_TYPE_WIDTH);
    fputc('|', out);
    dashes(out, CONSOLE_NAME_WIDTH);
    fputc('|', out);
    dashes(out, 8);
    for (size_t i = 0; i < N_PERCENTILES; i++) {
        fputc('|', out);
        dashes(out, 6);
    }
    fputc('\n', out);
}

int console_print_percentiles(FILE *out, const stats_table_t *t)
{
    return console_print_percentiles_titled(out, t, "Response time percentiles (approximated)");
}

int console_print_percentiles_titled(FILE *out, const stats_table_t *t, const char *title)
{
    stats_entry_t total;
    const stats_entry_t **rows = open_table(t, &total);
    if (!rows)
        return -1;

    fprintf(out, "%s\n", title);
    fprintf(out, "%-*s %-*s %8s", CONSOLE_TYPE_WIDTH, "Type", CONSOLE_NAME_WIDTH, "Name",
            PERCENTILE_LABELS[0]);
    for (size_t i = 1; i < N_PERCENTILES; i++)
        fprintf(out, " %6s", PERCENTILE_LABELS[i]);
    fprintf(out, " %6s\n", "# reqs");
    print_percentile_separator(out);
    for (size_t i = 0; i < t->n_entries; i++) {
        const stats_entry_t *e = rows[i];
        if (e->requests)
            print_percentile_row(out, e);
    }
    print_percentile_separator(out);
    if (total.requests)
        print_percentile_row(out, &total);
    fputc('\n', out);

    close_table(rows, &total);
    return 0;
}

void console_print_failures(FILE *out, const stats_table_t *t)
{
    if (t->n_failures == 0)
        return;
    const int error_width = CONSOLE_NAME_WIDTH + 80 - 19;
    fprintf(out, "Error report\n");
    fprintf(out, "%-18s %-100s\n", "# occurrences", "Error");
    dashes(out, 18);
    fputc('|', out);
    dashes(out, error_width);
    fputc('\n', out);
    for (size_t i = 0; i < t->n_failures; i++) {
        const stats_failure_t *f = &t->failures[i];
        /* "%-100s" of "METHOD NAME: message", padded without building the string */
        int len = fprintf(out, "%-18" PRIu64 " %s %s: %s", f->count, f->method, f->name,
                          f->message);
        int text_len = len - 19;
        fprintf(out, "%*s\n", text_len < 100 ? 100 - text_len : 0, "");
    }
    dashes(out, 18);
    fputc('|', out);
    dashes(out, error_width);
    fputc('\n', out);
    fputc('\n', out);
}

void console_print_notes(FILE *out, const stats_table_t *t)
{
    uint64_t resends = stats_total_resends(t), interrupted = stats_total_interrupted(t);
    if (resends)
        fprintf(out, "Re-sent: %" PRIu64 " request%s sent again on a new connection: the server "
                "closed a reused keep-alive connection before answering (GET, HEAD and OPTIONS "
                "only; each counted once above)\n", resends, resends == 1 ? " was" : "s were");
    if (interrupted)
        fprintf(out, "In flight: %" PRIu64 " request%s still in flight when %s user%s stopped: "
                "aborted, not counted above\n", interrupted, interrupted == 1 ? " was" : "s were",
                interrupted == 1 ? "its" : "their", interrupted == 1 ? "" : "s");
    if (resends || interrupted)
        fputc('\n', out);
}
