/*
 * console — Locust 2.x console tables from a stats table: the request stats table (live every
 * 2 s and final), the "Response time percentiles (approximated)" table and the "Error report".
 *
 * The layout is Locust's, character for character, for a non-terminal (name column 80 wide), so
 * scripts that parse Locust's output parse ours, e.g. the total row
 *   "         Aggregated<spaces>  <requests>  <failures>(<pct>%) |  <avg> <min> <max> <med> | <req/s> <failures/s>"
 * Rows are sorted by (name, method) as Locust sorts them. Times are milliseconds rounded to the
 * nearest integer (Avg, Min, Max, Med and every percentile); percentiles come from the
 * histogram (<= 0.1 % off) and are clamped into the row's exact [min, max]; 100 % is the
 * exact max.
 *
 * Each function prints whole lines to `out` and ends with the blank line Locust prints after
 * each table. Nothing is kept between calls. Thread: whoever owns the table.
 */
#ifndef HERD_CONSOLE_H
#define HERD_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/stats.h"

#define CONSOLE_TYPE_WIDTH 8    /* Locust's STATS_TYPE_WIDTH */
#define CONSOLE_NAME_WIDTH 80   /* Locust's STATS_NAME_WIDTH when stdout is not a terminal */

/* The stats table: header, separator, one row per (method, name), separator, Aggregated.
 *
 * window != NULL (the live table): req/s and failures/s of each row are its requests and
 *   failures in `window` (the last seconds of the run, see master/window.h) over window_s,
 *   as Locust's current_rps; the Aggregated row sums the window.
 * window == NULL (the final summary): totals divided by duration_s, the run's length
 *   (0 or less: rates print as 0).
 * Returns 0, or -1 if memory ran out (nothing printed). */
int console_print_stats(FILE *out, const stats_table_t *t, const stats_table_t *window,
                        double window_s, double duration_s);

/* "Response time percentiles (approximated)" with Locust's percentiles 50 66 75 80 90 95 98 99
 * 99.9 99.99 100 and # reqs; rows without requests are left out (as Locust does).
 * Returns 0, or -1 if memory ran out (nothing printed). */
int console_print_percentiles(FILE *out, const stats_table_t *t);
/* The same table under another title (the coordinated-omission-corrected one). */
int console_print_percentiles_titled(FILE *out, const stats_table_t *t, const char *title);

/* After the tables, a line for each of these that is not zero (nothing otherwise):
 *   "Re-sent: N requests were sent again on a new connection ..." (re-sends, worker/client.h)
 *   "In flight: N requests were still in flight when their users stopped ..." (interrupted)
 * Both are outside the table's counts; the JSON has them per row. */
void console_print_notes(FILE *out, const stats_table_t *t);

/* "Error report": one line per failure group, "# occurrences" then "METHOD NAME: message", in
 * the order the groups first occurred. Prints nothing when there are no failures. */
void console_print_failures(FILE *out, const stats_table_t *t);

#endif
