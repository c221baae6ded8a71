/*
 * report_html — --html FILE: one self-contained page (no scripts, no fetches, no third-party
 * code): the run's parameters, thresholds, the stats and percentile tables (the console's
 * figures: times in ms rounded as the console rounds them), failures, workers, and three
 * charts drawn as inline SVG from the history's Aggregated points: requests and failures per
 * second, median and 95th percentile response times, users.
 *
 * Every string that comes from the scenario, the workers or the command line goes through
 * html_text (HTML-escaped).
 */
#include "report.h"
#include "report_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;"
    "color:#1f2328;background:#fff}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;"
    "border-bottom:1px solid #d0d7de;padding-bottom:4px}\n"
    ".sub{color:#57606a;margin:0 0 16px}\n"
    "table{border-collapse:collapse;font-size:13px;margin:4px 0}\n"
    "th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f6f8fa}tr:nth-child(even) td{background:#fbfcfd}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr.total td{font-weight:600;background:#eef2f6}\n"
    ".pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}\n"
    ".params th{width:160px}.none{color:#57606a;font-style:italic}\n"
    "svg{display:block;margin:8px 0 16px;max-width:100%;height:auto}\n"
    "svg text{font-family:inherit;font-size:11px;fill:#57606a}\n"
    "svg .title{font-size:13px;font-weight:600;fill:#1f2328}\n";

/* s with &, <, >, " and ' escaped; NULL prints nothing. */
static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void td_text(FILE *f, const char *s)
{
    fputs("<td>", f);
    html_text(f, s);
    fputs("</td>", f);
}

static void td_u64(FILE *f, uint64_t v)
{
    fprintf(f, "<td class=\"num\">%" PRIu64 "</td>", v);
}

static void td_ms(FILE *f, uint64_t us)
{
    fprintf(f, "<td class=\"num\">%lld</td>", report_us_to_ms_rounded(us));
}

static void td_double(FILE *f, const char *fmt, double v)
{
    fputs("<td class=\"num\">", f);
    fprintf(f, fmt, v);
    fputs("</td>", f);
}

static void param_row(FILE *f, const char *label, const char *value)
{
    fprintf(f, "<tr><th>%s</th>", label);
    td_text(f, value);
    fputs("</tr>\n", f);
}

static void format_seconds(char *buf, size_t len, double s)
{
    long total = lround(s);
    if (total >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
    else
        snprintf(buf, len, "%ld:%02ld", total / 60, total % 60);
}

/* ---- tables ------------------------------------------------------------------------------- */

static void write_params(FILE *f, const report_run_t *run, const stats_entry_t *total)
{
    char buf[128];
    fputs("<h2>Run</h2>\n<table class=\"params\">\n", f);
    param_row(f, "Scenario", run->scenario_file ? run->scenario_file : "");
    if (run->description)
        param_row(f, "Description", run->description);
    param_row(f, "Host", run->host ? run->host : "(per user class)");
    snprintf(buf, sizeof buf, "%ld", run->users);
    param_row(f, "Users", buf);
    snprintf(buf, sizeof buf, "%g/s", run->spawn_rate);
    param_row(f, "Spawn rate", buf);
    if (run->run_time_s > 0) {
        snprintf(buf, sizeof buf, "%g s", run->run_time_s);
        param_row(f, "Run time", buf);
    }
    report_format_iso8601(buf, sizeof buf, run->start_unix);
    param_row(f, "Start (UTC)", buf);
    report_format_iso8601(buf, sizeof buf, run->end_unix);
    param_row(f, "End (UTC)", buf);
    snprintf(buf, sizeof buf, "%.1f s", report_duration_s(run));
    param_row(f, "Duration", buf);
    if (run->stats_start_unix > run->start_unix) {
        report_format_iso8601(buf, sizeof buf, run->stats_start_unix);
        param_row(f, "Statistics from (UTC)", buf);   /* --reset-stats */
    }
    snprintf(buf, sizeof buf, "%" PRIu32, run->peak_users);
    param_row(f, "Peak users", buf);
    snprintf(buf, sizeof buf, "%zu", run->n_workers);
    param_row(f, "Workers", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, total->requests);
    param_row(f, "Requests", buf);
    snprintf(buf, sizeof buf, "%" PRIu64 " (%.2f%%)", total->failures,
             total->requests ? 100.0 * (double)total->failures / (double)total->requests : 0);
    param_row(f, "Failures", buf);
    snprintf(buf, sizeof buf, "%d", run->exit_code);
    param_row(f, "Exit code", buf);
    fputs("</table>\n", f);
}

static void write_thresholds(FILE *f, const report_run_t *run)
{
    if (run->n_thresholds == 0)
        return;
    fputs("<h2>Thresholds</h2>\n<table>\n<tr><th>Threshold</th><th class=\"num\">Observed</th>"
          "<th>Result</th></tr>\n",
          f);
    for (size_t i = 0; i < run->n_thresholds; i++) {
        const report_threshold_t *th = &run->thresholds[i];
        fputs("<tr>", f);
        td_text(f, th->text);
        fprintf(f, "<td class=\"num\">%g", th->observed);
        if (th->unit && *th->unit) {
            fputc(' ', f);
            html_text(f, th->unit);
        }
        fprintf(f, "</td><td class=\"%s\">%s</td></tr>\n", th->passed ? "pass" : "fail",
                th->passed ? "passed" : "FAILED");
    }
    fputs("</table>\n", f);
}

static void stats_html_row(FILE *f, const stats_entry_t *e, double duration_s, bool total)
{
    fputs(total ? "<tr class=\"total\">" : "<tr>", f);
    td_text(f, e->method);
    td_text(f, e->name);
    td_u64(f, e->requests);
    td_u64(f, e->failures);
    td_ms(f, stats_entry_percentile_us(e, 50));
    td_double(f, "%.1f", e->requests ? (double)e->sum_us / (double)e->requests / 1000.0 : 0);
    td_ms(f, e->requests ? e->min_us : 0);
    td_ms(f, e->max_us);
    td_double(f, "%.0f", e->requests ? (double)e->bytes / (double)e->requests : 0);
    td_double(f, "%.2f", duration_s > 0 ? (double)e->requests / duration_s : 0);
    td_double(f, "%.2f", duration_s > 0 ? (double)e->failures / duration_s : 0);
    fputs("</tr>\n", f);
}

static void write_stats(FILE *f, const stats_entry_t *const *rows, size_t n,
                        const stats_entry_t *total, double duration_s)
{
    fputs("<h2>Request statistics</h2>\n<table>\n<tr><th>Type</th><th>Name</th>"
          "<th class=\"num\"># Requests</th><th class=\"num\"># Fails</th>"
          "<th class=\"num\">Median (ms)</th><th class=\"num\">Average (ms)</th>"
          "<th class=\"num\">Min (ms)</th><th class=\"num\">Max (ms)</th>"
          "<th class=\"num\">Average size (bytes)</th><th class=\"num\">RPS</th>"
          "<th class=\"num\">Failures/s</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++)
        stats_html_row(f, rows[i], duration_s, false);
    stats_html_row(f, total, duration_s, true);
    fputs("</table>\n", f);
}

static void percentile_html_row(FILE *f, const stats_entry_t *e, bool total)
{
    uint64_t pct[REPORT_N_PCT];
    report_entry_percentiles_us(e, pct);
    fputs(total ? "<tr class=\"total\">" : "<tr>", f);
    td_text(f, e->method);
    td_text(f, e->name);
    for (size_t i = 0; i < REPORT_N_PCT; i++)
        td_ms(f, pct[i]);
    td_u64(f, e->requests);
    fputs("</tr>\n", f);
}

/* Rows without requests are left out, as the console's percentile table does. */
static void write_percentiles(FILE *f, const char *title, const stats_entry_t *const *rows,
                              size_t n, const stats_entry_t *total)
{
    fprintf(f, "<h2>%s</h2>\n<table>\n<tr><th>Type</th><th>Name</th>", title);
    for (size_t i = 0; i < REPORT_N_PCT; i++)
        fprintf(f, "<th class=\"num\">%s</th>", report_percentile_labels[i]);
    fputs("<th class=\"num\"># reqs</th></tr>\n", f);
    for (size_t i = 0; i < n; i++)
        if (rows[i]->requests)
            percentile_html_row(f, rows[i], false);
    if (total->requests)
        percentile_html_row(f, total, true);
    fputs("</table>\n", f);
}

static void write_failures(FILE *f, const stats_table_t *t)
{
    fputs("<h2>Failures</h2>\n", f);
    if (t->n_failures == 0) {
        fputs("<p class=\"none\">No failures.</p>\n", f);
        return;
    }
    fputs("<table>\n<tr><th class=\"num\"># Occurrences</th><th>Method</th><th>Name</th>"
          "<th>Error</th></tr>\n",
          f);
    for (size_t i = 0; i < t->n_failures; i++) {
        const stats_failure_t *fl = &t->failures[i];
        fputs("<tr>", f);
        td_u64(f, fl->count);
        td_text(f, fl->method);
        td_text(f, fl->name);
        td_text(f, fl->message);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void write_workers(FILE *f, const report_run_t *run)
{
    if (run->n_workers == 0)
        return;
    fputs("<h2>Workers</h2>\n<table>\n<tr><th>Worker</th><th>Host</th><th>State</th>"
          "<th class=\"num\"># Requests</th><th class=\"num\"># Fails</th></tr>\n",
          f);
    for (size_t i = 0; i < run->n_workers; i++) {
        const report_worker_t *w = &run->workers[i];
        fputs("<tr>", f);
        td_text(f, w->id);
        td_text(f, w->hostname);
        td_text(f, w->state);
        td_u64(f, w->requests);
        td_u64(f, w->failures);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* ---- charts ------------------------------------------------------------------------------- */

#define SVG_W 960
#define SVG_H 280
#define SVG_LEFT 64
#define SVG_RIGHT 20
#define SVG_TOP 40
#define SVG_BOTTOM 36
#define PLOT_W (SVG_W - SVG_LEFT - SVG_RIGHT)
#define PLOT_H (SVG_H - SVG_TOP - SVG_BOTTOM)

typedef struct chart_series {
    const char *label;
    const char *color;
    const double *y;   /* n values; < 0 (or NaN) is a gap */
} chart_series_t;

/* Gridline step for an axis from 0 to max: 1, 2, 2.5 or 5 times a power of ten, ~5 lines. */
static double nice_step(double max)
{
    if (!(max > 0))
        return 1;
    double raw = max / 5;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    double m = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
    return m * mag;
}

static void svg_chart(FILE *f, const char *title, const int64_t *x, size_t n,
                      const chart_series_t *series, size_t n_series)
{
    double ymax = 0;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < n; i++)
            if (series[s].y[i] > ymax)
                ymax = series[s].y[i];
    double step = nice_step(ymax);
    double top = ymax > 0 ? ceil(ymax / step) * step : step * 5;
    if (top <= 0)
        top = 1;
    double x0 = (double)x[0];
    double span = n > 1 && x[n - 1] > x[0] ? (double)(x[n - 1] - x[0]) : 1;

    fprintf(f, "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n", SVG_W,
            SVG_H, SVG_W, SVG_H);
    fputs("<text class=\"title\" x=\"8\" y=\"18\">", f);
    html_text(f, title);
    fputs("</text>\n", f);
    /* legend, right of the title */
    double lx = SVG_LEFT + 260;
    for (size_t s = 0; s < n_series; s++) {
        fprintf(f, "<rect x=\"%.0f\" y=\"9\" width=\"12\" height=\"12\" fill=\"%s\"/>", lx,
                series[s].color);
        fprintf(f, "<text x=\"%.0f\" y=\"19\">", lx + 16);
        html_text(f, series[s].label);
        fputs("</text>\n", f);
        lx += 24 + 7.0 * (double)strlen(series[s].label);
    }
    /* horizontal gridlines with their values */
    for (int k = 0; k * step <= top + step / 2; k++) {
        double v = k * step;
        double y = SVG_TOP + PLOT_H - v / top * PLOT_H;
        fprintf(f, "<line stroke=\"#e5e8eb\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", SVG_LEFT,
                y, SVG_LEFT + PLOT_W, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.12g</text>\n", SVG_LEFT - 6,
                y + 4, v);
    }
    /* axes, and elapsed-time ticks along the bottom */
    fprintf(f, "<line stroke=\"#8c959f\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", SVG_LEFT,
            SVG_TOP + PLOT_H, SVG_LEFT + PLOT_W, SVG_TOP + PLOT_H);
    for (int k = 0; k <= 5; k++) {
        double px = SVG_LEFT + PLOT_W * k / 5.0;
        char label[32];
        format_seconds(label, sizeof label, span * k / 5.0);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px,
                SVG_TOP + PLOT_H + 16, label);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">elapsed (m:ss)</text>\n",
            SVG_LEFT + PLOT_W, SVG_H - 4);
    /* the series: one path each, broken where a value is missing */
    for (size_t s = 0; s < n_series; s++) {
        fprintf(f, "<path fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke=\"%s\" d=\"", series[s].color);
        bool pen_down = false;
        for (size_t i = 0; i < n; i++) {
            double v = series[s].y[i];
            if (!(v >= 0)) {
                pen_down = false;
                continue;
            }
            double px = SVG_LEFT + ((double)x[i] - x0) / span * PLOT_W;
            double py = SVG_TOP + PLOT_H - v / top * PLOT_H;
            fprintf(f, "%s%.1f %.1f ", pen_down ? "L" : "M", px, py);
            pen_down = true;
        }
        fputs("\"/>\n", f);
        if (n == 1 && series[s].y[0] >= 0)
            fprintf(f, "<circle cx=\"%d\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", SVG_LEFT,
                    SVG_TOP + PLOT_H - series[s].y[0] / top * PLOT_H, series[s].color);
    }
    fputs("</svg>\n", f);
}

/* Charts from the Aggregated point of each snapshot. -1 if memory ran out. */
static int write_charts(FILE *f, const history_t *h)
{
    fputs("<h2>Charts</h2>\n", f);
    size_t n = 0;
    for (size_t i = 0; h && i < h->n; i++)
        if (h->snaps[i].n_points > 0)
            n++;
    if (n == 0) {
        fputs("<p class=\"none\">No history was recorded.</p>\n", f);
        return 0;
    }
    int64_t *x = malloc(n * sizeof *x);
    double *v = malloc(5 * n * sizeof *v);
    if (!x || !v) {
        free(x);
        free(v);
        return -1;
    }
    double *rps = v, *fps = v + n, *p50 = v + 2 * n, *p95 = v + 3 * n, *users = v + 4 * n;
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        const history_snapshot_t *s = &h->snaps[i];
        if (s->n_points == 0)
            continue;
        const history_point_t *p = &s->points[0];
        x[k] = s->unix_s;
        rps[k] = p->rps;
        fps[k] = p->fails_per_s;
        p50[k] = p->cur_pct_ms[0];
        p95[k] = p->cur_pct_ms[5];
        users[k] = s->users;
        k++;
    }
    const chart_series_t rate_series[] = { { "Requests/s", "#2da44e", rps },
                                           { "Failures/s", "#cf222e", fps } };
    const chart_series_t time_series[] = { { "Median (ms)", "#0969da", p50 },
                                           { "95th percentile (ms)", "#bf8700", p95 } };
    const chart_series_t user_series[] = { { "Users", "#8250df", users } };
    svg_chart(f, "Total requests per second", x, n, rate_series, 2);
    svg_chart(f, "Response times (ms)", x, n, time_series, 2);
    svg_chart(f, "Number of users", x, n, user_series, 1);
    free(x);
    free(v);
    return 0;
}

/* ---- the page ----------------------------------------------------------------------------- */

static int write_page(FILE *f, const stats_table_t *t, const history_t *h, const report_run_t *run)
{
    stats_entry_t total, corr_total;
    stats_entry_init(&total);
    stats_entry_init(&corr_total);
    const stats_entry_t **rows = stats_sorted_entries(t);
    const stats_entry_t **corr_rows = run->corrected ? stats_sorted_entries(run->corrected) : NULL;
    int rc = -1;
    if (!rows || stats_aggregate(t, &total) < 0)
        goto out;
    if (run->corrected && (!corr_rows || stats_aggregate(run->corrected, &corr_total) < 0))
        goto out;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>herd report",
          f);
    if (run->scenario_file) {
        fputs(" — ", f);
        html_text(f, run->scenario_file);
    }
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", CSS);
    fputs("<h1>herd load test report</h1>\n<p class=\"sub\">", f);
    html_text(f, run->scenario_file);
    if (run->host) {
        fputs(" against ", f);
        html_text(f, run->host);
    }
    fputs(" · herd " HERD_VERSION "</p>\n", f);

    write_params(f, run, &total);
    write_thresholds(f, run);
    write_stats(f, rows, t->n_entries, &total, report_stats_duration_s(run));
    write_percentiles(f, "Response time percentiles (ms)", rows, t->n_entries, &total);
    if (run->corrected)
        write_percentiles(f, "Response time percentiles, corrected for coordinated omission (ms)",
                          corr_rows, run->corrected->n_entries, &corr_total);
    write_failures(f, t);
    write_workers(f, run);
    if (write_charts(f, h) < 0)
        goto out;
    fputs("</body>\n</html>\n", f);
    rc = 0;
out:
    free(rows);
    free(corr_rows);
    stats_entry_free(&total);
    stats_entry_free(&corr_total);
    return rc;
}

int report_html_to(FILE *f, const stats_table_t *final, const history_t *h,
                   const report_run_t *run)
{
    static const report_run_t none;
    return write_page(f, final, h, run ? run : &none);
}

int report_write_html(const char *path, const stats_table_t *final, const history_t *h,
                      const report_run_t *run, char *err, size_t errlen)
{
    static const report_run_t none;
    if (!run)
        run = &none;
    report_file_t rf;
    if (report_file_open(&rf, "--html", path, err, errlen) < 0)
        return -1;
    if (write_page(rf.f, final, h, run) < 0) {
        report_file_abort(&rf);
        snprintf(err, errlen, "--html: cannot write '%s': out of memory", path);
        return -1;
    }
    return report_file_commit(&rf, err, errlen);
}
