/*
 * window — the last seconds of a run, one stats table per second, for the "current" figures
 * Locust shows: req/s and failures/s per row, and current response time percentiles (from the
 * per-second histograms). Each report the master applies is also added to the slot of the
 * second it arrived in (reports are one-second deltas, so arrival second ≈ counting second).
 *
 * Owned by the master's loop thread.
 */
#ifndef HERD_WINDOW_H
#define HERD_WINDOW_H

#include <stdint.h>

#include "../common/stats.h"
#include "herd.pb-c.h"

#define WINDOW_SLOTS 16   /* seconds kept; the console uses the last 10 complete ones */

typedef struct window {
    stats_table_t slot[WINDOW_SLOTS];
    int64_t second[WINDOW_SLOTS];   /* unix second a slot holds; -1: empty */
} window_t;

void window_init(window_t *w);
void window_free(window_t *w);
void window_clear(window_t *w);
/* Add an (already validated) report to the slot of now_s. -1 with err on a bad report. */
int window_add_report(window_t *w, int64_t now_s, const Herd__Report *r, char *err,
                      size_t errlen);
/* out = the sum of the slots for seconds [from_s, to_s); out is cleared first. */
int window_sum(const window_t *w, int64_t from_s, int64_t to_s, stats_table_t *out);

#endif
