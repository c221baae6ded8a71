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
    *requests = *failures = 0;
    for (size_t i = 0; i < timeline->n_seconds; i++) {
        const stats_second_t *s = &timeline->seconds[i];
        if (s->unix_second >= from_s && s->unix_second < to_s) {
            *requests += s->requests;
            *failures += s->failures;
        }
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

/* Split total over the shares' rows in proportion to their weights (largest remainders), into
 * out's requests, or failures. */
static void split(share_t *sh, size_t n, uint64_t total, stats_table_t *out, bool failures)
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
        uint64_t *dst = failures ? &out->entries[sh[i].row].failures
                                 : &out->entries[sh[i].row].requests;
        *dst = whole;
        given += whole;
    }
    qsort(sh, n, sizeof *sh, by_remainder);
    for (size_t i = 0; given < total; i = (i + 1) % n, given++) {
        uint64_t *dst = failures ? &out->entries[sh[i].row].failures
                                 : &out->entries[sh[i].row].requests;
        (*dst)++;
    }
}

int window_apportion(const stats_table_t *shares, uint64_t requests, uint64_t failures,
                     stats_table_t *out)
{
    stats_clear(out);
    share_t *sh = calloc(shares->n_entries ? shares->n_entries : 1, sizeof *sh);
    if (!sh)
        return -1;
    size_t n = 0;
    uint64_t share_failures = 0;
    for (size_t i = 0; i < shares->n_entries; i++) {
        const stats_entry_t *e = &shares->entries[i];
        if (!e->requests)
            continue;
        long row = stats_row(out, e->method, e->name);
        if (row < 0) {
            free(sh);
            return -1;
        }
        sh[n++] = (share_t){ .row = (size_t)row, .weight = e->requests };
        share_failures += e->failures;
    }
    split(sh, n, requests, out, false);
    for (size_t i = 0; i < n; i++) {
        const stats_entry_t *o = &out->entries[sh[i].row];
        const stats_entry_t *e = &shares->entries[stats_find(shares, o->method, o->name)];
        sh[i].weight = share_failures ? e->failures : e->requests;
        sh[i].remainder = 0;
    }
    split(sh, n, failures, out, true);
    free(sh);
    return 0;
}
