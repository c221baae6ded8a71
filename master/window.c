/*
 * window — the last seconds of a run for its current figures; see window.h.
 */
#include "window.h"

#include <stdlib.h>

void window_init(window_t *w)
{
    for (int i = 0; i < WINDOW_SLOTS; i++) {
        stats_init(&w->slot[i]);
        w->second[i] = -1;
    }
}

void window_free(window_t *w)
{
    for (int i = 0; i < WINDOW_SLOTS; i++)
        stats_free(&w->slot[i]);
}

void window_clear(window_t *w)
{
    for (int i = 0; i < WINDOW_SLOTS; i++) {
        stats_clear(&w->slot[i]);
        w->second[i] = -1;
    }
}

int window_add(window_t *w, int64_t now_s, const stats_table_t *delta)
{
    int i = (int)(((now_s % WINDOW_SLOTS) + WINDOW_SLOTS) % WINDOW_SLOTS);
    if (w->second[i] != now_s) {
        stats_clear(&w->slot[i]);   /* an older second's data: out of the window */
        w->second[i] = now_s;
    }
    return stats_merge(&w->slot[i], delta);
}

int window_sum(const window_t *w, int64_t from_s, int64_t to_s, stats_table_t *out)
{
    stats_clear(out);
    for (int i = 0; i < WINDOW_SLOTS; i++)
        if (w->second[i] >= from_s && w->second[i] < to_s &&
            stats_merge(out, &w->slot[i]) < 0)
            return -1;
    return 0;
}

void window_timeline_counts(const stats_table_t *timeline, int64_t from_s, int64_t to_s,
                            uint64_t *requests, uint64_t *failures)
{
    /* A run's timeline has a second for each second of the run, and the history reads it
     * once per row: find from_s by bisection, not by a scan. */
    size_t lo = stats_second_index(timeline, from_s);
    *requests = *failures = 0;
    for (size_t i = lo; i < timeline->n_seconds && timeline->seconds[i].unix_second < to_s; i++) {
        *requests += timeline->seconds[i].requests;
        *failures += timeline->seconds[i].failures;
    }
}

/* ---- apportioning ---------------------------------------------------------------------- */

typedef struct share {
    size_t row;            /* in out */
    uint64_t weight;
    long double remainder; /* of the exact quota, for the largest-remainder round */
} share_t;

static int by_remainder(const void *a, const void *b)
{
    const share_t *x = a, *y = b;
    if (x->remainder != y->remainder)
        return x->remainder < y->remainder ? 1 : -1;
    return x->row < y->row ? -1 : x->row > y->row;   /* ties: the first row first */
}

/* Split total over sh[0..n) in proportion to their weights (largest remainders): part[row]
 * += each one's part. Nothing when the weights are all 0. */
static void split(share_t *sh, size_t n, uint64_t total, uint64_t *part)
{
    uint64_t weights = 0;
    for (size_t i = 0; i < n; i++)
        weights += sh[i].weight;
    if (weights == 0 || total == 0)
        return;
    uint64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        /* long double: total * weight is exact below 2^64 */
        long double quota = (long double)total * (long double)sh[i].weight / (long double)weights;
        uint64_t whole = (uint64_t)quota;
        sh[i].remainder = quota - (long double)whole;
        part[sh[i].row] += whole;
        given += whole;
    }
    qsort(sh, n, sizeof *sh, by_remainder);
    for (size_t i = 0; given < total; i = (i + 1) % n, given++)
        part[sh[i].row]++;
}

/* Weights: each row's successes (failures: false) or failures (true) in `shares`, or its
 * requests when no row has any. */
static void weigh(share_t *sh, size_t n, const stats_table_t *shares, const stats_table_t *out,
                  bool failures)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const stats_entry_t *o = &out->entries[i];
        const stats_entry_t *e = &shares->entries[stats_find(shares, o->method, o->name)];
        sh[i] = (share_t){ .row = i,
                           .weight = failures ? e->failures : e->requests - e->failures };
        sum += sh[i].weight;
    }
    for (size_t i = 0; i < n && sum == 0; i++)
        sh[i].weight = shares->entries[stats_find(shares, out->entries[i].method,
                                                  out->entries[i].name)].requests;
}

int window_apportion(const stats_table_t *shares, uint64_t requests, uint64_t failures,
                     stats_table_t *out)
{
    stats_clear(out);
    for (size_t i = 0; i < shares->n_entries; i++) {
        const stats_entry_t *e = &shares->entries[i];
        if (e->requests && stats_row(out, e->method, e->name) < 0)
            return -1;
    }
    size_t n = out->n_entries;
    share_t *sh = calloc(n ? n : 1, sizeof *sh);
    uint64_t *succ = calloc(n ? n : 1, sizeof *succ);
    uint64_t *fail = calloc(n ? n : 1, sizeof *fail);
    if (!sh || !succ || !fail) {
        free(sh);
        free(succ);
        free(fail);
        return -1;
    }
    /* Successes and failures apart, so that a row that always fails shows as many failures
     * as requests, and one that never fails none. */
    weigh(sh, n, shares, out, false);
    split(sh, n, failures < requests ? requests - failures : 0, succ);
    weigh(sh, n, shares, out, true);
    split(sh, n, failures, fail);
    for (size_t i = 0; i < n; i++) {
        out->entries[i].requests = succ[i] + fail[i];
        out->entries[i].failures = fail[i];
    }
    free(sh);
    free(succ);
    free(fail);
    return 0;
}
