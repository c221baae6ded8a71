/*
 * stats_wire — stats table <-> Report message, and the checks a received report passes
 * before it is added (contract: stats_wire.h).
 *
 * Both directions follow the table's invariants (stats.c): a report made here always passes
 * the checks made here, and a report that passes them keeps a table consistent (hist total ==
 * requests, failures <= requests, min and max in the first and last buckets, no empty failure
 * group). stats_merge_report decodes into a scratch table and adds that with stats_merge, so the
 * caller's table is never left half-merged.
 */
#include "stats_wire.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "vec.h"

/* Limits a report's strings must respect (the engine never produces longer ones). */
#define STATS_MAX_METHOD_LEN 32
#define STATS_MAX_NAME_LEN 2048
#define STATS_MAX_MESSAGE_LEN 8192
/* A request has at most 31 hops (30 redirects) and each hop is re-sent at most once
 * (worker/client.h), so an entry's re-sends are at most this many per request counted or
 * interrupted. */
#define STATS_MAX_RESENDS_PER_REQUEST 31

/* A row worth reporting: it counted something. */
static bool entry_counted(const stats_entry_t *e)
{
    return e->requests || e->resends || e->interrupted;
}

/* ---- table -> report ------------------------------------------------------------------- */

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

int stats_to_report(const stats_table_t *t, Herd__Report *r)
{
    size_t n_entries = 0, n_buckets = 0;
    for (size_t i = 0; i < t->n_entries; i++) {
        if (!entry_counted(&t->entries[i]))
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
        if (!entry_counted(e))
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
        m->min_us = e->requests ? e->min_us : 0;   /* UINT64_MAX while empty */
        m->max_us = e->max_us;
        m->bytes = e->bytes;
        m->resends = e->resends;
        m->interrupted = e->interrupted;
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

void stats_report_release(Herd__Report *r)
{
    free(r->entries);   /* the whole block, see stats_to_report */
    r->n_entries = r->n_seconds = r->n_failures = 0;
    r->entries = NULL;
    r->seconds = NULL;
    r->failures = NULL;
}

/* ---- checking a report ----------------------------------------------------------------- */

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
    if (m->interrupted > UINT64_MAX / STATS_MAX_RESENDS_PER_REQUEST - m->requests ||
        m->requests > UINT64_MAX / STATS_MAX_RESENDS_PER_REQUEST)
        return fail(err, errlen, "report entry '%s': implausible counts (%" PRIu64
                    " requests, %" PRIu64 " interrupted)", what, m->requests, m->interrupted);
    if (m->resends > STATS_MAX_RESENDS_PER_REQUEST * (m->requests + m->interrupted))
        return fail(err, errlen, "report entry '%s': %" PRIu64 " re-sends for %" PRIu64
                    " requests and %" PRIu64 " interrupted", what, m->resends, m->requests,
                    m->interrupted);
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

/* ---- the report's keys, indexed --------------------------------------------------------
 *
 * A report from the network may hold thousands of rows and failure groups: every lookup
 * between them goes through a hash index built once per report, so checking and adding a
 * report is linear in its size (a pair-by-pair comparison of 10 000 rows and 10 000 groups
 * was 10^8 string comparisons).
 */

/* Open addressing over element indices of one report array; keys are 2 or 3 strings. */
typedef struct key_index {
    uint32_t *slots;   /* element index + 1, 0 = empty; owned */
    size_t mask;       /* slot count - 1 (a power of two, at least twice the elements) */
} key_index_t;

static uint64_t key_hash(const char *const *key, int n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, strings separated by their NUL */
    for (int i = 0; i < n; i++)
        for (const unsigned char *p = (const unsigned char *)key[i];; p++) {
            h = (h ^ *p) * 1099511628211ull;
            if (!*p)
                break;
        }
    return h;
}

static bool key_equal(const char *const *a, const char *const *b, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static int key_index_init(key_index_t *x, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    x->slots = calloc(slots, sizeof *x->slots);
    x->mask = slots - 1;
    return x->slots ? 0 : -1;
}

/* The element of the index whose key (keys(ctx, element)) equals key: its index, or -1.
 * With add, a key not found is added as element `add_as` (and -1 returned). */
typedef void (*key_of_fn)(const void *ctx, size_t i, const char **key);

static long key_index_find(key_index_t *x, key_of_fn key_of, const void *ctx, int n,
                           const char *const *key, bool add, size_t add_as)
{
    const char *other[3];
    for (size_t s = key_hash(key, n) & x->mask;; s = (s + 1) & x->mask) {
        if (!x->slots[s]) {
            if (add)
                x->slots[s] = (uint32_t)add_as + 1;
            return -1;
        }
        key_of(ctx, x->slots[s] - 1, other);
        if (key_equal(key, other, n))
            return (long)x->slots[s] - 1;
    }
}

static void entry_key(const void *ctx, size_t i, const char **key)
{
    const Herd__StatEntry *m = ((const Herd__Report *)ctx)->entries[i];
    key[0] = m->method;
    key[1] = m->name;
}

static void failure_key(const void *ctx, size_t i, const char **key)
{
    const Herd__FailureCount *f = ((const Herd__Report *)ctx)->failures[i];
    key[0] = f->method;
    key[1] = f->name;
    key[2] = f->message;
}

/* Rows unique by (method, name), failure groups by (method, name, message), and the groups
 * of a row not more than that row's failures. Entries and groups have passed their own
 * checks. */
static int check_keys(const Herd__Report *r, char *err, size_t errlen)
{
    key_index_t rows = {0}, groups = {0};
    uint64_t *grouped = calloc(r->n_entries ? r->n_entries : 1, sizeof *grouped);
    int rc = -1;
    if (!grouped || key_index_init(&rows, r->n_entries) < 0 ||
        key_index_init(&groups, r->n_failures) < 0) {
        fail(err, errlen, "out of memory while checking a report");
        goto out;
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        const char *key[2];
        entry_key(r, i, key);
        if (key_index_find(&rows, entry_key, r, 2, key, true, i) >= 0) {
            fail(err, errlen, "report entry %s %s appears twice", key[0], key[1]);
            goto out;
        }
    }
    for (size_t i = 0; i < r->n_failures; i++) {
        const Herd__FailureCount *f = r->failures[i];
        const char *key[3];
        failure_key(r, i, key);
        if (key_index_find(&groups, failure_key, r, 3, key, true, i) >= 0) {
            fail(err, errlen, "report failure group for %s %s appears twice", f->method,
                 f->name);
            goto out;
        }
        long row = key_index_find(&rows, entry_key, r, 2, key, false, 0);
        uint64_t counted = 0, sum = f->count; /* each count <= 2^64/n: no overflow */
        if (row >= 0) {
            counted = r->entries[row]->failures;
            sum = grouped[row] += f->count;
        }
        if (sum > counted) {
            fail(err, errlen, "report failures for %s %s: %" PRIu64 " messages but %" PRIu64
                 " failed requests", f->method, f->name, sum, counted);
            goto out;
        }
    }
    rc = 0;
out:
    free(grouped);
    free(rows.slots);
    free(groups.slots);
    return rc;
}

static int check_report(const Herd__Report *r, char *err, size_t errlen)
{
    if (r->n_entries && !r->entries)
        return fail(err, errlen, "report has %zu entries but no entry array", r->n_entries);
    if (r->n_seconds && !r->seconds)
        return fail(err, errlen, "report has %zu seconds but no second array", r->n_seconds);
    if (r->n_failures && !r->failures)
        return fail(err, errlen, "report has %zu failures but no failure array", r->n_failures);
    if (r->n_entries > STATS_REPORT_MAX_ROWS)
        return fail(err, errlen, "report has %zu entries; a worker has at most %d rows",
                    r->n_entries, STATS_REPORT_MAX_ROWS);
    if (r->n_failures > STATS_REPORT_MAX_FAILURE_GROUPS)
        return fail(err, errlen, "report has %zu failure groups; at most %d are accepted",
                    r->n_failures, STATS_REPORT_MAX_FAILURE_GROUPS);
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
        /* a table's timeline is sorted and unique: added in order, each second is O(1) */
        if (i > 0 && s->unix_second <= r->seconds[i - 1]->unix_second)
            return fail(err, errlen, "report seconds not in increasing order at %zu", i);
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
    return check_keys(r, err, errlen);
}

/* ---- report -> table ------------------------------------------------------------------- */

/* A new failure group at the end of t; unique likewise. -1 on allocation failure. */
static int new_failure_group(stats_table_t *t, const Herd__FailureCount *f)
{
    if (VEC_RESERVE(t->failures, t->cap_failures, t->n_failures + 1) < 0)
        return -1;
    stats_failure_t *g = &t->failures[t->n_failures];
    g->method = strdup(f->method);
    g->name = strdup(f->name);
    g->message = strdup(f->message);
    g->count = f->count;
    if (!g->method || !g->name || !g->message) {
        free(g->method);
        free(g->name);
        free(g->message);
        return -1;
    }
    t->n_failures++;
    return 0;
}

/* Build a table from a checked report (t empty). -1 on allocation failure. */
static int report_to_table(const Herd__Report *r, stats_table_t *t)
{
    for (size_t i = 0; i < r->n_entries; i++) {
        const Herd__StatEntry *m = r->entries[i];
        long row = stats_append_row(t, m->method, m->name);
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
        add.resends = m->resends;
        add.interrupted = m->interrupted;
        stats_entry_add_counts(e, &add);
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
        if (stats_add_second(t, s->unix_second, s->requests, s->failures) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_failures; i++)
        if (new_failure_group(t, r->failures[i]) < 0)
            return -1;
    return 0;
}

int stats_merge_report(stats_table_t *t, const Herd__Report *r, char *err, size_t errlen)
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
