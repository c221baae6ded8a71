/*
 * report_internal — helpers shared by the report writers (report_csv.c, report_json.c,
 * report_html.c), defined in report.c. Not part of the report contract: only these files
 * include it.
 */
#ifndef HERD_REPORT_INTERNAL_H
#define HERD_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/version.h"
#include "report.h"

/* "50%", "66%", ... "99.99%", "100%": Locust's get_readable_percentiles. */
extern const char *const report_percentile_labels[REPORT_N_PCT];

/* A file being written: for a regular file, data goes to "<path>.tmp", renamed onto path by
 * report_file_commit so a reader never sees half a file; anything else is written through
 * (report.h). */
typedef struct report_file {
    FILE *f;
    char *tmp_path;       /* owned; NULL when writing through */
    const char *path;     /* borrowed from the caller */
    const char *option;   /* "--csv", "--json", "--html": the start of error messages */
} report_file_t;

/* Open path.tmp (or path itself, or its descriptor) for writing. -1 with err "<option>:
 * cannot write '<path>': <reason>". */
int report_file_open(report_file_t *rf, const char *option, const char *path, char *err,
                     size_t errlen);
/* Flush, close and rename onto the path (written through: flush and close); on any error the
 * temporary file is removed and -1 returned with err filled. rf is released either way. */
int report_file_commit(report_file_t *rf, char *err, size_t errlen);
/* Close and remove the temporary file (after a failure of the writer itself). */
void report_file_abort(report_file_t *rf);

/* Milliseconds rounded to the nearest integer, as the console prints them. */
long long report_us_to_ms_rounded(uint64_t us);

/* UTC ISO 8601 with milliseconds: "2024-05-01T12:00:00.123Z". */
void report_format_iso8601(char *buf, size_t len, double unix_s);

/* The run's length in seconds (end - start), 0 when unknown or negative. */
double report_duration_s(const report_run_t *run);
/* How long the statistics counted (end - stats_start): what every rate over the run divides
 * by; 0 when unknown or negative. */
double report_stats_duration_s(const report_run_t *run);

#endif
