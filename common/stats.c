/*
 * stats — Locust-style request statistics (see stats.h for the contract).
 *
 * Invariants kept by every function here:
 *   - entry.hist holds exactly entry.requests values (hist total == requests), and when
 *     requests > 0, min_us and max_us fall in the first and last non-empty buckets;
 *   - failures <= requests for every entry and every second;
 *   - seconds[] is sorted by unix_second with no duplicates;
 *   - no failure group has count 0 (groups are dropped on reset).
 * stats_merge and stats_merge_report are all-or-nothing, so a table is never left half-merged.
 */
#include "stats.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "herd.pb-c.h"

/* Limits a report's strings must respect (the engine never produces longer ones). */
#define STATS_MAX_METHOD_LEN 32
#define STATS_MAX_NAME_LEN 2048
#define STATS_MAX_MESSAGE_LEN 8192

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static void entry_zero_counts(stats_entry_t *e)
{
    e->requests = e->failures = e->sum_us = e->max_us = e->bytes = 0;
    e->min_us = UINT64_MAX;
    hist_reset(&e->hist);
    e->co_requests = e->co_sum_us = e->co_max_us = 0;
    hist_reset(&e->co_hist);
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
    if (found >= 0)
        return found;
    if (grow((void **)&t->entries, &t->cap_entries, t->n_entries + 1, sizeof *t->entries) < 0)
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

/* Add counts to second `s`, inserting it in order. Out of the hot path (stats_record handles
 * the common "same second as the last one" case inline). -1 on allocation failure. */
static int timeline_add(stats_table_t *t, int64_t s, uint64_t requests, uint64_t failures)
{
    size_t n = t->n_seconds;
    size_t pos = n;
    if (n > 0 && t->seconds[n - 1].unix_second >= s) {
        size_t lo = 0, hi = n;   /* first position with unix_second >= s */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t->seconds[mid].unix_second < s)
                lo = mid + 1;
            else
                hi = mid;
        }
        pos = lo;
        if (t->seconds[pos].unix_second == s) {
            t->seconds[pos].requests += requests;
            t->seconds[pos].failures += failures;
            return 0;
        }
    }
    if (grow((void **)&t->seconds, &t->cap_seconds, n + 1, sizeof *t->seconds) < 0)
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
        (void)timeline_add(t, now_s, 1, failed);   /* OOM: the second is missing, totals are not */
    }
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
    if (grow((void **)&t->failures, &t->cap_failures, t->n_failures + 1, sizeof *t->failures) < 0)
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
    long g = failure_group(t, e->method, e->name, message ? message : "");
    if (g < 0)
        return -1;
    t->failures[g].count++;
    return 0;
}

/* ---- merge ------------------------------------------------------------------------------- */

static void entry_add(stats_entry_t *dst, const stats_entry_t *src)
{
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
    if (grow((void **)&dst->seconds, &dst->cap_seconds, dst->n_seconds + src->n_seconds,
             sizeof *dst->seconds) < 0)
        goto undo;

    /* Phase 2: add; nothing here allocates. */
    for (size_t i = 0; i < src->n_entries; i++) {
        const stats_entry_t *s = &src->entries[i];
        stats_entry_t *d = &dst->entries[stats_find(dst, s->method, s->name)];
        entry_add(d, s);
        (void)hist_merge(&d->hist, &s->hist);   /* chunks reserved: cannot fail */
        (void)hist_merge(&d->co_hist, &s->co_hist);
    }
    for (size_t i = 0; i < src->n_failures; i++) {
        const stats_failure_t *f = &src->failures[i];
        dst->failures[failure_find(dst, f->method, f->name, f->message)].count += f->count;
    }
    for (size_t i = 0; i < src->n_seconds; i++) {
        const stats_second_t *s = &src->seconds[i];
        (void)timeline_add(dst, s->unix_second, s->requests, s->failures);   /* room reserved */
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
        entry_add(out, e);
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

bool stats_is_empty(const stats_table_t *t)
{
    return stats_total_requests(t) == 0 && t->n_failures == 0;
}

/* ---- wire -------------------------------------------------------------------------------- */

/*
 * stats_to_report allocates one block and carves everything out of it; r->entries always
 * points at its start (even when n_entries == 0), which is how stats_report_release finds it.
 * Block layout: [entry ptrs][second ptrs][failure ptrs][StatEntry][Histogram][SecondCount]
 *               [FailureCount][uint64 counts][uint32 indices]
 */
static size_t align_up(size_t n)
{
    const size_t a = alignof(max_align_t);
    return (n + a - 1) / a * a;
}

typedef struct hist_out {
    Herd__Histogram *h;
} hist_out_t;

static void count_bucket(uint32_t index, uint64_t count, void *ctx)
{
    (void)index;
    (void)count;
    (*(size_t *)ctx)++;
}

static void put_bucket(uint32_t index, uint64_t count, void *ctx)
{
    Herd__Histogram *h = ((hist_out_t *)ctx)->h;
    h->index[h->n_index++] = index;
    h->count[h->n_count++] = count;
}

int stats_to_report(const stats_table_t *t, struct Herd__Report *r)
{
    size_t n_entries = 0, n_buckets = 0;
    for (size_t i = 0; i < t->n_entries; i++) {
        if (t->entries[i].requests == 0)
            continue;   /* nothing to say about an idle row */
        n_entries++;
        hist_foreach(&t->entries[i].hist, count_bucket, &n_buckets);
        hist_foreach(&t->entries[i].co_hist, count_bucket, &n_buckets);
    }
    size_t n_seconds = t->n_seconds, n_failures = t->n_failures;

    size_t off_ptrs_s = align_up(n_entries * sizeof(Herd__StatEntry *));
    size_t off_ptrs_f = off_ptrs_s + align_up(n_seconds * sizeof(Herd__SecondCount *));
    size_t off_entries = off_ptrs_f + align_up(n_failures * sizeof(Herd__FailureCount *));
    size_t off_hists = off_entries + align_up(n_entries * sizeof(Herd__StatEntry));
    size_t off_seconds = off_hists + align_up(2 * n_entries * sizeof(Herd__Histogram));
    size_t off_failures = off_seconds + align_up(n_seconds * sizeof(Herd__SecondCount));
    size_t off_counts = off_failures + align_up(n_failures * sizeof(Herd__FailureCount));
    size_t off_indices = off_counts + align_up(n_buckets * sizeof(uint64_t));
    size_t size = off_indices + align_up(n_buckets * sizeof(uint32_t));

    char *block = malloc(size ? size : 1);
    if (!block)
        return -1;
    Herd__StatEntry **entry_ptrs = (Herd__StatEntry **)block;
    Herd__SecondCount **second_ptrs = (Herd__SecondCount **)(block + off_ptrs_s);
    Herd__FailureCount **failure_ptrs = (Herd__FailureCount **)(block + off_ptrs_f);
    Herd__StatEntry *entries = (Herd__StatEntry *)(block + off_entries);
    Herd__Histogram *hists = (Herd__Histogram *)(block + off_hists);
    Herd__SecondCount *seconds = (Herd__SecondCount *)(block + off_seconds);
    Herd__FailureCount *failures = (Herd__FailureCount *)(block + off_failures);
    uint64_t *counts = (uint64_t *)(block + off_counts);
    uint32_t *indices = (uint32_t *)(block + off_indices);

    size_t k = 0;
    for (size_t i = 0; i < t->n_entries; i++) {
        const stats_entry_t *e = &t->entries[i];
        if (e->requests == 0)
            continue;
        Herd__StatEntry *m = &entries[k];
        Herd__Histogram *h = &hists[2 * k];
        herd__stat_entry__init(m);
        herd__histogram__init(h);
        m->method = e->method;   /* points into t: t outlives the packing */
        m->name = e->name;
        m->requests = e->requests;
        m->failures = e->failures;
        m->sum_us = e->sum_us;
        m->min_us = e->min_us;
        m->max_us = e->max_us;
        m->bytes = e->bytes;
        h->index = indices;
        h->count = counts;
        hist_foreach(&e->hist, put_bucket, &(hist_out_t){ h });
        indices += h->n_index;
        counts += h->n_count;
        m->hist = h;
        if (e->co_requests) {
            Herd__Histogram *ch = &hists[2 * k + 1];
            herd__histogram__init(ch);
            ch->index = indices;
            ch->count = counts;
            hist_foreach(&e->co_hist, put_bucket, &(hist_out_t){ ch });
            indices += ch->n_index;
            counts += ch->n_count;
            m->corrected_hist = ch;
            m->corrected_requests = e->co_requests;
            m->corrected_sum_us = e->co_sum_us;
            m->corrected_max_us = e->co_max_us;
        }
        entry_ptrs[k++] = m;
    }
    for (size_t i = 0; i < n_seconds; i++) {
        herd__second_count__init(&seconds[i]);
        seconds[i].unix_second = t->seconds[i].unix_second;
        seconds[i].requests = t->seconds[i].requests;
        seconds[i].failures = t->seconds[i].failures;
        second_ptrs[i] = &seconds[i];
    }
    for (size_t i = 0; i < n_failures; i++) {
        herd__failure_count__init(&failures[i]);
        failures[i].method = t->failures[i].method;
        failures[i].name = t->failures[i].name;
        failures[i].message = t->failures[i].message;
        failures[i].count = t->failures[i].count;
        failure_ptrs[i] = &failures[i];
    }
    r->n_entries = n_entries;
    r->entries = entry_ptrs;
    r->n_seconds = n_seconds;
    r->seconds = second_ptrs;
    r->n_failures = n_failures;
    r->failures = failure_ptrs;
    return 0;
}

void stats_report_release(struct Herd__Report *r)
{
    free(r->entries);   /* the whole block, see stats_to_report */
    r->n_entries = r->n_seconds = r->n_failures = 0;
    r->entries = NULL;
    r->seconds = NULL;
    r->failures = NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool string_ok(const char *s, size_t max_len)
{
    if (!s || !*s)
        return false;
    return strnlen(s, max_len + 1) <= max_len;
}

/* The coordinated-omission-corrected part of an entry: its own histogram, consistent. */
static int check_corrected(const Herd__StatEntry *m, const char *what, char *err, size_t errlen)
{
    const Herd__Histogram *h = m->corrected_hist;
    size_t n = h ? h->n_index : 0;
    if (h && h->n_index != h->n_count)
        return fail(err, errlen, "report entry '%s': corrected histogram has %zu indices but %zu "
                    "counts", what, h->n_index, h->n_count);
    if (m->corrected_requests > m->requests)
        return fail(err, errlen, "report entry '%s': %" PRIu64 " corrected times for %" PRIu64
                    " requests", what, m->corrected_requests, m->requests);
    if (m->corrected_requests == 0) {
        if (n || m->corrected_sum_us || m->corrected_max_us)
            return fail(err, errlen, "report entry '%s': corrected times without requests", what);
        return 0;
    }
    uint64_t total = 0;
    uint32_t limit = hist_index_count();
    for (size_t j = 0; j < n; j++) {
        if (h->index[j] >= limit || (j > 0 && h->index[j] <= h->index[j - 1]) ||
            h->count[j] == 0 || h->count[j] > m->corrected_requests - total)
            return fail(err, errlen, "report entry '%s': corrected histogram is malformed", what);
        total += h->count[j];
    }
    if (total != m->corrected_requests || h->index[n - 1] != hist_index_of(m->corrected_max_us))
        return fail(err, errlen, "report entry '%s': corrected histogram disagrees with its "
                    "count or maximum", what);
    return 0;
}

static int check_entry(const Herd__StatEntry *m, size_t i, char *err, size_t errlen)
{
    if (!m)
        return fail(err, errlen, "report entry %zu is missing", i);
    if (!string_ok(m->method, STATS_MAX_METHOD_LEN))
        return fail(err, errlen, "report entry %zu: method is empty or longer than %d bytes", i,
                    STATS_MAX_METHOD_LEN);
    if (!string_ok(m->name, STATS_MAX_NAME_LEN))
        return fail(err, errlen, "report entry %zu: name is empty or longer than %d bytes", i,
                    STATS_MAX_NAME_LEN);
    const char *what = m->name;
    if (m->failures > m->requests)
        return fail(err, errlen, "report entry '%s': %" PRIu64 " failures > %" PRIu64 " requests",
                    what, m->failures, m->requests);
    const Herd__Histogram *h = m->hist;
    size_t n_buckets = h ? h->n_index : 0;
    if (h && h->n_index != h->n_count)
        return fail(err, errlen, "report entry '%s': histogram has %zu indices but %zu counts",
                    what, h->n_index, h->n_count);
    if (m->requests == 0) {
        if (m->sum_us || m->bytes || n_buckets || m->corrected_requests ||
            (m->corrected_hist && m->corrected_hist->n_index))
            return fail(err, errlen, "report entry '%s': no requests but non-zero times or bytes",
                        what);
        return 0;
    }
    if (m->min_us > m->max_us)
        return fail(err, errlen, "report entry '%s': min %" PRIu64 " us > max %" PRIu64 " us",
                    what, m->min_us, m->max_us);
    uint64_t mean = m->sum_us / m->requests;
    if (mean < m->min_us || mean > m->max_us)
        return fail(err, errlen, "report entry '%s': mean %" PRIu64 " us outside [min, max]",
                    what, mean);
    uint64_t total = 0;
    uint32_t limit = hist_index_count();
    for (size_t j = 0; j < n_buckets; j++) {
        if (h->index[j] >= limit)
            return fail(err, errlen, "report entry '%s': histogram bucket index %" PRIu32
                        " out of range (< %" PRIu32 ")", what, h->index[j], limit);
        if (j > 0 && h->index[j] <= h->index[j - 1])
            return fail(err, errlen, "report entry '%s': histogram indices not increasing",
                        what);
        if (h->count[j] == 0 || h->count[j] > m->requests - total)
            return fail(err, errlen, "report entry '%s': histogram counts do not add up to %"
                        PRIu64 " requests", what, m->requests);
        total += h->count[j];
    }
    if (total != m->requests)
        return fail(err, errlen, "report entry '%s': histogram holds %" PRIu64
                    " values for %" PRIu64 " requests", what, total, m->requests);
    if (h->index[0] != hist_index_of(m->min_us) ||
        h->index[n_buckets - 1] != hist_index_of(m->max_us))
        return fail(err, errlen, "report entry '%s': min/max disagree with the histogram", what);
    return check_corrected(m, what, err, errlen);
}

/* Sum of the report's failure counts for (method, name) must not exceed that row's failures. */
static int check_failure_totals(const struct Herd__Report *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n_failures; i++) {
        const Herd__FailureCount *f = r->failures[i];
        bool first = true;   /* check each (method, name) once, at its first group */
        for (size_t j = 0; j < i && first; j++)
            if (strcmp(r->failures[j]->name, f->name) == 0 &&
                strcmp(r->failures[j]->method, f->method) == 0)
                first = false;
        if (!first)
            continue;
        uint64_t grouped = 0, counted = 0;
        for (size_t j = i; j < r->n_failures; j++)
            if (strcmp(r->failures[j]->name, f->name) == 0 &&
                strcmp(r->failures[j]->method, f->method) == 0)
                grouped += r->failures[j]->count;   /* each count <= 2^64/n: checked below */
        for (size_t j = 0; j < r->n_entries; j++)
            if (strcmp(r->entries[j]->name, f->name) == 0 &&
                strcmp(r->entries[j]->method, f->method) == 0)
                counted += r->entries[j]->failures;
        if (grouped > counted)
            return fail(err, errlen, "report failures for %s %s: %" PRIu64
                        " messages but %" PRIu64 " failed requests", f->method, f->name,
                        grouped, counted);
    }
    return 0;
}

static int check_report(const struct Herd__Report *r, char *err, size_t errlen)
{
    if (r->n_entries && !r->entries)
        return fail(err, errlen, "report has %zu entries but no entry array", r->n_entries);
    if (r->n_seconds && !r->seconds)
        return fail(err, errlen, "report has %zu seconds but no second array", r->n_seconds);
    if (r->n_failures && !r->failures)
        return fail(err, errlen, "report has %zu failures but no failure array", r->n_failures);
    for (size_t i = 0; i < r->n_entries; i++)
        if (check_entry(r->entries[i], i, err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < r->n_seconds; i++) {
        const Herd__SecondCount *s = r->seconds[i];
        if (!s)
            return fail(err, errlen, "report second %zu is missing", i);
        if (s->unix_second < 0)
            return fail(err, errlen, "report second %zu: negative time %" PRId64, i,
                        s->unix_second);
        if (s->failures > s->requests)
            return fail(err, errlen, "report second %" PRId64 ": %" PRIu64
                        " failures > %" PRIu64 " requests", s->unix_second, s->failures,
                        s->requests);
    }
    for (size_t i = 0; i < r->n_failures; i++) {
        const Herd__FailureCount *f = r->failures[i];
        if (!f)
            return fail(err, errlen, "report failure %zu is missing", i);
        if (!string_ok(f->method, STATS_MAX_METHOD_LEN) || !string_ok(f->name, STATS_MAX_NAME_LEN))
            return fail(err, errlen, "report failure %zu: method or name empty or too long", i);
        if (!string_ok(f->message, STATS_MAX_MESSAGE_LEN))
            return fail(err, errlen, "report failure %zu: message empty or longer than %d bytes",
                        i, STATS_MAX_MESSAGE_LEN);
        if (f->count == 0 || f->count > UINT64_MAX / (r->n_failures + 1))
            return fail(err, errlen, "report failure %zu: implausible count %" PRIu64, i,
                        f->count);
    }
    return check_failure_totals(r, err, errlen);
}

/* Build a table from a checked report. -1 on allocation failure. */
static int report_to_table(const struct Herd__Report *r, stats_table_t *t)
{
    for (size_t i = 0; i < r->n_entries; i++) {
        const Herd__StatEntry *m = r->entries[i];
        long row = stats_row(t, m->method, m->name);
        if (row < 0)
            return -1;
        stats_entry_t *e = &t->entries[row];
        stats_entry_t add;
        stats_entry_init(&add);
        add.requests = m->requests;
        add.failures = m->failures;
        add.sum_us = m->sum_us;
        add.min_us = m->min_us;
        add.max_us = m->max_us;
        add.bytes = m->bytes;
        add.co_requests = m->corrected_requests;
        add.co_sum_us = m->corrected_sum_us;
        add.co_max_us = m->corrected_max_us;
        entry_add(e, &add);
        for (size_t j = 0; m->hist && j < m->hist->n_index; j++)
            if (hist_add_at(&e->hist, m->hist->index[j], m->hist->count[j]) < 0)
                return -1;
        for (size_t j = 0; m->corrected_hist && j < m->corrected_hist->n_index; j++)
            if (hist_add_at(&e->co_hist, m->corrected_hist->index[j],
                            m->corrected_hist->count[j]) < 0)
                return -1;
    }
    for (size_t i = 0; i < r->n_seconds; i++) {
        const Herd__SecondCount *s = r->seconds[i];
        if (timeline_add(t, s->unix_second, s->requests, s->failures) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_failures; i++) {
        const Herd__FailureCount *f = r->failures[i];
        long g = failure_group(t, f->method, f->name, f->message);
        if (g < 0)
            return -1;
        t->failures[g].count += f->count;
    }
    return 0;
}

int stats_merge_report(stats_table_t *t, const struct Herd__Report *r, char *err, size_t errlen)
{
    if (!t || !r)
        return fail(err, errlen, "no report");
    if (check_report(r, err, errlen) < 0)
        return -1;
    stats_table_t delta;
    stats_init(&delta);
    int rc = report_to_table(r, &delta);
    if (rc == 0)
        rc = stats_merge(t, &delta);
    stats_free(&delta);
    if (rc < 0)
        return fail(err, errlen, "out of memory while merging a report");
    return 0;
}
