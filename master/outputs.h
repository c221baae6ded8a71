/*
 * outputs — what the master derives from its merged statistics for people and scripts: the
 * per-second history (current rates and percentiles from the window, totals from the run),
 * the thresholds and their verdicts, and the report files (master/report.h).
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

/* One history row per second: users, current figures from `current` (covering current_s
 * seconds), totals from `total`. */
int outputs_snapshot(outputs_t *o, int64_t now_s, uint32_t users, const stats_table_t *total,
                     const stats_table_t *current, double current_s);

/* Check every threshold against the final Aggregated figures; returns how many failed. */
size_t outputs_check_thresholds(outputs_t *o, const stats_table_t *final, double duration_s);
/* The "Thresholds" block of the summary (nothing when there are none). */
void outputs_print_thresholds(const outputs_t *o, FILE *out);

/* Before the run: every file the options name (--csv's four files, --json, --html,
 * --logfile) can be written (report_check_path), and stdout carries at most one report.
 * -1 with one line naming the option otherwise. */
int outputs_check_paths(const master_options_t *opt, char *err, size_t errlen);

/* Write every file the options ask for (CSV only unless `final_write`). -1 with err; the caller
 * logs it and goes on. */
int outputs_write(const outputs_t *o, const master_options_t *opt, const stats_table_t *final,
                  const report_run_t *run, bool final_write, char *err, size_t errlen);

#endif
