/*
 * report — the run's files: Locust-compatible CSV (--csv PREFIX: _stats.csv,
 * _stats_history.csv, _failures.csv, _exceptions.csv), the summary as JSON (--json FILE) and
 * a self-contained HTML report with charts (--html FILE).
 *
 * Pure writers: the master's loop owns the data (final stats, a per-second history it
 * snapshots, run facts) and calls these whenever it wants the files (every few seconds
 * during the run for CSV, once at the end for all). A regular file (or a new one) is
 * replaced atomically (write to FILE.tmp, rename), so a reader never sees half a file;
 * anything else is written through and never replaced: a symlink (its target gets the
 * data), a FIFO (no reader at that moment is an error, not a wait), a device, and "-",
 * /dev/stdout, /dev/stderr, /dev/fd/N (written to that descriptor).
 *
 * Times in the files are milliseconds, as Locust writes them.
 */
#ifndef HERD_REPORT_H
#define HERD_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/stats.h"

#define REPORT_N_PCT STATS_N_PERCENTILES   /* the percentiles are stats_percentiles */

/* One row of _stats_history.csv: one entry (or Aggregated) at one second. */
typedef struct history_point {
    const char *method;        /* "" for Aggregated; borrowed from the stats table */
    const char *name;          /* "Aggregated" for the total row */
    double rps;                /* requests completed in the snapshot's second (per second) */
    double fails_per_s;        /* failures likewise */
    double cur_pct_ms[REPORT_N_PCT]; /* current response time percentiles (the last 10 s of
                                        reports); <0: N/A */
    uint64_t total_requests;   /* since the run (or the last reset) began */
    uint64_t total_failures;
    double total_median_ms, total_avg_ms, total_min_ms, total_max_ms;
    double total_avg_content_bytes;
    /* This row's part of the Aggregated successes and failures in the current figures when
     * the snapshot was taken: how its rps and fails_per_s are filled (master/outputs.c). */
    double share_successes, share_failures;
} history_point_t;

typedef struct history_snapshot {
    int64_t unix_s;            /* wall-clock second of the snapshot */
    uint32_t users;            /* users running then, all workers */
    history_point_t *points;   /* points[0] is Aggregated; the rest per entry; owned */
    size_t n_points;
} history_snapshot_t;

typedef struct history {
    history_snapshot_t *snaps; /* one per second, in order; owned */
    size_t n, cap;
} history_t;

void history_init(history_t *h);
void history_free(history_t *h);
/* Append a snapshot with room for n_points points (zeroed); NULL on OOM. */
history_snapshot_t *history_add(history_t *h, int64_t unix_s, uint32_t users, size_t n_points);

typedef struct report_worker {
    const char *id, *hostname, *state;
    uint64_t requests, failures;
    uint32_t users;            /* users running on it, as it last reported */
    double cpu_percent;        /* its CPU use, as it last reported */
    uint64_t memory_bytes;     /* its resident memory; 0: unknown (null in JSON) */
} report_worker_t;

typedef struct report_threshold {
    const char *text;          /* as given: "p95<300ms" */
    bool passed;
    double observed;           /* the value it was checked against, in its unit */
    const char *unit;          /* "ms", "" (ratio), "req/s" */
} report_threshold_t;

typedef struct report_run {
    const char *scenario_file;
    const char *description;   /* NULL if none */
    const char *host;          /* -H or the file's; NULL if per class */
    long users;                /* -u */
    double spawn_rate;         /* -r */
    double run_time_s;         /* -t, 0 if none */
    double start_unix, end_unix; /* wall clock, fractional seconds */
    double stats_start_unix;   /* what the statistics count from: start_unix, or the
                                  --reset-stats cut; 0: start_unix */
    uint32_t peak_users;
    int exit_code;
    const report_worker_t *workers;
    size_t n_workers;
    const report_threshold_t *thresholds;
    size_t n_thresholds;
    /* Coordinated-omission-corrected response times (constant arrival rate runs), entries
     * matched by (method, name) with the final table; NULL when the run had none. */
    const stats_table_t *corrected;
} report_run_t;

/* The descriptor a report path names: 1 for "-" and /dev/stdout, 2 for /dev/stderr, N for
 * /dev/fd/N and /proc/self/fd/N; -1 for any other path. */
int report_path_fd(const char *path);
/* Whether a report file can be written at path (checked before the run; nothing is created):
 * 0, or -1 with "<option>: cannot write '<path>': <why>" (a missing or read-only directory, a
 * directory or socket at path, a closed descriptor, ...). */
int report_check_path(const char *option, const char *path, char *err, size_t errlen);

/* --csv PREFIX. full_history: per-entry rows in _stats_history.csv too (--csv-full-history). */
int report_write_csv(const char *prefix, const stats_table_t *final, const history_t *h,
                     const report_run_t *run, bool full_history, char *err, size_t errlen);
int report_write_json(const char *path, const stats_table_t *final, const history_t *h,
                      const report_run_t *run, char *err, size_t errlen);
int report_write_html(const char *path, const stats_table_t *final, const history_t *h,
                      const report_run_t *run, char *err, size_t errlen);
/* The HTML report (the web UI's page with the run's document inlined, report_html.c) to an
 * open stream: what --html writes and /stats/report serves. 0, or -1 when memory ran out or
 * a write failed (ferror(f) tells which). */
int report_html_to(FILE *f, const stats_table_t *final, const history_t *h,
                   const report_run_t *run);

/* The CSV files' text, written to an open stream (the web UI's downloads): _stats.csv,
 * _stats_history.csv (full_history: per-entry rows too), _failures.csv, _exceptions.csv.
 * -1 when memory ran out; write errors are the stream's (ferror). */
int report_csv_stats_to(FILE *f, const stats_table_t *final, const report_run_t *run);
int report_csv_history_to(FILE *f, const history_t *h, bool full_history);
void report_csv_failures_to(FILE *f, const stats_table_t *final);
void report_csv_exceptions_to(FILE *f);

/* The --json document (report_json.c) as a jansson object: what the page renders, live
 * (master/view.c adds the live parts) and in the HTML report. NULL when memory runs out. */
struct json_t;
struct json_t *report_json_document(const stats_table_t *final, const history_t *h,
                                    const report_run_t *run);
/* The history's rows from row `from` on, for one line of the table: Aggregated when method
 * is NULL, else the entry (method, name). Each {time, user_count, current_rps,
 * current_fail_per_sec, response_time_percentile_50/95/99 (ms, null when none),
 * total_requests, total_failures}, with Locust's field names. NULL when memory runs out. */
struct json_t *report_json_history(const history_t *h, const char *method, const char *name,
                                   size_t from);

/* ---- shared pieces (the console computes the same figures; see report.c) ---------------- */

/* Python's repr(float) (what Locust's csv and json writers print for a float): the shortest
 * text that reads back as v, "1.0" for integral values, exponent form outside [1e-4, 1e16). */
void report_format_pyfloat(char *buf, size_t len, double v);

/* Response-time percentiles (stats_percentiles) of e as the console shows them: histogram
 * values clamped into the row's exact [min, max], 100 % the exact max. All 0 when e has no
 * requests. */
void report_entry_percentiles_us(const stats_entry_t *e, uint64_t out_us[REPORT_N_PCT]);

#endif
