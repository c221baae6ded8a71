/*
 * outputs — what the master derives from its merged statistics for people and scripts: the
 * per-second history, the thresholds and their verdicts, and the report files
 * (master/report.h).
 *
 * A history row is taken each second of the run (users, totals, current response times),
 * but the requests that completed in its second are known only once every worker has
 * reported them: its Requests/s and Failures/s are filled from the run's timeline when its
 * second is complete (outputs_settle), and only then is the row written. Once the run is
 * over every row is filled again from the final timeline, so the final files are exact
 * whatever the reports' delays.
 *
 * Owned by the master's loop thread.
 */
#ifndef HERD_OUTPUTS_H
#define HERD_OUTPUTS_H

#include <stdbool.h>
#include <stdio.h>

#include "../common/runplan.h"
#include "../common/scenario.h"
#include "../common/stats.h"
#include "options.h"
#include "report.h"

typedef struct outputs {
    history_t history;
    size_t n_settled;          /* rows whose per-second columns are filled: the first
                                  n_settled of history, the ones written */
    char **names;              /* interned method and row names the history points use;
                                  owned, live as long as the history */
    size_t n_names, cap_names;
    threshold_t *thresholds;   /* the file's, then the command line's; owned */
    size_t n_thresholds;
    report_threshold_t *verdicts; /* after outputs_check_thresholds; owned */
} outputs_t;

/* Parse --threshold values (the file's are already parsed). -1 with err on a bad one. */
int outputs_init(outputs_t *o, const scenario_t *sc, const cli_list_t *cli_thresholds,
                 char *err, size_t errlen);
void outputs_free(outputs_t *o);
/* A new test (the web UI's): an empty history and no verdicts; the thresholds stay. */
void outputs_new_test(outputs_t *o);

/* One history row for second now_s: users, totals from `total`, current response times
 * from `current` (run_current's times), and each row's share of the successes and failures
 * from `current` (from `total` while `current` is empty). */
int outputs_snapshot(outputs_t *o, int64_t now_s, uint32_t users, const stats_table_t *total,
                     const stats_table_t *current);
/* Fill the per-second columns of the rows of seconds up to through_s from the run's timeline:
 * the row of second T gets the requests and failures that completed in [T, T+1), a
 * per-name point its shares of the successes and failures. start_wall: the run's start.
 * end_wall: 0 while running; once over, its end, and every row is filled again; a row whose
 * second the run ended in covers from the start of the second before it until the end. */
void outputs_settle(outputs_t *o, const stats_table_t *timeline, int64_t through_s,
                    double start_wall, double end_wall);

/* Check every threshold against the final Aggregated figures; returns how many failed. */
size_t outputs_check_thresholds(outputs_t *o, const stats_table_t *final, double duration_s);
/* The "Thresholds" block of the summary (nothing when there are none). */
void outputs_print_thresholds(const outputs_t *o, FILE *out);

/* Before the run: every file the options name (--csv's four files, --json, --html,
 * --logfile) can be written (report_check_path), and stdout carries at most one report.
 * -1 with one line naming the option otherwise. */
int outputs_check_paths(const master_options_t *opt, char *err, size_t errlen);

/* Write every file the options ask for (CSV only unless `final_write`), with the settled
 * history rows. -1 with err; the caller logs it and goes on. */
int outputs_write(const outputs_t *o, const master_options_t *opt, const stats_table_t *final,
                  const report_run_t *run, bool final_write, char *err, size_t errlen);

#endif
