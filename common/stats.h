/*
 * stats — request statistics as Locust keeps them: one entry per (method, name) plus the
 * failures grouped by (method, name, message) and a per-second timeline of requests and
 * failures. The same table type serves the engine (counting), the worker (pending report
 * deltas) and the master (the run's merged totals).
 *
 * Hot path: an engine pre-creates its rows (stats_row) when it loads the scenario and then
 * calls stats_record(t, row, ...) with the row index: no hashing, no lock, no allocation
 * (except a histogram chunk the first time an octave is hit, and timeline growth, both kept
 * across stats_reset).
 *
 * On the wire a table travels as a Report message: stats_wire.h converts and checks; this
 * header knows nothing of protobuf.
 *
 * Ownership: the table owns every string and histogram in it. Thread: one thread at a time.
 */
#ifndef HERD_STATS_H
#define HERD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

typedef struct stats_entry {
    char *method;          /* "GET", ...; owned */
    char *name;            /* row name as Locust shows it; owned */
    uint64_t requests;     /* completed requests, failed ones included */
    uint64_t failures;
    uint64_t sum_us;       /* sum of response times */
    uint64_t min_us;       /* UINT64_MAX while requests == 0 */
    uint64_t max_us;
    uint64_t bytes;        /* response body bytes */
    hist_t hist;           /* response times */
    /* Requests of users on a schedule (pacing/throughput waits), timed from when the
     * schedule wanted them sent: coordinated omission corrected, as wrk2. */
    uint64_t co_requests;
    uint64_t co_sum_us;
    uint64_t co_max_us;
    hist_t co_hist;
    /* Not in requests: */
    uint64_t resends;      /* requests sent again on a new connection after their reused
                              connection died unanswered (worker/client.h); each is counted
                              with its request, so a server closing connections shows */
    uint64_t interrupted;  /* requests in flight when their user was stopped: aborted,
                              never answered as far as herd knows */
} stats_entry_t;

typedef struct stats_failure {
    char *method, *name, *message;  /* owned */
    uint64_t count;
} stats_failure_t;

typedef struct stats_second {
    int64_t unix_second;   /* wall-clock second in which the requests completed */
    uint64_t requests;
    uint64_t failures;
} stats_second_t;

typedef struct stats_table {
    stats_entry_t *entries;   /* rows in order of creation; owned */
    size_t n_entries, cap_entries;
    stats_failure_t *failures;  /* owned */
    size_t n_failures, cap_failures;
    stats_second_t *seconds;  /* sorted by unix_second; owned */
    size_t n_seconds, cap_seconds;
} stats_table_t;

void stats_init(stats_table_t *t);
void stats_free(stats_table_t *t);
/* Zero every count, keep rows (and their memory) so the table is reused without allocating.
 * Failure groups are dropped (their strings freed); the timeline keeps its capacity. */
void stats_reset(stats_table_t *t);
/* Drop everything, rows included (keeps allocated arrays). */
void stats_clear(stats_table_t *t);

/* Index of the (method, name) row, created if absent. -1 on allocation failure. */
long stats_row(stats_table_t *t, const char *method, const char *name);
/* A new row at the end of t, without looking for an existing one: for callers that know
 * (method, name) is not in t yet (a checked report's unique rows). -1 on allocation failure. */
long stats_append_row(stats_table_t *t, const char *method, const char *name);
/* Index of the row or -1 if absent (no creation). */
long stats_find(const stats_table_t *t, const char *method, const char *name);

/* Count one completed request on row `row`. now_s: wall-clock unix second (for the timeline). */
void stats_record(stats_table_t *t, size_t row, uint64_t response_us, uint64_t bytes,
                  bool failed, int64_t now_s);
/* Count `n` re-sends of a request on row `row` (counted, or interrupted, on its own). */
void stats_record_resends(stats_table_t *t, size_t row, uint64_t n);
/* Count one request on row `row` aborted in flight because its user stopped. */
void stats_record_interrupted(stats_table_t *t, size_t row);
/* Count the corrected response time of a request already counted with stats_record. */
void stats_record_corrected(stats_table_t *t, size_t row, uint64_t corrected_us);
/* True when any entry has corrected response times. */
bool stats_has_corrected(const stats_table_t *t);
/* out (cleared first) = the corrected response times of t as ordinary entries: a row per
 * entry with corrected times, requests = co_requests, times from co_hist. For printing and
 * reports. -1 on allocation failure. */
int stats_corrected_view(const stats_table_t *t, stats_table_t *out);
/* Count one failure message for row `row` (call in addition to stats_record(failed=true)). */
int stats_add_failure(stats_table_t *t, size_t row, const char *message);

/* dst += src, rows matched by (method, name), failures by (method, name, message), seconds by
 * second. Exact. Returns 0, or -1 on allocation failure (dst unchanged) or dst == src. */
int stats_merge(stats_table_t *dst, const stats_table_t *src);

/* The "Aggregated" entry: all rows summed (method "", name "Aggregated"). out must be
 * stats_entry_init'ed; it is overwritten. */
void stats_entry_init(stats_entry_t *e);
void stats_entry_free(stats_entry_t *e);
int stats_aggregate(const stats_table_t *t, stats_entry_t *out);

/* ---- adding counts measured elsewhere (stats_wire.c, decoding a worker's report) ----------
 * The numbers arrive already counted, so the table's invariants rest on the caller: it has
 * checked failures <= requests and min <= max, and it adds to an entry's histograms exactly
 * the values the entry's counts describe (hist_add_at), so hist total == requests. */

/* dst's counts += src's: requests, failures, sums, min/max, bytes, the corrected counts,
 * re-sends and interrupted requests. Histograms, method and name are not touched. A src
 * without requests adds only its re-sends and interrupted requests. */
void stats_entry_add_counts(stats_entry_t *dst, const stats_entry_t *src);
/* The timeline's unix_second += (requests, failures), the second inserted in order if new.
 * -1 on allocation failure (table unchanged). */
int stats_add_second(stats_table_t *t, int64_t unix_second, uint64_t requests,
                     uint64_t failures);
/* The first position in t->seconds (sorted) whose second is s or later; n_seconds when
 * none is. */
size_t stats_second_index(const stats_table_t *t, int64_t s);
/* The failure group (method, name, message) += count, created if absent; count 0 adds
 * nothing (no group is ever empty). -1 on allocation failure (table unchanged). */
int stats_add_failures(stats_table_t *t, const char *method, const char *name,
                       const char *message, uint64_t count);

uint64_t stats_total_requests(const stats_table_t *t);
uint64_t stats_total_failures(const stats_table_t *t);
uint64_t stats_total_resends(const stats_table_t *t);
uint64_t stats_total_interrupted(const stats_table_t *t);
/* Nothing counted: no request, failure group, re-send or interrupted request. */
bool stats_is_empty(const stats_table_t *t);

/* ---- reading (common/stats_view.c): what every output shows ----------------------------- */

/* Locust's PERCENTILES_TO_REPORT: 50 66 75 80 90 95 98 99 99.9 99.99 100 */
#define STATS_N_PERCENTILES 11
extern const double stats_percentiles[STATS_N_PERCENTILES];

/* The entries in Locust's row order (by name, then method). The array is the caller's to
 * free; the entries stay the table's. NULL if memory ran out. */
const stats_entry_t **stats_sorted_entries(const stats_table_t *t);
/* Response times at percentiles ps[0..n) (0-100) as shown everywhere: the histogram's value
 * clamped into the entry's exact [min, max]; 100 is the exact max; all 0 without requests. */
void stats_entry_percentiles_us(const stats_entry_t *e, const double *ps, size_t n,
                                uint64_t *out_us);
uint64_t stats_entry_percentile_us(const stats_entry_t *e, double p);

#endif
