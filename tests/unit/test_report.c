/* Unit tests for master/report: the Locust-compatible CSV files (headers copied from Locust
 * 2.12.1's locust/stats.py, StatsCSV / StatsCSVFileWriter), the JSON summary (read back with
 * jansson) and the HTML report (the web UI's page with the run's document inlined), written from a known table and history into a
 * temporary directory; plus the history container and its per-second columns from a
 * timeline (master/outputs.h), Python float formatting and the error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/scenario.h"
#include "../../master/outputs.h"
#include "../../master/report.h"
#include "../../master/report_internal.h"

/* Locust 2.12.1, StatsCSV.requests_csv_columns + get_readable_percentiles(PERCENTILES_TO_REPORT) */
static const char STATS_HEADER[] =
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
/* StatsCSVFileWriter.stats_history_csv_columns */
static const char HISTORY_HEADER[] =
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
    "Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size";
static const char FAILURES_HEADER[] = "Method,Name,Error,Occurrences";
static const char EXCEPTIONS_HEADER[] = "Count,Message,Traceback,Nodes";

#define START_UNIX 1700000000.0   /* 2023-11-14T22:13:20Z */
#define T0 ((int64_t)START_UNIX)
#define SCRIPT_NAME "<script>alert(1)</script>"

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct fixture {
    char dir[64];
    char prefix[96];
    stats_table_t table;
    stats_table_t corrected;
    history_t history;
    report_worker_t workers[2];
    report_threshold_t thresholds[2];
    report_run_t run;
} fixture_t;

static void record(stats_table_t *t, const char *method, const char *name, uint64_t us,
                   uint64_t bytes, const char *failure)
{
    long row = stats_row(t, method, name);
    assert_true(row >= 0);
    stats_record(t, (size_t)row, us, bytes, failure != NULL, T0 + 1);
    if (failure)
        assert_int_equal(stats_add_failure(t, (size_t)row, failure), 0);
}

/* A history point with distinct, recognisable values. */
static void set_point(history_point_t *p, const char *method, const char *name, double rps,
                      uint64_t requests, double pct_base)
{
    p->method = method;
    p->name = name;
    p->rps = rps;
    p->fails_per_s = rps / 10;
    for (size_t i = 0; i < REPORT_N_PCT; i++)
        p->cur_pct_ms[i] = pct_base + (double)i;
    p->total_requests = requests;
    p->total_failures = requests / 4;
    p->total_median_ms = 20;
    p->total_avg_ms = 25.5;
    p->total_min_ms = 10;
    p->total_max_ms = 40.25;
    p->total_avg_content_bytes = 100;
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/herd-test-report-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->prefix, sizeof fx->prefix, "%s/run", fx->dir);

    stats_table_t *t = &fx->table;
    stats_init(t);
    /* rows created out of order: the files sort by (name, method) */
    record(t, "POST", "/login", 5000, 50, NULL);
    record(t, "POST", "/login", 7000, 150, NULL);
    record(t, "GET", "/items", 10000, 100, NULL);
    record(t, "GET", "/items", 20000, 100, NULL);
    record(t, "GET", "/items", 30000, 100, NULL);
    record(t, "GET", "/items", 40000, 100, "HTTP 500");
    record(t, "GET", SCRIPT_NAME, 1000, 0, "said \"no\", twice");
    record(t, "GET", "/a,b", 2000, 10, NULL);
    assert_true(stats_row(t, "GET", "/empty") >= 0);   /* a row without requests */

    stats_init(&fx->corrected);
    record(&fx->corrected, "GET", "/items", 10000, 100, NULL);
    record(&fx->corrected, "GET", "/items", 900000, 100, NULL);

    /* three snapshots; points[0] Aggregated, then /login and /items (unsorted) */
    history_init(&fx->history);
    for (int s = 0; s < 3; s++) {
        history_snapshot_t *snap = history_add(&fx->history, T0 + 1 + s, 10u * (uint32_t)(s + 1), 3);
        assert_non_null(snap);
        set_point(&snap->points[0], "", "Aggregated", 12.5 * (s + 1), 8, 100);
        set_point(&snap->points[1], "POST", "/login", 2, 2, 200);
        set_point(&snap->points[2], "GET", "/items", 4, 4, 300);
    }
    fx->history.snaps[1].points[0].cur_pct_ms[5] = -1;   /* no p95 in that window: N/A */
    fx->history.snaps[2].points[1].total_requests = 0;    /* no requests yet: all N/A */

    fx->workers[0] = (report_worker_t){ "w1", "host-a", "running", 5, 1, 3, 12.5, 0 };
    fx->workers[1] = (report_worker_t){ "w2", "host-b", "stopped", 3, 1, 0, 0, 0 };
    fx->thresholds[0] = (report_threshold_t){ "p95<300ms", true, 40, "ms" };
    fx->thresholds[1] = (report_threshold_t){ "fail_ratio<0.01", false, 0.25, "" };
    fx->run = (report_run_t){
        .scenario_file = "games & <friends>.yaml",
        .description = NULL,
        .host = "http://127.0.0.1:8080",
        .users = 10,
        .spawn_rate = 2.5,
        .run_time_s = 10,
        .start_unix = START_UNIX,
        .end_unix = START_UNIX + 10,
        .peak_users = 30,
        .exit_code = 3,
        .workers = fx->workers,
        .n_workers = 2,
        .thresholds = fx->thresholds,
        .n_thresholds = 2,
        .corrected = NULL,
    };
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    DIR *d = opendir(fx->dir);
    if (d) {
        struct dirent *de;
        char path[512];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", fx->dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    stats_free(&fx->table);
    stats_free(&fx->corrected);
    history_free(&fx->history);
    free(fx);
    return 0;
}

/* ---- reading files back ------------------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

#define MAX_LINES 64
typedef struct lines {
    char *text;
    char *line[MAX_LINES];
    int n;
} lines_t;

/* The file split into lines; every line must end with "\r\n" (Python csv's terminator). */
static void read_csv(lines_t *l, const char *prefix, const char *suffix)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s", prefix, suffix);
    memset(l, 0, sizeof *l);
    l->text = slurp(path);
    char *p = l->text;
    while (*p) {
        char *eol = strstr(p, "\r\n");
        assert_non_null(eol);
        *eol = '\0';
        assert_null(strchr(p, '\n'));
        assert_true(l->n < MAX_LINES);
        l->line[l->n++] = p;
        p = eol + 2;
    }
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void test_stats_csv(void **state)
{
    fixture_t *fx = *state;
    char err[256] = "";
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &fx->history, &fx->run, false, err,
                                      sizeof err),
                     0);
    assert_int_equal(count_tmp_files(fx->dir), 0);

    lines_t l;
    read_csv(&l, fx->prefix, "_stats.csv");
    assert_int_equal(l.n, 1 + 5 + 1);
    assert_string_equal(l.line[0], STATS_HEADER);
    /* sorted by name, then method; quoting as Python's csv; times in ms: ints for median and
     * percentiles, Python floats for average/min/max; rates over the 10 s run */
    assert_string_equal(l.line[1], "GET,\"/a,b\",1,0,2,2.0,2.0,2.0,10.0,0.1,0.0,"
                                   "2,2,2,2,2,2,2,2,2,2,2");
    assert_string_equal(l.line[2], "GET,/empty,0,0,0,0.0,0,0,0,0.0,0.0,"
                                   "N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A");
    assert_string_equal(l.line[3], "GET,/items,4,1,20,25.0,10.0,40.0,100.0,0.4,0.1,"
                                   "20,30,30,40,40,40,40,40,40,40,40");
    assert_string_equal(l.line[4], "POST,/login,2,0,5,6.0,5.0,7.0,100.0,0.2,0.0,"
                                   "5,7,7,7,7,7,7,7,7,7,7");
    assert_string_equal(l.line[5], "GET," SCRIPT_NAME ",1,1,1,1.0,1.0,1.0,0.0,0.1,0.1,"
                                   "1,1,1,1,1,1,1,1,1,1,1");
    /* Aggregated: Type empty, counts equal the table's */
    char expect[64];
    snprintf(expect, sizeof expect, ",Aggregated,%llu,%llu,",
             (unsigned long long)stats_total_requests(&fx->table),
             (unsigned long long)stats_total_failures(&fx->table));
    assert_true(strncmp(l.line[6], expect, strlen(expect)) == 0);
    assert_string_equal(l.line[6], ",Aggregated,8,2,7,14.375,1.0,40.0,76.25,0.8,0.2,"
                                   "7,20,20,30,40,40,40,40,40,40,40");
    free(l.text);

    read_csv(&l, fx->prefix, "_failures.csv");
    assert_int_equal(l.n, 3);
    assert_string_equal(l.line[0], FAILURES_HEADER);
    assert_string_equal(l.line[1], "GET,/items,HTTP 500,1");
    assert_string_equal(l.line[2], "GET," SCRIPT_NAME ",\"said \"\"no\"\", twice\",1");
    free(l.text);

    read_csv(&l, fx->prefix, "_exceptions.csv");
    assert_int_equal(l.n, 1);
    assert_string_equal(l.line[0], EXCEPTIONS_HEADER);
    free(l.text);
}

static void test_history_csv_aggregated_only(void **state)
{
    fixture_t *fx = *state;
    char err[256] = "";
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &fx->history, &fx->run, false, err,
                                      sizeof err),
                     0);
    lines_t l;
    read_csv(&l, fx->prefix, "_stats_history.csv");
    assert_string_equal(l.line[0], HISTORY_HEADER);
    assert_int_equal(l.n, 1 + 3);   /* one Aggregated row per snapshot */
    assert_string_equal(l.line[1], "1700000001,10,,Aggregated,12.500000,1.250000,"
                                   "100,101,102,103,104,105,106,107,108,109,110,"
                                   "8,2,20,25.5,10.0,40.25,100.0");
    /* the window had no p95: N/A in that column only */
    assert_string_equal(l.line[2], "1700000002,20,,Aggregated,25.000000,2.500000,"
                                   "100,101,102,103,104,N/A,106,107,108,109,110,"
                                   "8,2,20,25.5,10.0,40.25,100.0");
    assert_true(strncmp(l.line[3], "1700000003,30,,Aggregated,37.500000,", 36) == 0);
    free(l.text);
}

static void test_history_csv_full(void **state)
{
    fixture_t *fx = *state;
    char err[256] = "";
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &fx->history, &fx->run, true, err,
                                      sizeof err),
                     0);
    lines_t l;
    read_csv(&l, fx->prefix, "_stats_history.csv");
    assert_string_equal(l.line[0], HISTORY_HEADER);
    assert_int_equal(l.n, 1 + 3 * (2 + 1));   /* snapshots x (entries + Aggregated) */
    /* per snapshot: entries sorted by name, then Aggregated last (Locust's order) */
    for (int s = 0; s < 3; s++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%lld,%d,GET,/items,", (long long)T0 + 1 + s, 10 * (s + 1));
        assert_true(strncmp(l.line[1 + 3 * s], prefix, strlen(prefix)) == 0);
        snprintf(prefix, sizeof prefix, "%lld,%d,POST,/login,", (long long)T0 + 1 + s, 10 * (s + 1));
        assert_true(strncmp(l.line[2 + 3 * s], prefix, strlen(prefix)) == 0);
        snprintf(prefix, sizeof prefix, "%lld,%d,,Aggregated,", (long long)T0 + 1 + s, 10 * (s + 1));
        assert_true(strncmp(l.line[3 + 3 * s], prefix, strlen(prefix)) == 0);
    }
    assert_string_equal(l.line[1], "1700000001,10,GET,/items,4.000000,0.400000,"
                                   "300,301,302,303,304,305,306,307,308,309,310,"
                                   "4,1,20,25.5,10.0,40.25,100.0");
    /* an entry without requests yet: every percentile N/A, totals as Locust's zeros */
    assert_string_equal(l.line[8], "1700000003,30,POST,/login,2.000000,0.200000,"
                                   "N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
                                   "0,0,0,0.0,0,0,0");
    free(l.text);
}

static void test_csv_empty_history(void **state)
{
    fixture_t *fx = *state;
    history_t empty;
    history_init(&empty);
    char err[256] = "";
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &empty, &fx->run, true, err,
                                      sizeof err),
                     0);
    lines_t l;
    read_csv(&l, fx->prefix, "_stats_history.csv");
    assert_int_equal(l.n, 1);
    assert_string_equal(l.line[0], HISTORY_HEADER);
    free(l.text);
    history_free(&empty);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_t *stats_entry_named(json_t *stats, const char *method, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(stats, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0 &&
            strcmp(json_string_value(json_object_get(e, "method")), method) == 0)
            return e;
    }
    fail_msg("no stats entry %s %s", method, name);
    return NULL;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void assert_near(double got, double want, double rel)
{
    if (fabs(got - want) > fabs(want) * rel + 1e-9)
        fail_msg("got %.6f, want %.6f", got, want);
}

static void test_json(void **state)
{
    fixture_t *fx = *state;
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/run.json", fx->dir);
    assert_int_equal(report_write_json(path, &fx->table, &fx->history, &fx->run, err, sizeof err),
                     0);
    assert_int_equal(count_tmp_files(fx->dir), 0);

    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("JSON does not parse: %s (line %d)", jerr.text, jerr.line);
    assert_string_equal(json_string_value(json_object_get(root, "herd_version")), HERD_VERSION);
    assert_string_equal(json_string_value(json_object_get(root, "scenario")),
                        "games & <friends>.yaml");
    assert_string_equal(json_string_value(json_object_get(root, "host")),
                        "http://127.0.0.1:8080");
    assert_int_equal(num(root, "users"), 10);
    assert_near(num(root, "spawn_rate"), 2.5, 0);
    assert_near(num(root, "run_time"), 10, 0);
    assert_string_equal(json_string_value(json_object_get(root, "start_time")),
                        "2023-11-14T22:13:20.000Z");
    assert_string_equal(json_string_value(json_object_get(root, "end_time")),
                        "2023-11-14T22:13:30.000Z");
    assert_near(num(root, "duration_s"), 10, 0);
    assert_int_equal(num(root, "peak_users"), 30);
    assert_int_equal(num(root, "exit_code"), 3);

    json_t *stats = json_object_get(root, "stats");
    assert_true(json_is_array(stats));
    assert_int_equal(json_array_size(stats), 5 + 1);
    json_t *agg = json_array_get(stats, 5);   /* Aggregated last */
    assert_string_equal(json_string_value(json_object_get(agg, "name")), "Aggregated");
    assert_string_equal(json_string_value(json_object_get(agg, "method")), "");
    assert_int_equal(num(agg, "num_requests"), stats_total_requests(&fx->table));
    assert_int_equal(num(agg, "num_failures"), stats_total_failures(&fx->table));
    assert_near(num(agg, "num_reqs_per_sec"), 0.8, 1e-12);

    json_t *items = stats_entry_named(stats, "GET", "/items");
    assert_int_equal(num(items, "num_requests"), 4);
    assert_int_equal(num(items, "num_failures"), 1);
    assert_near(num(items, "total_response_time"), 100, 1e-12);
    assert_near(num(items, "min_response_time"), 10, 1e-12);
    assert_near(num(items, "max_response_time"), 40, 1e-12);
    assert_near(num(items, "avg_response_time"), 25, 1e-12);
    assert_near(num(items, "median_response_time"), 20, 0.001);
    assert_int_equal(num(items, "total_content_length"), 400);
    assert_near(num(items, "num_reqs_per_sec"), 0.4, 1e-12);
    assert_near(num(items, "num_fail_per_sec"), 0.1, 1e-12);
    json_t *pct = json_object_get(items, "percentiles");
    assert_int_equal(json_object_size(pct), REPORT_N_PCT);
    assert_near(num(pct, "50"), 20, 0.001);
    assert_near(num(pct, "66"), 30, 0.001);
    assert_near(num(pct, "99.99"), 40, 0.001);
    assert_near(num(pct, "100"), 40, 0);
    assert_null(json_object_get(items, "corrected"));   /* the run had none */

    json_t *empty = stats_entry_named(stats, "GET", "/empty");
    assert_int_equal(num(empty, "num_requests"), 0);
    assert_true(json_is_null(json_object_get(json_object_get(empty, "percentiles"), "50")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(stats, 4), "name")),
                        SCRIPT_NAME);   /* sorted: '<' after '/' */

    json_t *failures = json_object_get(root, "failures");
    assert_int_equal(json_array_size(failures), 2);
    json_t *f0 = json_array_get(failures, 0);
    assert_string_equal(json_string_value(json_object_get(f0, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(f0, "name")), "/items");
    assert_string_equal(json_string_value(json_object_get(f0, "error")), "HTTP 500");
    assert_int_equal(num(f0, "occurrences"), 1);

    json_t *workers = json_object_get(root, "workers");
    assert_int_equal(json_array_size(workers), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(workers, 1), "id")), "w2");
    assert_int_equal(num(json_array_get(workers, 0), "num_requests"), 5);

    json_t *th = json_object_get(root, "thresholds");
    assert_int_equal(json_array_size(th), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(th, 0), "threshold")),
                        "p95<300ms");
    assert_true(json_is_true(json_object_get(json_array_get(th, 0), "passed")));
    assert_true(json_is_false(json_object_get(json_array_get(th, 1), "passed")));

    json_t *hist = json_object_get(root, "history");
    assert_int_equal(json_array_size(hist), 3);
    assert_near(num(json_array_get(hist, 2), "current_rps"), 37.5, 0);
    assert_int_equal(num(json_array_get(hist, 2), "user_count"), 30);
    assert_true(json_is_null(json_object_get(json_array_get(hist, 1),
                                             "response_time_percentile_95")));
    json_decref(root);
}

static void test_json_corrected(void **state)
{
    fixture_t *fx = *state;
    fx->run.corrected = &fx->corrected;
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/run.json", fx->dir);
    assert_int_equal(report_write_json(path, &fx->table, &fx->history, &fx->run, err, sizeof err),
                     0);
    json_t *root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    json_t *stats = json_object_get(root, "stats");
    json_t *items = stats_entry_named(stats, "GET", "/items");
    json_t *corr = json_object_get(items, "corrected");
    assert_non_null(corr);
    assert_int_equal(num(corr, "num_requests"), 2);
    assert_near(num(json_object_get(corr, "percentiles"), "100"), 900, 0);
    /* the uncorrected figure stays beside it */
    assert_near(num(json_object_get(items, "percentiles"), "100"), 40, 0);
    json_t *agg = json_array_get(stats, json_array_size(stats) - 1);
    assert_near(num(json_object_get(agg, "corrected"), "max_response_time"), 900, 0);
    assert_null(json_object_get(stats_entry_named(stats, "POST", "/login"), "corrected"));
    json_decref(root);
}

/* ---- HTML --------------------------------------------------------------------------------- */

/* The document inlined in an HTML report (what the page renders), parsed. No '<' may appear
 * in it: every one is written \u003c, so no string closes the script element. */
static json_t *html_document(const char *html)
{
    static const char open_tag[] = "<script id=\"herd-data\" type=\"application/json\">";
    const char *start = strstr(html, open_tag);
    assert_non_null(start);
    assert_null(strstr(start + 1, open_tag));   /* one document */
    start += strlen(open_tag);
    const char *end = strstr(start, "</script>");
    assert_non_null(end);
    assert_null(memchr(start, '<', (size_t)(end - start)));
    json_error_t jerr;
    json_t *doc = json_loadb(start, (size_t)(end - start), 0, &jerr);
    if (!doc)
        fail_msg("the report's document does not parse: %s", jerr.text);
    return doc;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_html(void **state)
{
    fixture_t *fx = *state;
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/report.html", fx->dir);
    assert_int_equal(report_write_html(path, &fx->table, &fx->history, &fx->run, err, sizeof err),
                     0);
    assert_int_equal(count_tmp_files(fx->dir), 0);
    char *html = slurp(path);

    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(html, "</html>"));
    /* the page's three files inlined: Chart.js, the document, app.js, and nothing else */
    int scripts = 0;
    for (const char *p = html; (p = strstr(p, "<script")) != NULL; p++)
        scripts++;
    assert_int_equal(scripts, 3);
    assert_non_null(strstr(html, "<style>"));
    assert_non_null(strstr(html, "Chart.js v3"));
    assert_non_null(strstr(html, "herdCharts"));
    /* self-contained: nothing named to fetch */
    assert_null(strstr(html, "src=\""));
    assert_null(strstr(html, "<link rel=\"stylesheet\""));
    assert_null(strstr(html, "href=\"http"));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, "url("));
    /* the scenario's strings are data, never markup */
    assert_null(strstr(html, SCRIPT_NAME));
    assert_null(strstr(html, "<friends>"));

    json_t *doc = html_document(html);
    assert_string_equal(str(doc, "mode"), "report");
    assert_string_equal(str(doc, "state"), "stopped");
    assert_string_equal(str(doc, "scenario"), "games & <friends>.yaml");
    assert_string_equal(str(doc, "host"), "http://127.0.0.1:8080");
    assert_int_equal(num(doc, "user_count"), 30);   /* the last second's users */
    assert_null(json_object_get(doc, "stats_start_time"));   /* no --reset-stats */
    /* the same figures as the --json report */
    json_t *stats = json_object_get(doc, "stats");
    json_t *agg = json_array_get(stats, json_array_size(stats) - 1);
    assert_string_equal(str(agg, "name"), "Aggregated");
    assert_int_equal(num(agg, "num_requests"), 8);
    assert_int_equal(num(agg, "num_failures"), 2);
    json_t *items = stats_entry_named(stats, "GET", "/items");
    assert_int_equal(num(items, "num_requests"), 4);
    assert_int_equal(num(items, "num_failures"), 1);
    assert_non_null(stats_entry_named(stats, "GET", SCRIPT_NAME));
    json_t *fl = json_object_get(doc, "failures");
    assert_int_equal(json_array_size(fl), 2);
    json_t *th = json_object_get(doc, "thresholds");
    assert_string_equal(str(json_array_get(th, 0), "threshold"), "p95<300ms");
    assert_true(json_is_true(json_object_get(json_array_get(th, 0), "passed")));
    assert_true(json_is_false(json_object_get(json_array_get(th, 1), "passed")));
    assert_string_equal(str(json_array_get(json_object_get(doc, "workers"), 1), "hostname"),
                        "host-b");
    /* the charts' data: the Aggregated history, and each row's */
    json_t *hist = json_object_get(doc, "history");
    assert_int_equal(json_array_size(hist), 3);
    assert_int_equal(num(json_array_get(hist, 0), "time"), T0 + 1);
    assert_near(num(json_array_get(hist, 2), "current_rps"), 37.5, 1e-9);
    json_t *rows = json_object_get(doc, "row_history");
    assert_true(json_is_object(rows));
    assert_int_equal(json_object_size(rows), fx->table.n_entries);
    json_t *items_hist = json_object_get(rows, "GET /items");
    assert_int_equal(json_array_size(items_hist), 3);
    assert_near(num(json_array_get(items_hist, 1), "current_rps"), 4, 1e-9);
    assert_int_equal(json_array_size(json_object_get(rows, "POST /login")), 3);
    assert_int_equal(json_array_size(json_object_get(rows, "GET " SCRIPT_NAME)), 0);
    json_decref(doc);
    free(html);
}

/* report_html_to writes the same page to a stream (what /stats/report serves). */
static void test_html_to_stream(void **state)
{
    fixture_t *fx = *state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(report_html_to(f, &fx->table, &fx->history, &fx->run), 0);
    assert_int_equal(fclose(f), 0);
    json_t *doc = html_document(buf);
    assert_int_equal(json_array_size(json_object_get(doc, "stats")), fx->table.n_entries + 1);
    json_decref(doc);
    free(buf);
}

/* --reset-stats: every rate over the run divides by the time since the cut, not the whole
 * run; the run's own start, end and duration stay what they were. */
static void test_rates_count_from_the_reset(void **state)
{
    fixture_t *fx = *state;
    fx->run.stats_start_unix = START_UNIX + 2;   /* 8 of the 10 s */
    char path[256], err[256] = "";
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &fx->history, &fx->run, false, err,
                                      sizeof err),
                     0);
    lines_t l;
    read_csv(&l, fx->prefix, "_stats.csv");
    /* 8 requests, 2 failures in 8 s */
    assert_true(strncmp(l.line[6], ",Aggregated,8,2,7,14.375,1.0,40.0,76.25,1.0,0.25,",
                        strlen(",Aggregated,8,2,7,14.375,1.0,40.0,76.25,1.0,0.25,")) == 0);
    free(l.text);

    snprintf(path, sizeof path, "%s/run.json", fx->dir);
    assert_int_equal(report_write_json(path, &fx->table, &fx->history, &fx->run, err, sizeof err),
                     0);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    assert_near(num(root, "duration_s"), 10, 0);
    json_t *agg = json_array_get(json_object_get(root, "stats"), 5);
    assert_near(num(agg, "num_reqs_per_sec"), 1.0, 1e-12);
    assert_near(num(agg, "num_fail_per_sec"), 0.25, 1e-12);
    json_decref(root);

    snprintf(path, sizeof path, "%s/report.html", fx->dir);
    assert_int_equal(report_write_html(path, &fx->table, &fx->history, &fx->run, err, sizeof err),
                     0);
    char *html = slurp(path);
    json_t *doc = html_document(html);
    assert_string_equal(str(doc, "stats_start_time"), "2023-11-14T22:13:22.000Z");
    assert_near(num(doc, "duration_s"), 10, 0);
    agg = json_array_get(json_object_get(doc, "stats"), 5);
    assert_near(num(agg, "num_reqs_per_sec"), 1.0, 1e-12);
    assert_near(num(agg, "num_fail_per_sec"), 0.25, 1e-12);
    json_decref(doc);
    free(html);
}

static void test_html_corrected_and_no_history(void **state)
{
    fixture_t *fx = *state;
    fx->run.corrected = &fx->corrected;
    history_t empty;
    history_init(&empty);
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/report.html", fx->dir);
    assert_int_equal(report_write_html(path, &fx->table, &empty, &fx->run, err, sizeof err), 0);
    char *html = slurp(path);
    json_t *doc = html_document(html);
    json_t *stats = json_object_get(doc, "stats");
    json_t *corr = json_object_get(stats_entry_named(stats, "GET", "/items"), "corrected");
    assert_near(num(json_object_get(corr, "percentiles"), "100"), 900, 0);
    assert_int_equal(json_array_size(json_object_get(doc, "history")), 0);
    assert_null(json_object_get(doc, "row_history"));   /* no seconds: no row charts */
    assert_int_equal(num(doc, "user_count"), 0);
    json_decref(doc);
    free(html);
    history_free(&empty);
}

/* ---- errors, history, formatting ---------------------------------------------------------- */

static void test_unwritable_path(void **state)
{
    fixture_t *fx = *state;
    char err[256] = "";
    assert_int_equal(report_write_csv("/nonexistent-herd-dir/x", &fx->table, &fx->history,
                                      &fx->run, false, err, sizeof err),
                     -1);
    assert_string_equal(err, "--csv: cannot write '/nonexistent-herd-dir/x_stats.csv': "
                             "No such file or directory");
    assert_int_equal(report_write_json("/nonexistent-herd-dir/x.json", &fx->table, &fx->history,
                                       &fx->run, err, sizeof err),
                     -1);
    assert_string_equal(err, "--json: cannot write '/nonexistent-herd-dir/x.json': "
                             "No such file or directory");
    assert_int_equal(report_write_html("/nonexistent-herd-dir/x.html", &fx->table, &fx->history,
                                       &fx->run, err, sizeof err),
                     -1);
    assert_string_equal(err, "--html: cannot write '/nonexistent-herd-dir/x.html': "
                             "No such file or directory");
    /* a directory in the file's place: rename fails, no temporary left behind */
    char path[256];
    snprintf(path, sizeof path, "%s/adir", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(report_write_json(path, &fx->table, &fx->history, &fx->run, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--json: cannot write '"));
    assert_non_null(strstr(err, "Is a directory"));
    assert_int_equal(count_tmp_files(fx->dir), 0);
    rmdir(path);
}

static void test_rewrite_replaces(void **state)
{
    fixture_t *fx = *state;
    char err[256] = "";
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &fx->history, &fx->run, true, err,
                                      sizeof err),
                     0);
    record(&fx->table, "GET", "/items", 10000, 100, NULL);
    assert_int_equal(report_write_csv(fx->prefix, &fx->table, &fx->history, &fx->run, false, err,
                                      sizeof err),
                     0);
    lines_t l;
    read_csv(&l, fx->prefix, "_stats.csv");
    assert_int_equal(l.n, 7);
    assert_true(strncmp(l.line[6], ",Aggregated,9,2,", 16) == 0);
    free(l.text);
    read_csv(&l, fx->prefix, "_stats_history.csv");
    assert_int_equal(l.n, 4);   /* the file is replaced, not appended to */
    free(l.text);
    char path[256];
    snprintf(path, sizeof path, "%s_stats.csv.tmp", fx->prefix);
    assert_false(file_exists(path));
}

static void test_history_container(void **state)
{
    (void)state;
    history_t h;
    history_init(&h);
    for (int i = 0; i < 200; i++) {
        history_snapshot_t *s = history_add(&h, 1000 + i, (uint32_t)i, (size_t)(i % 3));
        assert_non_null(s);
        for (size_t k = 0; k < s->n_points; k++) {
            assert_int_equal(s->points[k].total_requests, 0);   /* zeroed */
            s->points[k].total_requests = (uint64_t)i;
        }
    }
    assert_int_equal(h.n, 200);
    assert_int_equal(h.snaps[150].unix_s, 1150);
    assert_int_equal(h.snaps[150].users, 150);
    assert_int_equal(h.snaps[150].n_points, 0);
    assert_int_equal(h.snaps[151].points[0].total_requests, 151);
    history_free(&h);
    assert_int_equal(h.n, 0);
    assert_null(h.snaps);
}

/* ---- the history's per-second columns (master/outputs.h) ---------------------------------- */

static void count_into(stats_table_t *t, const char *name, unsigned n, unsigned failed,
                       int64_t second)
{
    long row = stats_row(t, "GET", name);
    assert_true(row >= 0);
    for (unsigned i = 0; i < n; i++)
        stats_record(t, (size_t)row, 1000, 10, i < failed, second);
}

/* A row stands for the requests that completed in its second, not a 10 s average; rows are
 * shown once their second is complete; per-name rows get their shares of the successes and
 * failures (a row that always fails: failures/s = requests/s); the row of the second the run
 * ended in covers from the start of the second before it. */
static void test_history_rows_from_the_timeline(void **state)
{
    (void)state;
    scenario_t sc;
    memset(&sc, 0, sizeof sc);
    outputs_t o;
    char err[256];
    assert_int_equal(outputs_init(&o, &sc, NULL, err, sizeof err), 0);
    stats_table_t total, current, timeline;
    stats_init(&total);
    stats_init(&current);
    stats_init(&timeline);
    count_into(&current, "/ok", 30, 0, 0);
    count_into(&current, "/bad", 10, 10, 0);
    count_into(&total, "/ok", 300, 0, 0);
    count_into(&total, "/bad", 100, 100, 0);
    assert_int_equal(stats_add_second(&timeline, 1000, 100, 20), 0);
    assert_int_equal(stats_add_second(&timeline, 1001, 50, 10), 0);
    assert_int_equal(stats_add_second(&timeline, 1002, 30, 3), 0);
    for (int64_t t = 1000; t <= 1002; t++)
        assert_int_equal(outputs_snapshot(&o, t, 4, &total, &current), 0);

    outputs_settle(&o, &timeline, 1000, 999.5, 0);   /* running: 1000 is complete */
    assert_int_equal(o.n_settled, 1);
    const history_point_t *p = o.history.snaps[0].points;
    assert_string_equal(p[0].name, "Aggregated");
    assert_near(p[0].rps, 100, 0);
    assert_near(p[0].fails_per_s, 20, 0);
    assert_string_equal(p[2].name, "/bad");
    assert_near(p[2].rps, 20, 1e-12);
    assert_near(p[2].fails_per_s, 20, 1e-12);
    assert_string_equal(p[1].name, "/ok");
    assert_near(p[1].rps, 80, 1e-12);
    assert_near(p[1].fails_per_s, 0, 0);

    outputs_settle(&o, &timeline, INT64_MAX, 999.5, 1002.5);   /* over at 1002.5 */
    assert_int_equal(o.n_settled, 3);
    assert_near(o.history.snaps[1].points[0].rps, 50, 0);
    /* 1002 is the stop's second: 50 + 30 requests from 1001 to 1002.5 */
    assert_near(o.history.snaps[2].points[0].rps, 80 / 1.5, 1e-12);
    assert_near(o.history.snaps[2].points[0].fails_per_s, 13 / 1.5, 1e-12);

    /* Shares before any current figures: from the totals. */
    stats_clear(&current);
    assert_int_equal(outputs_snapshot(&o, 1003, 4, &total, &current), 0);
    assert_int_equal(stats_add_second(&timeline, 1003, 40, 10), 0);
    outputs_settle(&o, &timeline, INT64_MAX, 999.5, 1004.0);
    p = o.history.snaps[3].points;
    assert_near(p[0].rps, 40, 0);
    assert_near(p[2].rps, 10, 1e-12);   /* /bad: all its requests fail */
    assert_near(p[1].rps, 30, 1e-12);
    assert_true(p[0].cur_pct_ms[0] < 0);   /* no current response times: N/A */

    stats_free(&total);
    stats_free(&current);
    stats_free(&timeline);
    outputs_free(&o);
}

static void test_pyfloat(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *repr;   /* Python 3: repr(v) */
    } cases[] = {
        { 0.0, "0.0" },          { 25.0, "25.0" },
        { 0.1, "0.1" },          { 14.375, "14.375" },
        { 1.0 / 3, "0.3333333333333333" },
        { 2.0 / 3, "0.6666666666666666" },
        { 123456.789, "123456.789" },
        { 0.0001, "0.0001" },    { 0.00001, "1e-05" },
        { 1.5e-7, "1.5e-07" },   { 1e15, "1000000000000000.0" },
        { 1e16, "1e+16" },       { 1.25e20, "1.25e+20" },
        { -2.5, "-2.5" },        { 40.25, "40.25" },
        { 0.8, "0.8" },          { 1e300, "1e+300" },
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        report_format_pyfloat(buf, sizeof buf, cases[i].v);
        assert_string_equal(buf, cases[i].repr);
    }
}

/* The figures the console prints: clamped into [min, max], 100 % exact. */
static void test_entry_percentiles(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    record(&t, "GET", "/one", 123457, 0, NULL);   /* a single value: every percentile is it */
    uint64_t pct[REPORT_N_PCT];
    report_entry_percentiles_us(&t.entries[0], pct);
    for (size_t i = 0; i < REPORT_N_PCT; i++)
        assert_int_equal(pct[i], 123457);
    assert_int_equal(stats_entry_percentile_us(&t.entries[0], 50), 123457);
    /* 1..1000 ms uniformly: each percentile within 0.1 % of the exact value */
    for (uint64_t ms = 1; ms <= 1000; ms++)
        record(&t, "GET", "/uniform", ms * 1000, 0, NULL);
    long row = stats_find(&t, "GET", "/uniform");
    report_entry_percentiles_us(&t.entries[row], pct);
    for (size_t i = 0; i < REPORT_N_PCT; i++) {
        double exact = ceil(stats_percentiles[i] / 100 * 1000 - 1e-9) * 1000;   /* rank, in ms */
        assert_near((double)pct[i], exact, 0.001);
    }
    assert_int_equal(pct[REPORT_N_PCT - 1], 1000000);
    stats_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stats_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_csv_aggregated_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_csv_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_empty_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_corrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_to_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_corrected_and_no_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rates_count_from_the_reset, setup, teardown),
        cmocka_unit_test(test_history_container),
        cmocka_unit_test(test_history_rows_from_the_timeline),
        cmocka_unit_test(test_pyfloat),
        cmocka_unit_test(test_entry_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
