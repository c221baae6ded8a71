/*
 * results — what a run leaves for people and scripts, read from the run (master/run.h):
 * while it runs, the live table and, each second, a history row and the CSV files; at the
 * end, the exit code (a failed run, failed requests, failed thresholds), the last history
 * row, the final files, the per-worker totals in the log and the summary on stdout.
 *
 * It exists so that master.c is only the socket and the loop, and so that the exit code
 * and the end of a run can be reached without a socket.
 *
 * What must stay true: owned and called by the master's loop thread; it reads the run and
 * never changes what the run decided (run_current's scratch table aside).
 */
#ifndef HERD_RESULTS_H
#define HERD_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/scenario.h"
#include "../common/stats.h"
#include "options.h"
#include "outputs.h"
#include "run.h"

typedef struct results {
    const master_options_t *o;   /* the caller's; outlives the results */
    outputs_t out;               /* history, thresholds and their verdicts, report files */
    stats_table_t corrected;     /* stats_corrected_view of the run's statistics, at the end */
    bool has_corrected;          /* the run had users on a schedule */
    int exit_code;               /* once results_exit_code decided it (the reports show it) */
} results_t;

/* Where TLS verification is off, as a phrase ("--insecure", "tls: {insecure: true} in
 * class Web"), into why; false when it is on everywhere. For the warnings at the start of a
 * run and in its summary. */
bool results_tls_insecure(const master_options_t *o, const scenario_t *sc, char *why,
                          size_t whylen);

/* -1 with err on a bad --threshold (usage: exit code 2) or out of memory. */
int results_init(results_t *res, const master_options_t *o, const scenario_t *sc, char *err,
                 size_t errlen);
void results_free(results_t *res);
/* Before a new test (the web UI's): the last test's history and verdicts go. */
void results_new_test(results_t *res);

/* The facts the report files show beside the statistics (the test's parameters, times,
 * workers). workers: r->reg.n slots, filled; the strings point into r. */
report_run_t results_facts(const results_t *res, const run_t *r, report_worker_t *workers,
                           double now);

/* Each second of the run (a run_io_t each_second): the history row, the CSV files. */
void results_second(results_t *res, run_t *r, int64_t unix_second, double now);
/* The live table on stdout: totals, and the current rates of the last complete seconds;
 * nothing until a second is complete. */
void results_live_table(run_t *r, double now);

/* Once the run is done: 1 when it failed (r->err says why), else 3 when a threshold failed
 * (each failure logged), else --exit-code-on-error when a request failed, else 1 when no
 * request completed at all (logged: nothing measured is not a pass), else 0. */
int results_exit_code(results_t *res, const run_t *r);
/* Once the exit code is decided: the last history row, the final files, per-worker totals
 * (log) and the summary with the thresholds (stdout). Nothing when the run never started.
 * Returns the exit code: results_exit_code's, or 1 instead of 0 when a final file could not
 * be written (logged). */
int results_finish(results_t *res, run_t *r, double now);

#endif
