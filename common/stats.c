/*
 * stats — Locust-style request statistics (see stats.h for the contract).
 *
 * Invariants kept by every function here:
 *   - entry.hist holds exactly entry.requests values (hist total == requests), and when
 *     requests > 0, min_us and max_us fall in the first and last non-empty buckets;
 *   - failures <= requests for every entry and every second;
 *   - seconds[] is sorted by unix_second with no duplicates;
 *   - no failure group has count 0 (groups are dropped on reset).
 * stats_merge is all-or-nothing, so a table is never left half-merged.
 * The adders for counts measured elsewhere (stats_add_second, stats_add_failures,
 * stats_entry_add_counts) keep the first two invariants only with their caller's help, as
 * stats.h says; stats_wire.c checks a report before it uses them.
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "vec.h"

static void entry_zero_counts(stats_entry_t *e)
{
    e->requests = e->failures = e->sum_us = e->max_us = e->bytes = 0;
    e->min_us = UINT64_MAX;
    hist_reset(&e->hist);
    e->co_requests = e->co_sum_us = e->co_max_us = 0;
    hist_reset(&e->co_hist);
    e->resends = e->interrupted = 0;
}

void stats_entry_init(stats_entry_t *e)
{
    memset(e, 0, sizeof *e);
    e->min_us = UINT64_MAX;
    hist_init(&e->hist);
    hist_init(&e->co_hist);
}

void stats_entry_free(stats_entry_t *e)
{
    free(e->method);
    free(e->name);
    hist_free(&e->hist);
    hist_free(&e->co_hist);
    stats_entry_init(e);
}

static void failure_free(stats_failure_t *f)
{
    free(f->method);
    free(f->name);
    free(f->message);
}

void stats_init(stats_table_t *t)
{
    memset(t, 0, sizeof *t);
}

static void drop_entries_from(stats_table_t *t, size_t from)
{
    for (size_t i = from; i < t->n_entries; i++)
        stats_entry_free(&t->entries[i]);
    t->n_entries = from;
}

static void drop_failures_from(stats_table_t *t, size_t from)
{
    for (size_t i = from; i < t->n_failures; i++)
        failure_free(&t->failures[i]);
    t->n_failures = from;
}

void stats_free(stats_table_t *t)
{
    drop_entries_from(t, 0);
    drop_failures_from(t, 0);
    free(t->entries);
    free(t->failures);
    free(t->seconds);
    stats_init(t);
}

void stats_reset(stats_table_t *t)
{
    for (size_t i = 0; i < t->n_entries; i++)
        entry_zero_counts(&t->entries[i]);
    drop_failures_from(t, 0);
    t->n_seconds = 0;
}

void stats_clear(stats_table_t *t)
{
    drop_entries_from(t, 0);
    drop_failures_from(t, 0);
    t->n_seconds = 0;
}

long stats_find(const stats_table_t *t, const char *method, const char *name)
{
    for (size_t i = 0; i < t->n_entries; i++) {
        const stats_entry_t *e = &t->entries[i];
        if (strcmp(e->name, name) == 0 && strcmp(e->method, method) == 0)
            return (long)i;
    }
    return -1;
}

long stats_row(stats_table_t *t, const char *method, const char *name)
{
    long found = stats_find(t, method, name);
    return found >= 0 ? found : stats_append_row(t, method, name);
}

long stats_append_row(stats_table_t *t, const char *method, const char *name)
{
    if (VEC_RESERVE(t->entries, t->cap_entries, t->n_entries + 1) < 0)
        return -1;
    stats_entry_t *e = &t->entries[t->n_entries];
    stats_entry_init(e);
    e->method = strdup(method);
    e->name = strdup(name);
    if (!e->method || !e->name) {
        stats_entry_free(e);
        return -1;
    }
    return (long)t->n_entries++;
}

/* ---- timeline ---------------------------------------------------------------------------- */

size_t stats_second_index(const stats_table_t *t, int64_t s)
{
    size_t lo = 0, hi = t->n_seconds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->seconds[mid].unix_second < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Out of the hot path: stats_record handles the common "same second as the last one" case
 * inline. Inserts in order with a binary search (a clock stepped back, a merged table). */
int stats_add_second(stats_table_t *t, int64_t s, uint64_t requests, uint64_t failures)
{
    size_t n = t->n_seconds;
    size_t pos = n;
    if (n > 0 && t->seconds[n - 1].unix_second >= s) {
        pos = stats_second_index(t, s);
        if (t->seconds[pos].unix_second == s) {
            t->seconds[pos].requests += requests;
            t->seconds[pos].failures += failures;
            return 0;
        }
    }
    if (VEC_RESERVE(t->seconds, t->cap_seconds, n + 1) < 0)
        return -1;
    memmove(&t->seconds[pos + 1], &t->seconds[pos], (n - pos) * sizeof *t->seconds);
    t->seconds[pos] = (stats_second_t){ .unix_second = s, .requests = requests, .failures = failures };
    t->n_seconds = n + 1;
    return 0;
}

/* ---- hot path ---------------------------------------------------------------------------- */

void stats_record(stats_table_t *t, size_t row, uint64_t response_us, uint64_t bytes,
                  bool failed, int64_t now_s)
{
    if (row >= t->n_entries)
        return;
    stats_entry_t *e = &t->entries[row];
    /* The histogram first: if its (one-time) chunk allocation fails, nothing is counted, so
     * the entry stays consistent (hist total == requests) rather than half-counted. */
    if (hist_record(&e->hist, response_us) < 0)
        return;
    e->requests++;
    e->failures += failed;
    e->sum_us += response_us;
    if (response_us < e->min_us)
        e->min_us = response_us;
    if (response_us > e->max_us)
        e->max_us = response_us;
    e->bytes += bytes;

    size_t n = t->n_seconds;
    if (n > 0 && t->seconds[n - 1].unix_second == now_s) {
        t->seconds[n - 1].requests++;
        t->seconds[n - 1].failures += failed;
    } else {
        /* On OOM the second is missing from the timeline; the totals are not. */
        (void)stats_add_second(t, now_s, 1, failed);
    }
}

void stats_record_resends(stats_table_t *t, size_t row, uint64_t n)
{
    if (row < t->n_entries)
        t->entries[row].resends += n;
}

void stats_record_interrupted(stats_table_t *t, size_t row)
{
    if (row < t->n_entries)
        t->entries[row].interrupted++;
}

void stats_record_corrected(stats_table_t *t, size_t row, uint64_t corrected_us)
{
    stats_entry_t *e = &t->entries[row];
    if (hist_record(&e->co_hist, corrected_us) < 0)
        return;
    e->co_requests++;
    e->co_sum_us += corrected_us;
    if (corrected_us > e->co_max_us)
        e->co_max_us = corrected_us;
}

int stats_corrected_view(const stats_table_t *t, stats_table_t *out)
{
    stats_clear(out);
    for (size_t i = 0; i < t->n_entries; i++) {
        const stats_entry_t *e = &t->entries[i];
        if (!e->co_requests)
            continue;
        long r = stats_row(out, e->method, e->name);
        if (r < 0 || hist_merge(&out->entries[r].hist, &e->co_hist) < 0)
            return -1;
        stats_entry_t *o = &out->entries[r];
        o->requests = e->co_requests;
        o->sum_us = e->co_sum_us;
        o->max_us = e->co_max_us;
        o->min_us = hist_percentile(&e->co_hist, 0);   /* lowest bucket: no exact min kept */
        if (o->min_us > o->max_us)
            o->min_us = o->max_us;
    }
    return 0;
}

bool stats_has_corrected(const stats_table_t *t)
{
    for (size_t i = 0; i < t->n_entries; i++)
        if (t->entries[i].co_requests)
            return true;
    return false;
}

static long failure_find(const stats_table_t *t, const char *method, const char *name,
                         const char *message)
{
    for (size_t i = 0; i < t->n_failures; i++) {
        const stats_failure_t *f = &t->failures[i];
        if (strcmp(f->message, message) == 0 && strcmp(f->name, name) == 0 &&
            strcmp(f->method, method) == 0)
            return (long)i;
    }
    return -1;
}

/* Find or append the (method, name, message) group; a new group has count 0. */
static long failure_group(stats_table_t *t, const char *method, const char *name,
                          const char *message)
{
    long found = failure_find(t, method, name, message);
    if (found >= 0)
        return found;
    if (VEC_RESERVE(t->failures, t->cap_failures, t->n_failures + 1) < 0)
        return -1;
    stats_failure_t *f = &t->failures[t->n_failures];
    f->method = strdup(method);
    f->name = strdup(name);
    f->message = strdup(message);
    f->count = 0;
    if (!f->method || !f->name || !f->message) {
        failure_free(f);
        return -1;
    }
    return (long)t->n_failures++;
}

int stats_add_failure(stats_table_t *t, size_t row, const char *message)
{
    if (row >= t->n_entries)
        return -1;
    const stats_entry_t *e = &t->entries[row];
    return stats_add_failures(t, e->method, e->name, message ? message : "", 1);
}

int stats_add_failures(stats_table_t *t, const char *method, const char *name,
                       const char *message, uint64_t count)
{
    if (count == 0)
        return 0;   /* no group without failures */
    long g = failure_group(t, method, name, message);
    if (g < 0)
        return -1;
    t->failures[g].count += count;
    return 0;
}

/* ---- merge ------------------------------------------------------------------------------- */

void stats_entry_add_counts(stats_entry_t *dst, const stats_entry_t *src)
{
    dst->resends += src->resends;
    dst->interrupted += src->interrupted;
    if (src->requests == 0)
        return;
    dst->requests += src->requests;
    dst->failures += src->failures;
    dst->sum_us += src->sum_us;
    dst->bytes += src->bytes;
    if (src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
    dst->co_requests += src->co_requests;
    dst->co_sum_us += src->co_sum_us;
    if (src->co_max_us > dst->co_max_us)
        dst->co_max_us = src->co_max_us;
}

int stats_merge(stats_table_t *dst, const stats_table_t *src)
{
    if (dst == src)
        return -1;
    size_t old_entries = dst->n_entries, old_failures = dst->n_failures;

    /* Phase 1: everything that can fail (new rows, histogram chunks, new failure groups,
     * timeline room). Undone on failure; invisible otherwise (all counts still zero). */
    for (size_t i = 0; i < src->n_entries; i++) {
        const stats_entry_t *s = &src->entries[i];
        long r = stats_row(dst, s->method, s->name);
        if (r < 0 || hist_reserve_for(&dst->entries[r].hist, &s->hist) < 0 ||
            hist_reserve_for(&dst->entries[r].co_hist, &s->co_hist) < 0)
            goto undo;
    }
    for (size_t i = 0; i < src->n_failures; i++) {
        const stats_failure_t *f = &src->failures[i];
        if (failure_group(dst, f->method, f->name, f->message) < 0)
            goto undo;
    }
    if (VEC_RESERVE(dst->seconds, dst->cap_seconds, dst->n_seconds + src->n_seconds) < 0)
        goto undo;

    /* Phase 2: add; nothing here allocates. */
    for (size_t i = 0; i < src->n_entries; i++) {
        const stats_entry_t *s = &src->entries[i];
        stats_entry_t *d = &dst->entries[stats_find(dst, s->method, s->name)];
        stats_entry_add_counts(d, s);
        (void)hist_merge(&d->hist, &s->hist);   /* chunks reserved: cannot fail */
        (void)hist_merge(&d->co_hist, &s->co_hist);
    }
    for (size_t i = 0; i < src->n_failures; i++) {
        const stats_failure_t *f = &src->failures[i];
        dst->failures[failure_find(dst, f->method, f->name, f->message)].count += f->count;
    }
    for (size_t i = 0; i < src->n_seconds; i++) {
        const stats_second_t *s = &src->seconds[i];
        (void)stats_add_second(dst, s->unix_second, s->requests, s->failures);   /* room reserved */
    }
    return 0;

undo:
    drop_entries_from(dst, old_entries);
    drop_failures_from(dst, old_failures);
    return -1;
}

/* ---- totals ------------------------------------------------------------------------------ */

static int set_string(char **dst, const char *value)
{
    if (*dst && strcmp(*dst, value) == 0)
        return 0;
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

int stats_aggregate(const stats_table_t *t, stats_entry_t *out)
{
    if (set_string(&out->method, "") < 0 || set_string(&out->name, "Aggregated") < 0)
        return -1;
    entry_zero_counts(out);
    for (size_t i = 0; i < t->n_entries; i++) {
        const stats_entry_t *e = &t->entries[i];
        if (hist_merge(&out->hist, &e->hist) < 0 || hist_merge(&out->co_hist, &e->co_hist) < 0) {
            entry_zero_counts(out);
            return -1;
        }
        stats_entry_add_counts(out, e);
    }
    return 0;
}

uint64_t stats_total_requests(const stats_table_t *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n_entries; i++)
        n += t->entries[i].requests;
    return n;
}

uint64_t stats_total_failures(const stats_table_t *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n_entries; i++)
        n += t->entries[i].failures;
    return n;
}

uint64_t stats_total_resends(const stats_table_t *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n_entries; i++)
        n += t->entries[i].resends;
    return n;
}

uint64_t stats_total_interrupted(const stats_table_t *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n_entries; i++)
        n += t->entries[i].interrupted;
    return n;
}

bool stats_is_empty(const stats_table_t *t)
{
    return stats_total_requests(t) == 0 && t->n_failures == 0 &&
           stats_total_resends(t) == 0 && stats_total_interrupted(t) == 0;
}
