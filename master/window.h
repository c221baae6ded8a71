/*
 * window — the "current" figures of a run, as Locust shows them live: requests/s and
 * failures/s per row over the last complete seconds, and current response times.
 *
 * Two sources, because a report says exactly *when* its requests completed only in total:
 *   - the run's timeline (stats_table_t.seconds, summed over every worker's reports) gives,
 *     per wall-clock second, how many requests and failures completed in it: exact, so the
 *     rates come from it (window_timeline_counts);
 *   - the window proper, one stats table per second of *arrival* at the master, holds the
 *     reports themselves: per row counts and histograms. A report is about one second of
 *     work, but its second of arrival is not its second of completion, so the slots are used
 *     only for what does not depend on time: current response times, and each row's share
 *     of the requests (window_apportion splits the timeline's exact counts by it).
 *
 * Owned by the master's loop thread.
 */
#ifndef HERD_WINDOW_H
#define HERD_WINDOW_H

#include <stdint.h>

#include "../common/stats.h"

#define WINDOW_SLOTS 16   /* seconds kept; current figures use at most the last 10 */

typedef struct window {
    stats_table_t slot[WINDOW_SLOTS];
    int64_t second[WINDOW_SLOTS];   /* unix second of arrival a slot holds; -1: empty */
} window_t;

void window_init(window_t *w);
void window_free(window_t *w);
void window_clear(window_t *w);
/* Add an applied report (as a table) to the slot of arrival second now_s. -1 on allocation
 * failure. */
int window_add(window_t *w, int64_t now_s, const stats_table_t *delta);
/* out = the sum of the slots for arrival seconds [from_s, to_s); out is cleared first. */
int window_sum(const window_t *w, int64_t from_s, int64_t to_s, stats_table_t *out);

/* Requests and failures a timeline holds for the seconds [from_s, to_s). */
void window_timeline_counts(const stats_table_t *timeline, int64_t from_s, int64_t to_s,
                            uint64_t *requests, uint64_t *failures);

/* out (cleared first) = a row for each row of `shares` with requests, with its part of the
 * successes (requests - failures) and of the failures in proportion to its own in `shares`
 * (largest remainders: the rows sum to exactly requests and failures; when no row of
 * `shares` has any successes, or failures, those go by requests). Counts only: out's rows
 * have no response times, so read nothing but requests and failures from it. -1 on
 * allocation failure. */
int window_apportion(const stats_table_t *shares, uint64_t requests, uint64_t failures,
                     stats_table_t *out);

#endif
