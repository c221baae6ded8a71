/*
 * report_html — the HTML report (--html FILE, /stats/report): the web UI's page (master/web/,
 * embedded by web_assets) with its style sheet, Chart.js and app.js inlined in place of the
 * three tags that name them, and the run's document in
 * <script id="herd-data" type="application/json">, which app.js renders instead of fetching
 * the live one. One self-contained file that works offline, and the same page as the live
 * UI, so the report and the UI cannot drift apart.
 *
 * The document is report_json_document() (the --json report) plus "mode": "report",
 * "state": "stopped", "user_count" (users at the stop: the history's last row),
 * "stats_start_time" (with --reset-stats) and "row_history": every stats row's per-second
 * history, for the charts a click on a row shows; left out when rows × seconds exceed
 * ROW_HISTORY_MAX_POINTS (the page then says per-row charts are not in the report).
 *
 * Every '<' of the document is written as \u003c (the same string to a JSON parser), so no
 * name, error or host can close the script element or open a comment in it: the document
 * stays data whatever the scenario, the workers or the target put in it.
 */
#include "report.h"
#include "report_internal.h"
#include "web_assets.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_out.h"

/* Above this many (row, second) points the rows' histories stay out of the report: each is
 * about 250 bytes of JSON, and the page must still open. */
#define ROW_HISTORY_MAX_POINTS 250000u   /* about 40 MB of JSON */

/* The tags of index.html that the report replaces with the files' contents, in the order
 * they appear in it. */
#define TAG_CSS "<link rel=\"stylesheet\" href=\"style.css\">"
#define TAG_CHART "<script src=\"chart.umd.js\"></script>"
#define TAG_APP "<script src=\"app.js\"></script>"

/* json_dump_callback's sink: to the FILE in data, every '<' as \u003c. */
static int write_escaped(const char *buf, size_t size, void *data)
{
    FILE *f = data;
    size_t from = 0;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] != '<')
            continue;
        if (fwrite(buf + from, 1, i - from, f) != i - from || fputs("\\u003c", f) == EOF)
            return -1;
        from = i + 1;
    }
    return fwrite(buf + from, 1, size - from, f) == size - from ? 0 : -1;
}

static int dump(FILE *f, const json_t *j)
{
    return json_dump_callback(j, write_escaped, f,
                              JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
}

/* A JSON string as report_json.c makes it (invalid UTF-8 bytes become '?'), so the keys of
 * row_history are the stats rows' "<method> <name>" exactly. */
static json_t *key_string(const char *method, const char *name)
{
    size_t len = strlen(method) + 1 + strlen(name);
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    snprintf(s, len + 1, "%s %s", method, name);
    json_t *j = json_string(s);
    if (!j) {
        for (char *p = s; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        j = json_string(s);
    }
    free(s);
    return j;
}

/* ,"row_history":{"<method> <name>": [rows], ...}, streamed: one row's history in memory at
 * a time. */
static int write_row_history(FILE *f, const stats_table_t *t, const history_t *h)
{
    const stats_entry_t **rows = stats_sorted_entries(t);
    if (!rows)
        return -1;
    int rc = fputs(",\"row_history\":{", f) == EOF ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < t->n_entries; i++) {
        json_t *key = key_string(rows[i]->method, rows[i]->name);
        json_t *hist = report_json_history(h, rows[i]->method, rows[i]->name, 0);
        if (!key || !hist || (i > 0 && fputc(',', f) == EOF) || dump(f, key) < 0 ||
            fputc(':', f) == EOF || dump(f, hist) < 0)
            rc = -1;
        json_decref(key);
        json_decref(hist);
    }
    free(rows);
    if (rc == 0 && fputc('}', f) == EOF)
        rc = -1;
    return rc;
}

/* The document, as one JSON object written escaped. */
static int write_document(FILE *f, const stats_table_t *t, const history_t *h,
                          const report_run_t *run)
{
    json_t *doc = report_json_document(t, h, run);
    if (!doc)
        return -1;
    uint32_t users_at_stop = h && h->n ? h->snaps[h->n - 1].users : 0;
    bool ok = json_out_put(doc, "mode", json_string("report")) &&
              json_out_put(doc, "state", json_string("stopped")) &&
              json_out_put(doc, "user_count", json_integer(users_at_stop));
    if (ok && run->stats_start_unix > run->start_unix) {   /* --reset-stats */
        char iso[40];
        report_format_iso8601(iso, sizeof iso, run->stats_start_unix);
        ok = json_out_put(doc, "stats_start_time", json_string(iso));
    }
    /* The object without its closing brace, then row_history, then the brace. */
    char *text = ok ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    if (!text)
        return -1;
    size_t len = strlen(text);
    int rc = len >= 2 && text[len - 1] == '}' && write_escaped(text, len - 1, f) == 0 ? 0 : -1;
    free(text);
    size_t seconds = h ? h->n : 0;
    if (rc == 0 && t->n_entries > 0 && seconds > 0 &&
        (double)t->n_entries * (double)seconds <= ROW_HISTORY_MAX_POINTS)
        rc = write_row_history(f, t, h);
    if (rc == 0 && fputc('}', f) == EOF)
        rc = -1;
    return rc;
}

/* Whether data holds "</script" in any case, or "<!--": either would end (or confuse) the
 * script element it is inlined in. */
static bool breaks_script(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '<')
            continue;
        if (len - i >= 8 && strncasecmp((const char *)data + i, "</script", 8) == 0)
            return true;
        if (len - i >= 4 && memcmp(data + i, "<!--", 4) == 0)
            return true;
    }
    return false;
}

static int write_bytes(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int write_asset(FILE *f, const char *before, const char *path, const char *after)
{
    const web_asset_t *a = web_asset_find(path);
    if (!a || fputs(before, f) == EOF || write_bytes(f, a->data, a->len) < 0 ||
        fputs(after, f) == EOF)
        return -1;
    return 0;
}

int report_html_to(FILE *f, const stats_table_t *final, const history_t *h,
                   const report_run_t *run)
{
    static const report_run_t none;
    if (!run)
        run = &none;
    const web_asset_t *page = web_asset_find("/index.html");
    const web_asset_t *app = web_asset_find("/app.js");
    const web_asset_t *chart = web_asset_find("/chart.umd.js");
    if (!page || !app || !chart || breaks_script(app->data, app->len) ||
        breaks_script(chart->data, chart->len))
        return -1;
    const char *text = (const char *)page->data;
    const char *end = text + page->len;
    const char *css = memmem(text, page->len, TAG_CSS, strlen(TAG_CSS));
    const char *js1 = css ? memmem(css, (size_t)(end - css), TAG_CHART, strlen(TAG_CHART)) : NULL;
    const char *js2 = js1 ? memmem(js1, (size_t)(end - js1), TAG_APP, strlen(TAG_APP)) : NULL;
    if (!js2)
        return -1;
    const char *after_css = css + strlen(TAG_CSS);
    const char *after_js1 = js1 + strlen(TAG_CHART);
    const char *after_js2 = js2 + strlen(TAG_APP);
    if (write_bytes(f, text, (size_t)(css - text)) < 0 ||
        write_asset(f, "<style>\n", "/style.css", "</style>") < 0 ||
        write_bytes(f, after_css, (size_t)(js1 - after_css)) < 0 ||
        write_asset(f, "<script>\n", "/chart.umd.js", "\n</script>") < 0 ||
        write_bytes(f, after_js1, (size_t)(js2 - after_js1)) < 0 ||
        fputs("<script id=\"herd-data\" type=\"application/json\">", f) == EOF ||
        write_document(f, final, h, run) < 0 || fputs("</script>\n", f) == EOF ||
        write_asset(f, "<script>\n", "/app.js", "\n</script>") < 0 ||
        write_bytes(f, after_js2, (size_t)(end - after_js2)) < 0)
        return -1;
    return ferror(f) ? -1 : 0;
}

int report_write_html(const char *path, const stats_table_t *final, const history_t *h,
                      const report_run_t *run, char *err, size_t errlen)
{
    report_file_t rf;
    if (report_file_open(&rf, "--html", path, err, errlen) < 0)
        return -1;
    if (report_html_to(rf.f, final, h, run) < 0) {
        bool io = ferror(rf.f);
        report_file_abort(&rf);
        snprintf(err, errlen, "--html: cannot write '%s': %s", path,
                 io ? "output error" : "out of memory");
        return -1;
    }
    return report_file_commit(&rf, err, errlen);
}
